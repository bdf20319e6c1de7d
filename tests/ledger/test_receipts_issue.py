"""Issuing receipts: the field rules are checked before anything is signed or logged."""

import copy

import pytest
from django.db import transaction

from ledger import selectors, verify
from ledger.keys import signer
from ledger.models import LogHead, LogLeaf, Receipt
from ledger.services import ReceiptRefused, receipts_issue
from tests import identifiers
from tests.ledger.factories import target_body

pytestmark = pytest.mark.django_db


def test_a_receipt_is_signed_canonical_and_at_the_next_index():
    first, second = receipts_issue(bodies=[target_body(0), target_body(1)])
    assert (first.leaf_index, second.leaf_index) == (0, 1)
    key = verify.parse_verifier_key(signer().verifier_key)
    payload = verify.open_envelope(selectors.envelope(first), key)
    assert payload["v"] == "lup-receipt/1"
    assert payload["issuer"] == signer().name
    assert payload["issued_at"].endswith("Z")
    assert payload["receipt_id"] == str(first.receipt_id)
    assert bytes(LogLeaf.objects.get(index=0).leaf) == verify.leaf_input(bytes(first.payload))
    assert LogHead.objects.get().size == 2


def _with(path: str, value):
    body = target_body()
    node = body
    *parents, last = path.split(".")
    for part in parents:
        node = node[part]
    node[last] = value
    return body


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_with("target.name", "sokha@example.com"), "target.name"),
        (_with("target.name", "call +855 12 345 678"), "target.name"),
        (_with("request.id", "a" * 64), "request.id"),
        (_with("action.count", 3), "action.count"),
        (_with("action.count", "03"), "action.count"),
        (_with("action.started_at", "2026-11-26T09:59:59+07:00"), "action.started_at"),
        (_with("action.started_at", "2026-11-26T09:59:59.1234567Z"), "action.started_at"),
        (_with("outcome", "vanished"), "outcome"),
        (_with("target.location", "Singapore"), "target.location"),
        ({**target_body(), "note": "free text from the subject"}, "note"),
        ({k: v for k, v in target_body().items() if k != "postcheck"}, "postcheck"),
        ({**target_body(), "type": "gossip"}, "type"),
    ],
)
def test_a_payload_breaking_the_rules_is_refused_and_nothing_is_logged(body, field):
    with pytest.raises(ReceiptRefused) as err:
        receipts_issue(bodies=[body])
    assert field in err.value.fields
    assert not LogLeaf.objects.exists() and not Receipt.objects.exists()


def test_the_refusal_does_not_echo_the_personal_data():
    email = identifiers.email()
    with pytest.raises(ReceiptRefused) as err:
        receipts_issue(bodies=[_with("target.name", email)])
    assert email not in str(err.value.detail) + str(err.value.fields)


def test_a_receipt_exists_only_if_the_callers_transaction_commits():
    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        receipts_issue(bodies=[target_body()])
        raise Abort
    assert not Receipt.objects.exists()
    assert selectors.log_size() == 0
    assert receipts_issue(bodies=[target_body()])[0].leaf_index == 0


def test_erasure_request_targets_must_be_sorted():
    body = {
        "type": "erasure.request",
        "subject": copy.deepcopy(target_body()["subject"]),
        "request": {
            "id": "r1",
            "received_at": "2026-11-01T00:00:00Z",
            "verified_at": "2026-11-01T00:05:00Z",
            "deadline": "2026-11-04T00:05:00Z",
            "jurisdictions": ["ID", "TH"],
        },
        "outcome": "completed",
        "targets": [
            {"target_id": "t2", "leaf": target_body()["subject"]["commit"]},
            {"target_id": "t1", "leaf": target_body()["subject"]["commit"]},
        ],
        "affected_models": [],
    }
    with pytest.raises(ReceiptRefused):
        receipts_issue(bodies=[body])
    body["targets"].reverse()
    assert receipts_issue(bodies=[body])[0].type == "erasure.request"
