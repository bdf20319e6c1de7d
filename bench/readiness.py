"""The readiness report on a large deployment, beside its baseline in the same run.

The deployment: --versions training and evaluation dataset versions, each holding --members
subjects (membership rows) drawn from --subjects subjects who each gave consent to the versions'
purpose (one in --withdrawn withdrew it), one model version trained and evaluated on them and
deployed to every market; --requests closed erasure requests in the period. Measures, median of
--samples runs:
- the whole report (`readiness_report`), every section;
- its data section alone (the consent coverage of every membership row is most of the work);
- the baseline: one pass over the membership index and the consent states in SQL (the least
  any coverage figure costs: every row read once, no decision made).
Needs PostgreSQL (DATABASE_URL, SECRET_KEY, LUP_SUBJECT_PEPPER); run from the project root:

    python bench/readiness.py [--versions 100 --members 5000 --subjects 100000]
"""

import argparse
import hashlib
import random
import statistics
import time
import uuid
from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone

from _setup import migrate
from consent.models import ConsentEvent, ConsentState, Purpose, Subject, SubjectIdentifier
from erasure.models import ErasureRequest
from lineage.models import Dataset, DatasetVersion, Membership, Model, ModelData, ModelVersion
from reports.readiness import Period, readiness_report
from reports.readiness.data import data_section

NAMESPACE = "bench-readiness"
PURPOSE = "train_ai_system"


def key(n: int) -> str:
    return hashlib.sha256(f"bench-subject-{n}".encode()).hexdigest()


def copy_rows(table: str, columns: str, rows) -> None:
    with connection.cursor() as cursor, cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as c:
        for row in rows:
            c.write_row(row)


def seed(args: argparse.Namespace) -> None:
    rng = random.Random(7)
    now = timezone.now()
    purpose = Purpose.objects.get(key=PURPOSE)
    with transaction.atomic():
        subjects = [Subject(id=uuid.uuid4()) for _ in range(args.subjects)]
        Subject.objects.bulk_create(subjects, batch_size=5000)
        SubjectIdentifier.objects.bulk_create(
            [
                SubjectIdentifier(key=key(n), id_type="email", subject=s)
                for n, s in enumerate(subjects)
            ],
            batch_size=5000,
        )
        events = ConsentEvent.objects.bulk_create(
            [
                ConsentEvent(
                    subject=s,
                    purpose=purpose,
                    status="withdrawn" if n % args.withdrawn == 0 else "given",
                    legal_basis="consent",
                    jurisdiction=rng.choice(["KH", "VN", "TH"]),
                    method="import",
                    event_time=now - timedelta(days=1),
                )
                for n, s in enumerate(subjects)
            ],
            batch_size=5000,
        )
        ConsentState.objects.bulk_create(
            [
                ConsentState(
                    subject_id=e.subject_id,
                    purpose=purpose,
                    event=e,
                    status=e.status,
                    event_time=e.event_time,
                )
                for e in events
            ],
            batch_size=5000,
        )

        dataset = Dataset.objects.create(namespace=NAMESPACE, name="chats")
        versions = DatasetVersion.objects.bulk_create(
            [
                DatasetVersion(
                    dataset=dataset,
                    version=str(i),
                    purposes=[PURPOSE],
                    languages=["km"],
                    origin="bench",
                    membership_declared=True,
                )
                for i in range(args.versions)
            ]
        )
        copy_rows(
            "lineage_membership",
            "version_id, subject_key",
            (
                (version.pk, key(n))
                for version in versions
                for n in rng.sample(range(args.subjects), args.members)
            ),
        )
        model = ModelVersion.objects.create(
            model=Model.objects.create(namespace=NAMESPACE, name="assistant"),
            version="1",
            markets=["KH", "VN", "TH"],
        )
        ModelData.objects.bulk_create(
            [
                ModelData(
                    model_version=model, version=v, kind="trained_on" if i % 2 else "evaluated_on"
                )
                for i, v in enumerate(versions)
            ]
        )
        ErasureRequest.objects.bulk_create(
            [
                ErasureRequest(
                    state="completed",
                    channel="api",
                    subject_country="KH",
                    sealed_identifiers=b"",
                    requested_by="bench",
                    received_at=now - timedelta(days=10),
                    verified_at=now - timedelta(days=10),
                    deadline=now + timedelta(days=20),
                    closed_at=now - timedelta(days=10 - rng.random() * 9),
                )
                for _ in range(args.requests)
            ],
            batch_size=5000,
        )


def baseline() -> None:
    with connection.cursor() as cursor:
        cursor.execute("""
            SELECT count(*), count(cs.status)
            FROM lineage_membership m
            LEFT JOIN consent_subjectidentifier si ON si.key = m.subject_key
            LEFT JOIN consent_consentstate cs ON cs.subject_id = si.subject_id
        """)
        cursor.fetchone()


def timed(function, samples: int) -> float:
    runs = []
    for _ in range(samples):
        start = time.perf_counter()
        function()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--versions", type=int, default=100)
    parser.add_argument("--members", type=int, default=5000)
    parser.add_argument("--subjects", type=int, default=100_000)
    parser.add_argument("--withdrawn", type=int, default=20)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=3)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        raise SystemExit("bench/readiness.py needs PostgreSQL (DATABASE_URL)")
    migrate()
    started = time.perf_counter()
    if Dataset.objects.filter(namespace=NAMESPACE).exists():
        print(f"reusing the {NAMESPACE} data already in this database")
    else:
        seed(args)
    rows = Membership.objects.count()
    print(
        f"holding {args.versions} versions, {rows:,} membership rows, {args.subjects:,} "
        f"subjects, {args.requests:,} requests (ready in {time.perf_counter() - started:.1f} s)"
    )
    now = timezone.now()
    period = Period(start=now - timedelta(days=90), end=now)
    report_s = timed(
        lambda: readiness_report(period=period, markets=["KH", "VN", "TH"]), args.samples
    )
    data_s = timed(data_section, args.samples)
    base_s = timed(baseline, args.samples)
    print(f"whole report          median {report_s:8.2f} s  ({rows / report_s:,.0f} rows/s)")
    print(f"data section          median {data_s:8.2f} s  ({rows / data_s:,.0f} rows/s)")
    print(f"baseline: one SQL pass median {base_s:8.2f} s  ({rows / base_s:,.0f} rows/s)")
    print(f"report / baseline: x{report_s / base_s:.1f}")


if __name__ == "__main__":
    main()
