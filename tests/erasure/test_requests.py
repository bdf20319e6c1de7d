"""Erasure requests: intake with idempotency, linking, the audited state machine, and
crypto-shredding of the sealed identifiers."""

import threading
from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from erasure.models import ErasureRequest, RequestKey, RequestSubjectKey, Transition
from erasure.services import (
    erasure_request_create,
    erasure_request_identifiers,
    erasure_request_transition,
    erasure_requests_shred_due,
)
from tests import identifiers

pytestmark = pytest.mark.django_db
URL = "/api/v1/erasure-requests"


@pytest.fixture
def client(api):
    return api("erasure:write", "erasure:read")


def body(*values, country="KH"):
    return {"identifiers": [{"id_type": t, "value": v} for t, v in values], "country": country}


def counts():
    return (
        ErasureRequest.objects.count(),
        RequestKey.objects.count(),
        RequestSubjectKey.objects.count(),
        Transition.objects.count(),
    )


def test_a_request_is_received_sealed_and_audited(client):
    email = identifiers.email()
    response = client.post(URL, body(("email", email)), format="json")
    assert response.status_code == 201, response.json()
    created = response.json()
    assert created["state"] == "received"
    assert [t["to_state"] for t in created["transitions"]] == ["received"]
    assert created["transitions"][0]["actor"].startswith("token:")
    request = ErasureRequest.objects.get(pk=created["id"])
    # At rest: ciphertext and keys only; opened in memory, normalized.
    assert email.lower().encode() not in bytes(request.sealed_identifiers)
    assert email.lower() not in str(created)
    assert erasure_request_identifiers(request=request) == [
        {"id_type": "email", "value": email.lower()}
    ]
    assert len(RequestSubjectKey.objects.get(request=request).key) == 64
    assert client.get(f"{URL}/{created['id']}").json()["id"] == created["id"]
    assert client.get(URL).json()["results"][0]["id"] == created["id"]


def test_the_same_idempotency_key_returns_the_same_request(client):
    payload = body(("email", identifiers.email()))
    first = client.post(URL, payload, format="json", HTTP_IDEMPOTENCY_KEY="retry-1")
    again = client.post(URL, payload, format="json", HTTP_IDEMPOTENCY_KEY="retry-1")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    before = counts()
    other = client.post(
        URL, body(("email", identifiers.email())), format="json", HTTP_IDEMPOTENCY_KEY="retry-1"
    )
    assert (other.status_code, other.json()["code"]) == (409, "idempotency_key_reused")
    assert counts() == before


@pytest.mark.django_db(transaction=True)
def test_the_same_idempotency_key_filed_twice_at_once_is_one_request():
    """The second filing does not see the first, which has not committed yet: its insert waits
    on the key's unique index, fails when the first commits, and answers the first's request."""
    given = [{"id_type": "email", "value": identifiers.email()}]
    answers: list = []

    def second() -> None:
        try:
            answers.append(
                erasure_request_create(
                    identifiers=given, country="KH", channel="api", actor="t", idempotency_key="k"
                )
            )
        finally:
            connection.close()

    with transaction.atomic():
        first, _ = erasure_request_create(
            identifiers=given, country="KH", channel="api", actor="t", idempotency_key="k"
        )
        racer = threading.Thread(target=second)
        racer.start()
        racer.join(timeout=1)
        assert racer.is_alive()  # waiting on the first's uncommitted row
    racer.join(timeout=10)
    assert [(request.pk, created) for request, created in answers] == [(first.pk, False)]
    assert counts() == (1, 1, 1, 1)


def test_a_second_open_request_for_the_same_subject_is_linked(client):
    email, phone = identifiers.email(), identifiers.khmer_phone()
    first = client.post(URL, body(("email", email)), format="json").json()
    second = client.post(
        URL, body(("phone", phone), ("email", email.upper())), format="json"
    ).json()
    assert second["linked_to"] == first["id"]
    assert "linked to open request" in second["transitions"][0]["reason"]
    stranger = client.post(URL, body(("email", identifiers.email())), format="json").json()
    assert stranger["linked_to"] is None


def test_a_caller_that_cannot_read_requests_is_not_told_of_another_one(client, api):
    email = identifiers.email()
    client.post(URL, body(("email", email)), format="json")
    filer = api("erasure:write")
    second = filer.post(URL, body(("email", email)), format="json")
    assert second.status_code == 201
    assert second.json()["linked_to"] is None
    assert all(t["reason"] == "" for t in second.json()["transitions"])
    # The link is made all the same, and a reader sees it.
    seen = client.get(f"{URL}/{second.json()['id']}").json()
    assert seen["linked_to"] is not None


