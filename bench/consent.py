"""Consent check latency and bulk filter throughput, each beside raw SQL doing the same work.

Needs PostgreSQL and Redis (DATABASE_URL, REDIS_URL, SECRET_KEY, LUP_SUBJECT_PEPPER; see the
README). Populates the database once with --subjects subjects, then measures:
- one check: the service call and HTTP (gunicorn, keep-alive), cached and uncached, against one
  hand-written SQL query returning the same rows, p50/p99 over --checks calls;
- the filter: --keys subject keys through the service and through HTTP, against one SQL query
  joining all keys at once, median of --repeat runs.
"""

import argparse
import http.client
import json
import random
import socket
import statistics
import subprocess
import sys
import time

from django.conf import settings
from django.db import connection
from django.utils import timezone

from _setup import ROOT, migrate, percentile
from access.services import api_token_create
from consent import cache as answer_cache
from consent.decisions import StateRow, decide
from consent.inputs import EventInput, NoticeRef, subject_from_identifier
from consent.models import Notice, Subject, SubjectIdentifier
from consent.selectors import consent_check, consent_filter_keys, purpose_tree
from consent.services import consent_events_record, notice_publish
from core.subject_keys import Identifier, subject_key

PURPOSE = "train_ai_system.evaluation"
NOTICE = NoticeRef("bench", 1, "en")


def email(i: int) -> str:
    return f"bench-{i}@example.org"


def populate(n: int) -> None:
    have = Subject.objects.count()
    if have >= n:
        return
    if not Notice.objects.filter(key="bench").exists():
        notice_publish(key="bench", language="en", title="Bench", text="bench", version=1)
    from datetime import UTC, datetime, timedelta

    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    start = time.perf_counter()
    chunk = 100_000
    for lo in range(have, n, chunk):
        events = []
        for i in range(lo, min(n, lo + chunk)):
            ref = subject_from_identifier(Identifier("email", email(i)))
            events.append(_event(ref, "train_ai_system", "given", t0))
            if i % 5 == 0:
                events.append(_event(ref, "train_ai_system", "withdrawn", t0 + timedelta(days=1)))
            elif i % 3 == 0:
                events.append(_event(ref, PURPOSE, "refused", t0 + timedelta(days=2)))
        consent_events_record(events=events)
        print(f"  populated {min(n, lo + chunk):,} subjects", file=sys.stderr)
    elapsed = time.perf_counter() - start
    print(f"populate: {n - have:,} subjects through the import service in {elapsed:.1f} s")


def _event(ref, purpose, status, when) -> EventInput:
    return EventInput(ref, purpose, status, "consent", "KH", NOTICE, "import", when, None, ())


RAW_CHECK = """
SELECT cs.purpose_id, cs.event_id, cs.status, cs.event_time, cs.expires_at,
       e.legal_basis, e.jurisdiction, n.key, n.version, n.language, n.digest
FROM consent_subjectidentifier si
JOIN consent_consentstate cs ON cs.subject_id = si.subject_id
JOIN consent_consentevent e ON e.id = cs.event_id
LEFT JOIN consent_notice n ON n.id = e.notice_id
WHERE si.key = %s AND cs.purpose_id = ANY(%s)
"""

RAW_FILTER = """
SELECT si.key, cs.purpose_id, cs.event_id, cs.status, cs.event_time, cs.expires_at
FROM unnest(%s::varchar[]) AS k(key)
JOIN consent_subjectidentifier si ON si.key = k.key
JOIN consent_consentstate cs ON cs.subject_id = si.subject_id
WHERE cs.purpose_id = ANY(%s)
"""


def time_calls(fn, args_list, *, before=None) -> list[float]:
    """Milliseconds per call; `before` runs untimed ahead of each call."""
    samples = []
    for args in args_list:
        if before:
            before(*args)
        t = time.perf_counter()
        fn(*args)
        samples.append((time.perf_counter() - t) * 1000)
    return samples


def report(name: str, samples: list[float], baseline: list[float] | None = None) -> None:
    p50, p99 = percentile(samples, 50), percentile(samples, 99)
    line = f"{name:<44} p50 {p50:8.3f} ms   p99 {p99:8.3f} ms"
    if baseline:
        line += f"   x{p50 / percentile(baseline, 50):5.1f} of raw SQL p50"
    print(line)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            "1",
            "--worker-class",
            "gthread",
            "--threads",
            "4",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("gunicorn did not start")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subjects", type=int, default=1_000_000)
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--checks", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", choices=["check", "filter"], help="run one part")
    args = parser.parse_args()
    assert connection.vendor == "postgresql", "run against PostgreSQL (DATABASE_URL)"
    assert not settings.CELERY_TASK_ALWAYS_EAGER, "run with Redis (REDIS_URL)"
    migrate()
    populate(args.subjects)

    chain = purpose_tree().chain(PURPOSE)
    _, token = api_token_create(name="bench", scopes=["consent:read"])
    port = free_port()
    server = start_server(port)
    try:
        if args.only != "filter":
            bench_check(args, chain, token, port)
        if args.only != "check":
            bench_filter(args, chain, token, port)
    finally:
        server.terminate()
        server.wait()


