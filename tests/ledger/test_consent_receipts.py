"""Every consent event gets a signed receipt in the log; the API hands it out with its proof
and the opening of the subject commitment, which verify offline."""

import pytest

from consent.models import ConsentEvent
from ledger import verify
from ledger.keys import signer
from ledger.models import Receipt
from ledger.selectors import bundle, latest_checkpoint
from tests import identifiers
from tests.consent import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def writer(api):
    f.notice(language="km")
    f.notice(language="en")
    return api("consent:write")


def event_body(email: str, status: str = "given") -> dict:
    return {
        "subject": {"id_type": "email", "value": f"  {email.upper()} "},
        "purpose": "train_ai_system",
        "status": status,
        "legal_basis": "consent",
        "jurisdiction": "KH",
        "notice": {"key": "privacy", "version": 1, "language": "km"},
    }


def test_the_api_returns_a_receipt_that_verifies_and_opens_for_the_subject(writer):
    email = identifiers.email()
    response = writer.post("/api/v1/consent/events", event_body(email), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    key = verify.parse_verifier_key(signer().verifier_key)
    document = {
        "format": "lup-bundle/1",
        "verifier_key": signer().verifier_key,
        "receipts": [{"envelope": body["receipt"]["envelope"], "proof": body["receipt"]["proof"]}],
        "opening": body["opening"],
    }
    lines = verify.verify_bundle(document, key, identifier=email)
    assert lines
    payload = verify.open_envelope(body["receipt"]["envelope"], key)
    assert payload["type"] == "consent"
    assert payload["consent"] == {
        "purpose": "train_ai_system",
        "status": "given",
        "legal_basis": "consent",
        "jurisdiction": "KH",
        "method": "api",
        "event_time": payload["consent"]["event_time"],
        "notice": {"id": "privacy/km", "version": "1", "digest": f.notice(language="km").digest},
    }
    with pytest.raises(verify.VerificationError) as err:
        verify.verify_bundle(document, key, identifier=identifiers.email())
    assert err.value.check == "commitment"
    # The receipt holds no identifier, key or pseudonym of the subject.
    raw = str(payload)
    event = ConsentEvent.objects.get(id=body["id"])
    for secret in (email, email.lower(), *event.subject.identifiers.values_list("key", flat=True)):
        assert secret not in raw
    assert str(event.receipt_id) == body["receipt"]["receipt_id"]


def test_withdrawals_and_imports_are_receipted_too(writer):
    email = identifiers.email()
    writer.post("/api/v1/consent/events", event_body(email), format="json")
    withdrawal = writer.post(
        "/api/v1/consent/events", event_body(email, "withdrawn"), format="json"
    ).json()
    key = verify.parse_verifier_key(signer().verifier_key)
    payload = verify.open_envelope(withdrawal["receipt"]["envelope"], key)
    assert payload["consent"]["status"] == "withdrawn"

    ref = f.subject()
    result = f.record(f.event(ref, "marketing"), f.event(ref, "train_ai_system"))
    assert len(result.receipts) == 2
    assert Receipt.objects.filter(type="consent").count() == 4
    assert set(ConsentEvent.objects.values_list("receipt_id", flat=True)) == set(
        Receipt.objects.values_list("receipt_id", flat=True)
    )


def test_a_subject_bundle_of_several_consent_receipts(writer):
    email = identifiers.email()
    ref = f.subject(email)
    result = f.record(f.event(ref, "marketing"), f.event(ref, "train_ai_system"))
    from ledger.services import checkpoint_create

    checkpoint_create()
    # Both events share the subject's commitment and its one opening.
    document = bundle(
        receipts=result.receipts,
        checkpoint=latest_checkpoint(),
        verifier_key=signer().verifier_key,
        opening=ref.opening.as_dict(),
    )
    key = verify.parse_verifier_key(signer().verifier_key)
    assert verify.verify_bundle(document, key, identifier=email)