def test_the_idempotency_digest_is_over_the_request_as_filed(client):
    email = identifiers.email()
    first = client.post(URL, body(("email", email)), format="json", HTTP_IDEMPOTENCY_KEY="norm-1")
    again = client.post(
        URL,
        body(("email", f"  {email.upper()} ")),
        format="json",
        HTTP_IDEMPOTENCY_KEY="norm-1",
    )
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    other = client.post(
        URL, body(("email", identifiers.email())), format="json", HTTP_IDEMPOTENCY_KEY="norm-1"
    )
    assert (other.status_code, other.json()["code"]) == (409, "idempotency_key_reused")


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (body(("Fax", "1234")), "invalid_id_type"),
        (body(("email", "not-an-address")), "invalid_email"),
        (body(("phone", "+855 1")), "invalid_phone"),
        ({"identifiers": []}, "invalid_identifiers"),
        ({"identifiers": "sokha@example.com"}, "invalid_identifiers"),
        (body(("email", "a@example.org"), country="Cambodia"), "invalid_country"),
    ],
)
def test_bad_requests_get_a_4xx_and_change_nothing(client, payload, code):
    before = counts()
    response = client.post(URL, payload, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert counts() == before


def test_state_machine_records_who_when_why_and_refuses_skips(client):
    created = client.post(URL, body(("email", identifiers.email())), format="json").json()
    request = ErasureRequest.objects.get(pk=created["id"])
    erasure_request_transition(request=request, to_state="verifying", actor="system")
    erasure_request_transition(
        request=request,
        to_state="verified",
        actor="staff:ofelia",
        reason="identity checked by phone call",
    )
    from core.errors import Conflict

    with pytest.raises(Conflict) as err:
        erasure_request_transition(request=request, to_state="completed", actor="system")
    assert err.value.code == "invalid_transition"
    trail = client.get(f"{URL}/{request.pk}").json()["transitions"]
    assert [(t["from_state"], t["to_state"]) for t in trail] == [
        ("", "received"),
        ("received", "verifying"),
        ("verifying", "verified"),
    ]
    assert trail[-1]["reason"] == "identity checked by phone call"
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE erasure_transition SET reason = 'rewritten'")


def test_after_retention_the_identifiers_cannot_be_decrypted(client, settings):
    settings.LUP_REQUEST_RETENTION_DAYS = 30
    created = client.post(URL, body(("email", identifiers.email())), format="json").json()
    request = ErasureRequest.objects.get(pk=created["id"])
    closed = erasure_request_transition(
        request=request,
        to_state="denied",
        actor="staff:x",
        reason="duplicate of an earlier request",
    )
    assert erasure_requests_shred_due(now=timezone.now()) == 0  # retention not over
    assert erasure_request_identifiers(request=closed)
    assert erasure_requests_shred_due(now=closed.retention_until + timedelta(seconds=1)) == 1
    closed.refresh_from_db()
    assert closed.shredded_at is not None
    assert not RequestKey.objects.filter(request=closed).exists()
    from core.errors import ApplicationError

    with pytest.raises(ApplicationError) as err:
        erasure_request_identifiers(request=closed)
    assert err.value.code == "identifiers_shredded"
    assert client.get(f"{URL}/{closed.pk}").json()["identifiers_shredded"] is True


def test_scopes(api):
    reader = api("erasure:read")
    denied = reader.post(URL, body(("email", identifiers.email())), format="json")
    assert (denied.status_code, denied.json()["code"]) == (403, "insufficient_scope")
    assert api("consent:read").get(URL).status_code == 403
    assert reader.get(f"{URL}/00000000-0000-4000-8000-000000000000").json()["code"] == (
        "unknown_request"
    )


def test_the_intake_answers_the_trail_it_wrote_without_reading_it_back(client):
    """The 201 shows the request as a GET does, a linked one's reason included, and the
    intake does not select the transitions it has just inserted."""
    email = identifiers.email()
    first = client.post(URL, body(("email", email)), format="json")
    with CaptureQueriesContext(connection) as queries:
        second = client.post(URL, body(("email", email)), format="json")
    assert (first.status_code, second.status_code) == (201, 201)
    for answer in (first.json(), second.json()):
        assert client.get(f"{URL}/{answer['id']}").json() == answer
    assert (
        second.json()["transitions"][0]["reason"] == f"linked to open request {first.json()['id']}"
    )
    assert not [q for q in queries if q["sql"].startswith('SELECT "erasure_transition"')]
