"""Subjects: state, history, identifier resolution and linking; purposes and notices."""

import pytest

from consent.models import Purpose, SubjectIdentifier
from tests import identifiers
from tests.consent import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(api):
    f.notice()
    return api("consent:read", "consent:write")


def test_state_and_history_of_a_subject(client):
    email = identifiers.email()
    ref = f.subject(email)
    f.record(f.event(ref, "marketing"), f.event(ref, "train_ai_system"))
    f.record(f.event(ref, "marketing", "withdrawn"))
    state = client.get(f"/api/v1/consent/subjects/{ref.key}").json()
    assert {s["purpose"]: s["status"] for s in state["states"]} == {
        "marketing": "withdrawn",
        "train_ai_system": "given",
    }
    assert state["identifiers"] == [{"id_type": "email", "key": ref.key}]
    history = client.get(f"/api/v1/consent/subjects/{ref.key}/history").json()["events"]
    assert [(e["purpose"], e["status"]) for e in history][-1] == ("marketing", "withdrawn")
    assert len(history) == 3


def test_unknown_and_malformed_subject_keys(client):
    assert client.get(f"/api/v1/consent/subjects/{'b' * 64}").json()["code"] == "unknown_subject"
    response = client.get("/api/v1/consent/subjects/not-a-key")
    assert (response.status_code, response.json()["code"]) == (400, "invalid_key")


def test_linking_a_phone_to_a_subject_known_by_email(client, settings):
    email, phone = identifiers.email(), identifiers.vietnamese_phone()
    ref = f.subject(email)
    f.record(f.event(ref, "marketing"))
    response = client.post(
        "/api/v1/consent/subjects/link",
        {
            "subject": {"id_type": "email", "value": email},
            "identifier": {"id_type": "phone", "value": phone},
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert [i["id_type"] for i in response.json()["identifiers"]] == ["email", "phone"]
    # The phone now answers for the same subject.
    check = client.post(
        "/api/v1/consent/check",
        {"subject": {"id_type": "phone", "value": phone}, "purpose": "marketing"},
        format="json",
    ).json()
    assert check["allowed"] is True
    resolved = client.post(
        "/api/v1/consent/subjects/resolve", {"id_type": "phone", "value": phone}, format="json"
    ).json()
    assert {i["key"] for i in resolved["identifiers"]} >= {ref.key}


def test_an_identifier_of_another_subject_is_not_merged(client):
    a, b = identifiers.email(), identifiers.email()
    f.record(f.event(f.subject(a), "marketing"), f.event(f.subject(b), "marketing"))
    before = SubjectIdentifier.objects.count()
    response = client.post(
        "/api/v1/consent/subjects/link",
        {
            "subject": {"id_type": "email", "value": a},
            "identifier": {"id_type": "email", "value": b},
        },
        format="json",
    )
    assert (response.status_code, response.json()["code"]) == (409, "identifier_in_use")
    assert SubjectIdentifier.objects.count() == before


def test_custom_purposes_extend_the_tree(client):
    response = client.post(
        "/api/v1/consent/purposes",
        {
            "key": "train_ai_system.fine_tuning.khmer_asr",
            "parent": "train_ai_system.fine_tuning",
            "name": "Khmer speech recognition",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert Purpose.objects.get(key="train_ai_system.fine_tuning.khmer_asr").is_custom
    # A grant for the ancestor covers it, through the cached purpose tree.
    email = identifiers.email()
    f.record(f.event(f.subject(email), "train_ai_system"))
    check = client.post(
        "/api/v1/consent/check",
        {
            "subject": {"id_type": "email", "value": email},
            "purpose": "train_ai_system.fine_tuning.khmer_asr",
        },
        format="json",
    ).json()
    assert check["allowed"] is True
    again = client.post(
        "/api/v1/consent/purposes",
        {"key": "train_ai_system.fine_tuning.khmer_asr", "parent": "train_ai_system.fine_tuning"},
        format="json",
    )
    assert (again.status_code, again.json()["code"]) == (409, "purpose_exists"), again.json()
    bad = client.post(
        "/api/v1/consent/purposes",
        {"key": "marketing.x", "parent": "train_ai_system"},
        format="json",
    )
    assert (bad.status_code, bad.json()["code"]) == (400, "invalid_purpose_key")
    listed = client.get("/api/v1/consent/purposes").json()["purposes"]
    assert {"key": "train_ai_system.evaluation", "parent": "train_ai_system"}.items() <= next(
        p for p in listed if p["key"] == "train_ai_system.evaluation"
    ).items()


def test_notices_are_versioned_and_immutable(client):
    text = "ការជូនដំណឹងអំពីឯកជនភាព"
    response = client.post(
        "/api/v1/consent/notices",
        {"key": "privacy", "language": "km", "version": 1, "title": "ឯកជនភាព", "text": text},
        format="json",
    )
    assert response.status_code == 201, response.json()
    import hashlib

    assert response.json()["digest"] == "sha256:" + hashlib.sha256(text.encode()).hexdigest()
    again = client.post(
        "/api/v1/consent/notices",
        {"key": "privacy", "language": "km", "version": 1, "title": "x", "text": "changed"},
        format="json",
    )
    assert (again.status_code, again.json()["code"]) == (409, "notice_exists")
    new = client.post(
        "/api/v1/consent/notices",
        {"key": "privacy", "language": "en", "title": "v2", "text": "second"},
        format="json",
    ).json()
    assert new["version"] == 2
