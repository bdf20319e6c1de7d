"""The subject membership index: streamed uploads (all or nothing, keys only), the "where is
this subject" query the erasure planner calls, and the purpose check."""

import hashlib
import io
import json
import time
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from core.subject_keys import key_for
from lineage import membership, services
from lineage.models import DatasetVersion, Membership
from lineage.services import LocationInput, VersionInput
from tests import identifiers
from tests.consent import factories as f

pytestmark = pytest.mark.django_db

JSONL = "application/x-ndjson"


def members_url(version, id_type: str = "key") -> str:
    return f"/api/v1/lineage/versions/{version.pk}/members?id_type={id_type}"


def version(name: str, v: str = "1", *, locations=()):
    dataset = services.dataset_register(namespace="s3://ml-data", name=name)
    return services.version_register(
        dataset=dataset, data=VersionInput(version=v, locations=locations)
    )


def run(job: str, inputs, outputs):
    return services.run_record(
        run_id=uuid.uuid4(),
        job=services.job_register(namespace="jobs", name=job),
        state="COMPLETE",
        inputs=inputs,
        outputs=outputs,
    )


def synthetic_key(n: int) -> str:
    return hashlib.sha256(n.to_bytes(8, "big")).hexdigest()


def upload(version, lines: list[str], *, id_type: str = "key", content_type="text/plain"):
    return membership.membership_upload(
        version=version,
        stream=io.BytesIO(("\n".join(lines) + "\n").encode()),
        content_type=content_type,
        id_type=id_type,
    )


@pytest.fixture
def writer(api):
    return api("lineage:write")


@pytest.fixture
def reader(api):
    return api("lineage:read")


# --- upload ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_million_rows_stream_through_the_api_with_duplicates_collapsed(writer):
    """1,000,000 lines, 950,000 distinct keys: the count is exact, no row is anything but a key,
    and the version now declares its membership."""
    target = version("train/khmer-chat")
    distinct = 950_000
    body = b"".join((synthetic_key(n % distinct) + "\n").encode() for n in range(1_000_000))
    started = time.monotonic()
    response = writer.generic("POST", members_url(target), body, content_type="text/plain")
    elapsed = time.monotonic() - started
    assert response.status_code == 201, response.content[:500]
    assert response.json() == {
        "version_id": str(target.pk),
        "members": distinct,
        "membership_declared": True,
    }
    assert elapsed < 90, f"the upload took {elapsed:.1f} s"
    assert Membership.objects.filter(version=target).count() == distinct
    assert not Membership.objects.exclude(subject_key__regex=r"^[0-9a-f]{64}$").exists()
    target.refresh_from_db()
    assert target.membership_declared


def test_identifiers_are_hashed_on_arrival_and_never_stored(writer):
    """Two spellings of one e-mail are one subject; only keys reach the table."""
    target = version("raw/chats")
    first, second = identifiers.email(), identifiers.email()
    csv_body = "\r\n".join(["\ufeffidentifier", first, f'"{first.upper()} "', "", second]) + "\r\n"
    response = writer.generic(
        "POST", members_url(target, "email"), csv_body.encode(), content_type="text/csv"
    )
    assert response.status_code == 201, response.content
    assert response.json()["members"] == 2

    third = identifiers.email()
    jsonl = "\n".join(
        json.dumps(record)
        for record in [{"identifier": third}, {"subject_key": key_for("email", first)}]
    )
    response = writer.generic(
        "POST", members_url(target, "email"), jsonl.encode(), content_type=JSONL
    )
    assert response.status_code == 201, response.content
    assert response.json()["members"] == 3  # uploads add to earlier ones

    stored = set(Membership.objects.filter(version=target).values_list("subject_key", flat=True))
    assert stored == {key_for("email", value) for value in (first, second, third)}
    raw = {value.lower() for value in (first, second, third)}
    assert not any(key.lower() in raw or "@" in key for key in stored)


