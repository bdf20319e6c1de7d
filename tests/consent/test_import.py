"""Bulk import: streamed, all-or-nothing, with a per-line report on rejection."""

import io
import json
from datetime import UTC, datetime

import pytest
from django.test import override_settings

from consent.models import ConsentEvent, ConsentState, Subject
from consent.selectors import consent_check
from tests import identifiers
from tests.consent import factories as f

pytestmark = pytest.mark.django_db
URL = "/api/v1/consent/events/import"
JSONL = "application/x-ndjson"


@pytest.fixture
def writer(api):
    f.notice()
    return api("consent:write")


def line(email: str, purpose: str = "train_ai_system", status: str = "given", **extra) -> dict:
    return {
        "subject": {"id_type": "email", "value": email},
        "purpose": purpose,
        "status": status,
        "legal_basis": "consent",
        "jurisdiction": "VN",
        "notice": {"key": "privacy", "version": 1, "language": "en"},
        "event_time": "2026-03-01T00:00:00Z",
        **extra,
    }


def jsonl(records) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def counts():
    return (Subject.objects.count(), ConsentEvent.objects.count(), ConsentState.objects.count())


@pytest.mark.slow
def test_one_hundred_thousand_events_in_one_call(writer):
    # 50,000 subjects, each with a grant and, for every fifth, a later withdrawal.
    base = identifiers.email()
    emails = [f"n{i}.{base}" for i in range(50_000)]
    identifiers.USED.update(emails)

    def records():
        for i, email in enumerate(emails):
            yield line(email, "train_ai_system")
            if i % 5 == 0:
                yield line(email, "train_ai_system", "withdrawn", event_time="2026-03-02T00:00:00Z")
            else:
                yield line(email, "marketing")

    payload = jsonl(records())
    assert payload.count(b"\n") == 100_000
    response = writer.generic("POST", URL, payload, content_type=JSONL)
    assert response.status_code == 201, response.content[:500]
    assert response.json() == {"imported": 100_000, "subjects_created": 50_000}
    assert counts() == (50_000, 100_000, 90_000)
    assert (
        consent_check(subject=f.subject(emails[0]), purpose_key="train_ai_system")["reason"]
        == "withdrawn"
    )
    assert consent_check(subject=f.subject(emails[1]), purpose_key="train_ai_system")["allowed"]


def test_csv_import(writer):
    email, key_email = identifiers.email(), identifiers.email()
    f.record(f.event(f.subject(key_email), "marketing", at=datetime(2026, 1, 1, tzinfo=UTC)))
    csv = (
        "id_type,identifier,subject_key,purpose,status,legal_basis,jurisdiction,notice_key,"
        "notice_version,notice_language,event_time,data_categories\n"
        f"email,{email},,train_ai_system,given,consent,TH,privacy,1,en,2026-02-01T00:00:00Z,"
        "user.content;user.contact.email\n"
        f",,{f.subject(key_email).key},marketing,withdrawn,consent,TH,,,,2026-02-02T00:00:00Z,\n"
    ).encode()
    response = writer.generic("POST", URL, csv, content_type="text/csv")
    assert response.status_code == 201, response.json()
    assert response.json() == {"imported": 2, "subjects_created": 1}
    event = ConsentEvent.objects.get(purpose__key="train_ai_system")
    assert event.data_categories == ["user.contact.email", "user.content"]
    assert consent_check(subject=f.subject(key_email), purpose_key="marketing")["reason"] == (
        "withdrawn"
    )


def test_one_bad_line_rejects_the_whole_import_and_the_report_names_each_line(writer):
    good = [line(identifiers.email()) for _ in range(10)]
    bad_email = identifiers.email().replace("@", "")
    records = [
        *good[:3],
        line(bad_email),  # line 4
        {**line(identifiers.email()), "purpose": "no.such.purpose"},  # line 5
        *good[3:],
    ]
    payload = jsonl(records) + b"{broken json\n"  # line 13
    response = writer.generic("POST", URL, payload, content_type=JSONL)
    assert response.status_code == 400
    error = response.json()
    assert error["code"] == "import_rejected"
    assert error["fields"]["error_count"] == 3
    assert error["fields"]["lines"] == [
        {"line": 4, "field": "subject", "code": "invalid_email"},
        {"line": 5, "field": "purpose", "code": "unknown_purpose"},
        {"line": 13, "field": "line", "code": "invalid_json"},
    ]
    assert bad_email not in response.content.decode()
    assert counts() == (0, 0, 0)


def test_unknown_subject_key_rejects_the_import(writer):
    payload = jsonl([line(identifiers.email()), {**line(""), "subject": {"key": "0" * 64}}])
    response = writer.generic("POST", URL, payload, content_type=JSONL)
    assert response.status_code == 400
    assert response.json()["fields"]["lines"] == [
        {"line": 2, "field": "subject", "code": "unknown_subject"}
    ]
    assert counts() == (0, 0, 0)


@override_settings(LUP_CONSENT_IMPORT_MAX_LINES=5)
def test_an_import_over_the_line_limit_gets_413_and_writes_nothing(writer):
    payload = jsonl(line(identifiers.email()) for _ in range(6))
    response = writer.generic("POST", URL, payload, content_type=JSONL)
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    assert counts() == (0, 0, 0)


@override_settings(LUP_MAX_LINE_BYTES=600)
def test_an_overlong_line_is_reported_not_split(writer):
    payload = jsonl([line(identifiers.email(), padding="x" * 1000), line(identifiers.email())])
    response = writer.generic("POST", URL, payload, content_type=JSONL)
    assert response.status_code == 400
    assert response.json()["fields"]["lines"] == [
        {"line": 1, "field": "line", "code": "line_too_long"}
    ]


@pytest.mark.parametrize(
    ("payload", "content_type", "code"),
    [
        (b"", JSONL, "empty_import"),
        (b"a,b\n1,2\n", "text/csv", "invalid_csv_header"),
        (b"{}", "application/xml", "unsupported_media_type"),
    ],
)
def test_malformed_imports_are_refused(writer, payload, content_type, code):
    response = writer.generic("POST", URL, payload, content_type=content_type)
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert counts() == (0, 0, 0)


def test_the_service_reads_a_stream_without_django(writer):
    from consent.imports import consent_import

    result = consent_import(
        stream=io.BytesIO(jsonl([line(identifiers.email())])), content_type=JSONL
    )
    assert len(result.events) == 1
