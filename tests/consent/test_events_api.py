"""Recording one event through the API, and what bad input gets back."""

import pytest

from consent.models import ConsentEvent, ConsentState, Subject
from tests import identifiers
from tests.consent import factories as f

pytestmark = pytest.mark.django_db
URL = "/api/v1/consent/events"


@pytest.fixture
def writer(api):
    f.notice()
    f.notice(language="km")
    return api("consent:write", "consent:read")


def body(**overrides):
    km = {"notice": {"key": "privacy", "version": 1, "language": "km"}}
    return f.api_event(**km, data_categories=["user.content"]) | overrides


def counts():
    return (Subject.objects.count(), ConsentEvent.objects.count(), ConsentState.objects.count())


def test_an_event_is_recorded_and_moves_the_current_state(writer):
    response = writer.post(URL, body(), format="json")
    assert response.status_code == 201, response.json()
    event = response.json()
    assert event["status"] == "given"
    assert event["purpose"] == "train_ai_system.evaluation"
    assert event["notice"]["language"] == "km"
    assert event["notice"]["digest"].startswith("sha256:")
    stored = ConsentEvent.objects.get(id=event["id"])
    assert ConsentState.objects.get(subject=stored.subject).event_id == stored.id


def test_an_event_for_a_known_subject_key_needs_no_identifier(writer):
    email = identifiers.email()
    writer.post(URL, body(subject={"id_type": "email", "value": email}), format="json")
    key = f.subject(email).key
    response = writer.post(URL, body(subject={"key": key}, status="withdrawn"), format="json")
    assert response.status_code == 201
    assert Subject.objects.count() == 1


@pytest.mark.parametrize(
    ("overrides", "status", "code"),
    [
        ({"purpose": "train_ai_system.dreaming"}, 400, "unknown_purpose"),
        ({"subject": {"id_type": "email", "value": "nobody-at-example"}}, 400, "invalid_email"),
        ({"subject": {"id_type": "phone", "value": "+855 1"}}, 400, "invalid_phone"),
        ({"subject": {"key": "f" * 64}}, 400, "unknown_subject"),
        ({"status": "maybe"}, 400, "invalid_status"),
        ({"legal_basis": "because"}, 400, "invalid_legal_basis"),
        ({"jurisdiction": "XX"}, 400, "invalid_jurisdiction"),
        ({"jurisdiction": "kh"}, 400, "invalid_jurisdiction"),
        ({"notice": None}, 400, "notice_required"),
        ({"notice": {"key": "privacy", "version": 9, "language": "km"}}, 400, "unknown_notice"),
        ({"event_time": "yesterday"}, 400, "invalid_event_time"),
        ({"event_time": "2026-01-15T08:30:00"}, 400, "invalid_event_time"),
        ({"event_time": "2999-01-01T00:00:00Z"}, 400, "event_in_future"),
        ({"expires_at": "2025-01-01T00:00:00Z"}, 400, "invalid_expires_at"),
        ({"data_categories": ["user.soul"]}, 400, "unknown_data_category"),
        ({"method": "Carrier Pigeon"}, 400, "invalid_method"),
    ],
)
def test_bad_input_gets_a_4xx_with_a_stable_code_and_writes_nothing(
    writer, overrides, status, code
):
    before = counts()
    response = writer.post(URL, body(**overrides), format="json")
    assert response.status_code == status, response.json()
    error = response.json()
    assert error["code"] == code
    assert set(error) == {"code", "detail", "fields"}
    assert counts() == before


def test_malformed_json_is_a_parse_error(writer):
    response = writer.post(URL, b"{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"
    assert counts() == (0, 0, 0)


def test_an_oversized_body_is_refused_with_413(writer, settings):
    settings.LUP_MAX_JSON_BYTES = 2048
    response = writer.post(URL, body(padding="x" * 4096), format="json")
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    assert counts() == (0, 0, 0)


def test_error_messages_never_echo_the_identifier(writer):
    bad = identifiers.email().replace("@", " at ")
    response = writer.post(URL, body(subject={"id_type": "email", "value": bad}), format="json")
    assert response.status_code == 400
    assert bad not in response.content.decode()


def test_deeply_nested_json_is_a_parse_error_not_a_crash(writer):
    response = writer.post(URL, b"[" * 100_000, content_type="application/json")
    assert (response.status_code, response.json()["code"]) == (400, "parse_error")
    imported = writer.generic(
        "POST",
        "/api/v1/consent/events/import",
        b"[" * 5000 + b"\n",
        content_type="application/x-ndjson",
    )
    assert imported.status_code == 400
    assert imported.json()["fields"]["lines"] == [
        {"line": 1, "field": "line", "code": "invalid_json"}
    ]