def test_bad_lines_reject_the_whole_upload_and_name_lines_not_values(writer):
    """A bad identifier, a bad key, bad JSON and an overlong line: 400, and nothing changes."""
    target = version("evals/khmer-qa")
    upload(target, [synthetic_key(1), synthetic_key(2)])
    declared = version("audit/sample")
    before = Membership.objects.count()
    good, bad = identifiers.email(), identifiers.email().replace("@", " at ")
    lines = [
        json.dumps({"identifier": good}),
        json.dumps({"identifier": bad}),
        "{not json",
        json.dumps({"subject_key": "F" * 64}),
        json.dumps({"identifier": "x" * 9000}),
        json.dumps({"name": good}),
        "[" * 5000,
    ]
    for version_ in (target, declared):
        response = writer.generic(
            "POST", members_url(version_, "email"), "\n".join(lines).encode(), content_type=JSONL
        )
        assert response.status_code == 400, response.content
        error = response.json()
        assert error["code"] == "membership_rejected"
        assert error["fields"] == {
            "error_count": 6,
            "lines": [
                {"line": 2, "code": "invalid_email"},
                {"line": 3, "code": "invalid_json"},
                {"line": 4, "code": "invalid_key"},
                {"line": 5, "code": "line_too_long"},
                {"line": 6, "code": "missing_identifier"},
                {"line": 7, "code": "invalid_json"},
            ],
        }
        assert good.lower() not in response.content.decode().lower()
        assert bad.lower() not in response.content.decode().lower()
    assert Membership.objects.count() == before
    assert DatasetVersion.objects.get(pk=declared.pk).membership_declared is False


def test_the_report_holds_the_first_hundred_bad_lines_and_the_count(writer):
    target = version("raw/chats")
    lines = [synthetic_key(n) if n % 2 else "not-a-key" for n in range(300)]
    response = writer.generic(
        "POST", members_url(target), "\n".join(lines).encode(), content_type="text/plain"
    )
    assert response.status_code == 400
    fields = response.json()["fields"]
    assert fields["error_count"] == 150
    assert len(fields["lines"]) == 100
    assert fields["lines"][0] == {"line": 1, "code": "invalid_key"}
    assert not Membership.objects.filter(version=target).exists()


@pytest.mark.parametrize("block", [100, 650, 1 << 20])
def test_plain_keys_in_blocks_count_exactly_and_name_a_bad_line_anywhere(monkeypatch, block):
    """Keys sent as plain text go to the index a block at a time; block edges fall mid-line
    (100 bytes), on a line's end (650) or nowhere (1 MiB). Duplicates, a last line without a
    newline, CRLF line ends and a byte order mark are read as the line-by-line path reads them,
    and a bad line deep in the upload is named by its number, with nothing recorded."""
    monkeypatch.setattr(membership, "BLOCK_BYTES", block)
    target = version(f"blocks/{block}")
    keys = [synthetic_key(n % 90) for n in range(100)]
    body = ("\n".join(keys)).encode()  # no newline after the last key
    assert upload_raw(target, body) == 90
    crlf = version(f"blocks/{block}/crlf")
    assert upload_raw(crlf, ("\ufeff" + "\r\n".join(keys) + "\r\n").encode()) == 90
    bad = version(f"blocks/{block}/bad")
    lines = [*keys[:57], synthetic_key(1).upper(), *keys[57:], "", "x" * 9000, synthetic_key(2)]
    with pytest.raises(membership.MembershipRejected) as refused:
        upload_raw(bad, "\n".join(lines).encode())
    assert refused.value.fields["lines"] == [
        {"line": 58, "code": "invalid_key"},
        {"line": 103, "code": "line_too_long"},
    ]
    assert not Membership.objects.filter(version=bad).exists()


def upload_raw(version, body: bytes) -> int:
    return membership.membership_upload(
        version=version, stream=io.BytesIO(body), content_type="text/plain", id_type="key"
    )