def bench_check(args, chain: list[int], token: str, port: int) -> None:
    rng = random.Random(1)
    picks = [rng.randrange(args.subjects) for _ in range(args.checks)]
    refs = [subject_from_identifier(Identifier("email", email(i))) for i in picks]
    print(f"\n== single check: {args.checks} subjects of {args.subjects:,}, purpose {PURPOSE}")

    def raw_check(ref):
        with connection.cursor() as cursor:
            cursor.execute(RAW_CHECK, [ref.key, chain])
            rows = cursor.fetchall()
        return decide(chain, {r[0]: StateRow(*r[:5]) for r in rows}, timezone.now())

    raw = time_calls(raw_check, [(r,) for r in refs])
    report("raw SQL (one query + decision)", raw)

    def check(ref):
        return consent_check(subject=ref, purpose_key=PURPOSE)

    subject_of = dict(
        SubjectIdentifier.objects.filter(key__in=[r.key for r in refs]).values_list(
            "key", "subject_id"
        )
    )

    def invalidate(ref):
        # What a new event for the subject does: its cached answers become unreachable.
        answer_cache.invalidate_subjects([subject_of[ref.key]])

    report(
        "service, answer not cached (after an event)",
        time_calls(check, [(r,) for r in refs], before=invalidate),
        raw,
    )
    for ref in refs:
        check(ref)
    report("service, cached", time_calls(check, [(r,) for r in refs]), raw)

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def http_check(i):
        body = json.dumps({"subject": {"id_type": "email", "value": email(i)}, "purpose": PURPOSE})
        conn.request("POST", "/api/v1/consent/check", body, headers)
        response = conn.getresponse()
        assert response.status == 200, response.read()
        return response.read()

    http_check(picks[0])
    report(
        "HTTP (gunicorn, keep-alive), cached", time_calls(http_check, [(i,) for i in picks]), raw
    )
    http_refs = dict(zip(picks, refs, strict=True))
    report(
        "HTTP (gunicorn, keep-alive), answer not cached",
        time_calls(http_check, [(i,) for i in picks], before=lambda i: invalidate(http_refs[i])),
        raw,
    )


def bench_filter(args, chain: list[int], token: str, port: int) -> None:
    print(f"\n== filter: {args.keys:,} subject keys, purpose {PURPOSE}, median of {args.repeat}")
    rng = random.Random(2)
    known = min(args.keys // 2, args.subjects)
    keys = [subject_key(Identifier("email", email(i))) for i in range(known)]
    keys += [f"{rng.getrandbits(256):064x}" for _ in range(args.keys - known)]
    rng.shuffle(keys)
    body = ("\n".join(keys) + "\n").encode()

    def run_raw():
        with connection.cursor() as cursor:
            cursor.execute(RAW_FILTER, [keys, chain])
            per_key: dict[str, dict] = {}
            for key, *row in cursor.fetchall():
                per_key.setdefault(key, {})[row[0]] = StateRow(*row)
        now = timezone.now()
        return sum(decide(chain, s, now).allowed for s in per_key.values())

    def run_service():
        return sum(d.allowed for _, d in consent_filter_keys(keys=keys, purpose_key=PURPOSE))

    def run_http():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        conn.request(
            "POST",
            f"/api/v1/consent/filter?purpose={PURPOSE}&id_type=key",
            body,
            {"Authorization": f"Bearer {token}", "Content-Type": "text/plain"},
        )
        response = conn.getresponse()
        assert response.status == 200
        return response.read().count(b"\n")

    results = {}
    for name, fn in (
        ("raw SQL (one query, all keys)", run_raw),
        ("service (consent_filter_keys)", run_service),
        ("HTTP (stream in, stream out)", run_http),
    ):
        times, allowed = [], None
        for _ in range(args.repeat):
            t = time.perf_counter()
            allowed = fn()
            times.append(time.perf_counter() - t)
        results[name] = (statistics.median(times), allowed)
    base = results["raw SQL (one query, all keys)"][0]
    for name, (seconds, allowed) in results.items():
        print(
            f"{name:<44} {seconds:7.2f} s  {args.keys / seconds:>10,.0f} keys/s  "
            f"allowed {allowed:,}   x{seconds / base:4.1f} of raw SQL"
        )


if __name__ == "__main__":
    main()
