"""Identity verification: a one-time code by e-mail, with expiry and an attempt limit; or staff
verifying by other means, with a reason."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from erasure.models import ErasureRequest
from erasure.services import erasure_verification_confirm
from identity.models import OneTimeCode
from tests import identifiers

pytestmark = pytest.mark.django_db
URL = "/api/v1/erasure-requests"


@pytest.fixture
def client(api):
    return api("erasure:write", "erasure:read")


def file_request(client, *values) -> str:
    body = {"identifiers": [{"id_type": t, "value": v} for t, v in values]}
    response = client.post(URL, body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def sent_code(mailoutbox) -> str:
    return re.search(r"\b(\d{6})\b", mailoutbox[-1].body).group(1)


def test_a_code_by_email_verifies_the_request(client, mailoutbox, settings):
    email = identifiers.email()
    request_id = file_request(client, ("phone", identifiers.khmer_phone()), ("email", email))
    started = client.post(f"{URL}/{request_id}/verification")
    assert (started.status_code, started.json()) == (202, {"sent_to": "email"})
    assert mailoutbox[-1].to == [email.lower()]
    code = sent_code(mailoutbox)
    stored = OneTimeCode.objects.get(scope=f"erasure-request:{request_id}")
    assert code not in stored.code_hash  # only a keyed hash is kept
    assert client.get(f"{URL}/{request_id}").json()["state"] == "verifying"
    confirmed = client.post(
        f"{URL}/{request_id}/verification/confirm", {"code": code}, format="json"
    )
    assert confirmed.status_code == 200, confirmed.json()
    assert confirmed.json()["state"] == "verified"
    assert confirmed.json()["verified_at"] is not None
    again = client.post(f"{URL}/{request_id}/verification/confirm", {"code": code}, format="json")
    assert (again.status_code, again.json()["code"]) == (409, "no_pending_code")


def test_wrong_codes_are_limited(client, mailoutbox, settings):
    settings.LUP_CODE_MAX_ATTEMPTS = 3
    request_id = file_request(client, ("email", identifiers.email()))
    client.post(f"{URL}/{request_id}/verification")
    code = sent_code(mailoutbox)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for left in (2, 1, 0):
        response = client.post(
            f"{URL}/{request_id}/verification/confirm", {"code": wrong}, format="json"
        )
        assert response.json()["code"] == "invalid_code"
        assert response.json()["fields"]["attempts_left"] == left
    blocked = client.post(f"{URL}/{request_id}/verification/confirm", {"code": code}, format="json")
    assert blocked.json()["code"] == "too_many_attempts"
    assert ErasureRequest.objects.get(pk=request_id).state == "verifying"
    # A new code starts over.
    client.post(f"{URL}/{request_id}/verification")
    ok = client.post(
        f"{URL}/{request_id}/verification/confirm", {"code": sent_code(mailoutbox)}, format="json"
    )
    assert ok.json()["state"] == "verified"


def test_an_expired_code_is_refused(client, mailoutbox, settings):
    request_id = file_request(client, ("email", identifiers.email()))
    client.post(f"{URL}/{request_id}/verification")
    later = timezone.now() + timedelta(minutes=settings.LUP_CODE_TTL_MINUTES + 1)
    from core.errors import ApplicationError

    with pytest.raises(ApplicationError) as err:
        erasure_verification_confirm(
            request=ErasureRequest.objects.get(pk=request_id),
            code=sent_code(mailoutbox),
            actor="portal",
            now=later,
        )
    assert err.value.code == "code_expired"


def test_without_an_email_staff_verify_by_other_means(client, mailoutbox):
    request_id = file_request(client, ("phone", identifiers.vietnamese_phone()))
    no_channel = client.post(f"{URL}/{request_id}/verification")
    assert (no_channel.status_code, no_channel.json()["code"]) == (400, "no_code_channel")
    assert mailoutbox == []
    missing = client.post(f"{URL}/{request_id}/verified-manually", {"reason": " "}, format="json")
    assert missing.status_code == 400
    done = client.post(
        f"{URL}/{request_id}/verified-manually",
        {"reason": "ID card checked at the Phnom Penh office"},
        format="json",
    )
    assert done.json()["state"] == "verified"
    assert done.json()["transitions"][-1]["reason"] == "ID card checked at the Phnom Penh office"