def test_refusals_before_reading(writer, api):
    target = version("raw/chats")
    body = (synthetic_key(1) + "\n").encode()
    cases = [
        (
            writer,
            f"/api/v1/lineage/versions/{uuid.uuid4()}/members",
            "text/plain",
            404,
            "unknown_version",
        ),
        (writer, members_url(target), "application/pdf", 400, "unsupported_media_type"),
        (writer, members_url(target, "E-Mail"), "text/plain", 400, "invalid_id_type"),
        (api("lineage:read"), members_url(target), "text/plain", 403, "insufficient_scope"),
    ]
    for client, url, content_type, status, code in cases:
        response = client.generic("POST", url, body, content_type=content_type)
        assert (response.status_code, response.json()["code"]) == (status, code)
    response = writer.generic("POST", members_url(target), b"\n\n", content_type="text/plain")
    assert (response.status_code, response.json()["code"]) == (400, "empty_membership")
    response = writer.generic(
        "POST", members_url(target), b"identifier\n" + body, content_type="text/csv"
    )
    assert response.json()["fields"]["lines"] == [{"line": 1, "code": "csv_header_mismatch"}]
    assert not Membership.objects.exists()
    target.refresh_from_db()
    assert not target.membership_declared


# --- where is subject X ---------------------------------------------------------------------


@pytest.fixture
def pipeline():
    """raw (holds X) -> clean (undeclared) -> {train (declared, without X), evals (undeclared)};
    other (holds X by its phone key); unrelated (declared, without X). Models on each."""
    raw = version("raw/chats", locations=[LocationInput("s3", "s3://ml-data/raw/chats", "SG")])
    clean = version(
        "clean/chats",
        locations=[
            LocationInput("postgres", "postgres://db.internal:5432/chats", "KH"),
        ],
    )
    train = version("train/khmer-chat")
    evals = version("evals/khmer-qa")
    other = version("raw/calls")
    unrelated = version("raw/forms")
    run("clean", [raw], [clean])
    run("split", [clean], [train, evals])

    email, phone = identifiers.email(), identifiers.khmer_phone()
    upload(raw, [email, identifiers.email()], id_type="email")
    upload(other, [phone], id_type="phone")
    upload(train, [identifiers.email()], id_type="email")
    upload(unrelated, [identifiers.email()], id_type="email")

    on_train = services.model_version_register(
        namespace="models", name="classifier", version="1", trained_on=[train]
    )
    assistant = services.model_version_register(
        namespace="models",
        name="assistant",
        version="7",
        trained_on=[clean],
        evaluated_on=[evals],
    )
    adapter = services.model_version_register(
        namespace="models", name="adapter", version="2", fine_tuned_on=[raw]
    )
    tuned = services.model_version_register(
        namespace="models", name="assistant-km", version="1", fine_tuned_from=assistant
    )
    tuned_again = services.model_version_register(
        namespace="models", name="assistant-km-chat", version="1", fine_tuned_from=tuned
    )
    services.model_version_register(
        namespace="models", name="from-classifier", version="1", fine_tuned_from=on_train
    )
    return {
        "raw": raw,
        "clean": clean,
        "train": train,
        "evals": evals,
        "other": other,
        "keys": [key_for("email", email), key_for("phone", phone)],
        "assistant": assistant,
        "adapter": adapter,
        "tuned": tuned,
        "tuned_again": tuned_again,
    }


def test_where_is_subject_x_members_derived_and_models(pipeline, django_assert_max_num_queries):
    p = pipeline
    with django_assert_max_num_queries(7):
        found = membership.subject_locations(keys=p["keys"])
    versions = {v["version_id"]: v for v in found["versions"]}
    assert set(versions) == {p["raw"].pk, p["other"].pk, p["clean"].pk, p["evals"].pk}
    assert versions[p["raw"].pk] == {
        "version_id": p["raw"].pk,
        "dataset": "s3://ml-data:raw/chats",
        "version": "1",
        "relation": "member",
        "membership_declared": True,
        "note": None,
        "locations": [{"system": "s3", "uri": "s3://ml-data/raw/chats", "country": "SG"}],
    }
    assert versions[p["other"].pk]["relation"] == "member"
    for derived in ("clean", "evals"):
        entry = versions[p[derived].pk]
        assert (entry["relation"], entry["membership_declared"], entry["note"]) == (
            "derived",
            False,
            "derived — membership not declared",
        )
    assert versions[p["clean"].pk]["locations"][0]["country"] == "KH"
    assert [v["relation"] for v in found["versions"]] == ["member"] * 2 + ["derived"] * 2

    models = {
        (m["model"], m["kind"], m["dataset_version_id"], m["fine_tuned_from_id"])
        for m in found["models"]
    }
    assert models == {
        ("models:assistant", "trained_on", p["clean"].pk, None),
        ("models:assistant", "evaluated_on", p["evals"].pk, None),
        ("models:adapter", "fine_tuned_on", p["raw"].pk, None),
        ("models:assistant-km", "fine_tuned_from", None, p["assistant"].pk),
        ("models:assistant-km-chat", "fine_tuned_from", None, p["tuned"].pk),
    }  # nothing trained on `train`, which declared its members without X


