"""Issuing receipts: the field rules are checked before anything is signed or logged; receipts
issued together are one append, making the log that appends one by one would have made."""

import copy

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from ledger import selectors, verify
from ledger.audit import audit_log
from ledger.keys import signer
from ledger.models import LogHead, LogLeaf, Receipt
from ledger.services import (
    LogRolledBack,
    ReceiptRefused,
    receipts_appended_together,
    receipts_issue,
)
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


def _appends(queries) -> dict[str, int]:
    sent = [q["sql"] for q in queries]
    return {
        "head locks": len([q for q in sent if 'FROM "ledger_loghead"' in q and "FOR UPDATE" in q]),
        "leaf inserts": len([q for q in sent if q.startswith('INSERT INTO "ledger_logleaf"')]),
    }


def test_receipts_issued_together_are_one_append_with_the_log_they_would_have_made():
    receipts_issue(bodies=[target_body(0)])  # a log that is not empty
    with (
        CaptureQueriesContext(connection) as queries,
        transaction.atomic(),
        receipts_appended_together(),
    ):
        first = receipts_issue(bodies=[target_body(1), target_body(2)])
        assert selectors.log_size() == 1  # held until the block ends
        second = receipts_issue(bodies=[target_body(3)], checkpoint=True)
    assert _appends(queries) == {"head locks": 1, "leaf inserts": 1}
    assert [r.leaf_index for r in (*first, *second)] == [1, 2, 3]
    assert selectors.log_size() == 4
    checkpoint = selectors.latest_checkpoint()
    assert checkpoint.size == 4
    report = audit_log()
    assert report.ok, report.problems
    assert (report.size, report.receipts, report.checkpoints) == (4, 4, 1)


def test_a_block_left_by_an_exception_appends_nothing():
    class Abort(Exception):
        pass

    with transaction.atomic():
        with pytest.raises(Abort), receipts_appended_together():
            receipts_issue(bodies=[target_body(0)])
            raise Abort
        assert receipts_issue(bodies=[target_body(1)])[0].leaf_index == 0
    assert (selectors.log_size(), Receipt.objects.count()) == (1, 1)


def test_a_receipt_issued_in_a_savepoint_inside_the_block_is_written_after_the_held():
    with transaction.atomic(), receipts_appended_together():
        held = receipts_issue(bodies=[target_body(0)])
        with transaction.atomic():  # a nested service's savepoint
            nested = receipts_issue(bodies=[target_body(1)])
        after = receipts_issue(bodies=[target_body(2)], checkpoint=True)
    assert [r.leaf_index for r in (*held, *nested, *after)] == [0, 1, 2]
    report = audit_log()
    assert report.ok, report.problems
    assert (report.size, report.receipts, report.checkpoints) == (3, 3, 1)


@pytest.mark.parametrize("more", [True, False])
def test_a_savepoint_that_took_the_held_receipts_with_it_fails_the_block(more):
    class Abort(Exception):
        pass

    with pytest.raises(LogRolledBack), transaction.atomic(), receipts_appended_together():
        receipts_issue(bodies=[target_body(0)])
        with pytest.raises(Abort), transaction.atomic():
            receipts_issue(bodies=[target_body(1)])
            raise Abort
        if more:
            receipts_issue(bodies=[target_body(2)])
    assert selectors.log_size() == 0