def test_locate_by_identifier_and_extra_keys_through_the_api(pipeline, reader):
    email_key, phone_key = pipeline["keys"]
    by_key = reader.post(
        "/api/v1/lineage/subjects/locate",
        {"subject": {"key": email_key}, "keys": [phone_key]},
        format="json",
    )
    assert by_key.status_code == 200, by_key.content
    assert {v["dataset"] for v in by_key.json()["versions"]} == {
        "s3://ml-data:raw/chats",
        "s3://ml-data:raw/calls",
        "s3://ml-data:clean/chats",
        "s3://ml-data:evals/khmer-qa",
    }
    stranger = reader.post(
        "/api/v1/lineage/subjects/locate",
        {"subject": {"id_type": "email", "value": identifiers.email()}},
        format="json",
    )
    assert stranger.json() == {"versions": [], "models": []}
    bad = reader.post(
        "/api/v1/lineage/subjects/locate",
        {"subject": {"id_type": "email", "value": "not an address"}},
        format="json",
    )
    assert (bad.status_code, bad.json()["code"]) == (400, "invalid_email")
    bad = reader.post("/api/v1/lineage/subjects/locate", {"keys": ["ABC"]}, format="json")
    assert (bad.status_code, bad.json()["code"]) == (400, "invalid_key")
    bad = reader.post("/api/v1/lineage/subjects/locate", {}, format="json")
    assert (bad.status_code, bad.json()["code"]) == (400, "missing_subject")


# --- purpose check --------------------------------------------------------------------------


def test_purpose_check_counts_subjects_whose_consent_allows_it(reader):
    """Given; given then withdrawn; another purpose only; never asked: one allowed of four."""
    f.notice()
    now = timezone.now()
    emails = [identifiers.email() for _ in range(4)]
    given, withdrawn, elsewhere, _ = (f.subject(e) for e in emails)
    f.record(
        f.event(given, "train_ai_system", at=now - timedelta(days=2)),
        f.event(withdrawn, "train_ai_system", at=now - timedelta(days=2)),
        f.event(withdrawn, "train_ai_system", "withdrawn", at=now - timedelta(days=1)),
        f.event(elsewhere, "marketing", at=now - timedelta(days=2)),
    )
    target = version("train/khmer-chat")
    upload(target, emails, id_type="email")

    response = reader.get(
        f"/api/v1/lineage/versions/{target.pk}/purpose-check?purpose=train_ai_system"
    )
    assert response.status_code == 200, response.content
    assert response.json() == {
        "version_id": str(target.pk),
        "purpose": "train_ai_system",
        "members": 4,
        "allowed": 1,
        "not_allowed": 3,
    }
    assert membership.purpose_check(version=target, purpose="marketing")["allowed"] == 1

    empty = version("raw/empty")
    for url, status, code in [
        (
            f"/api/v1/lineage/versions/{empty.pk}/purpose-check?purpose=no_such_use",
            404,
            "unknown_purpose",
        ),
        (f"/api/v1/lineage/versions/{target.pk}/purpose-check", 400, "missing_purpose"),
        (
            f"/api/v1/lineage/versions/{uuid.uuid4()}/purpose-check?purpose=marketing",
            404,
            "unknown_version",
        ),
    ]:
        response = reader.get(url)
        assert (response.status_code, response.json()["code"]) == (status, code)
