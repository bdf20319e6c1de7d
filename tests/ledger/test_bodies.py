"""The erasure receipt bodies built in ledger/bodies.py pass format v1 as the ledger signs it."""

import uuid
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from ledger import bodies, receipts

AT = "2026-12-01T10:00:00Z"
COMMIT = "A" * 43 + "="
SIGNED = {
    "v": receipts.VERSION,
    "receipt_id": str(uuid.uuid4()),
    "issuer": "lup.test",
    "issued_at": AT,
}


def test_a_target_body_with_digests_and_a_hold_is_valid_and_omits_what_is_empty():
    target = SimpleNamespace(pk=7, kind="jsonl_file", name="eval set", country="KH")
    action = bodies.step(op="delete", method="rewrite", count=2, started_at=AT, completed_at=AT)
    check = bodies.check(method="scan", remaining=0, at=AT)
    digest = "sha256:" + "0" * 64
    body = bodies.erasure_target(
        subject_commit=COMMIT,
        request_id=uuid.uuid4(),
        target=target,
        outcome="erased",
        action=action,
        postcheck=check,
        before=digest,
        after=digest,
    )
    receipts.validate({**body, **SIGNED})
    assert (body["action"]["count"], body["target"]["location"]) == ("2", "KH")
    assert "exception" not in body
    bare = bodies.erasure_target(
        subject_commit=COMMIT,
        request_id=1,
        target=target,
        outcome="held",
        action=action,
        postcheck=check,
        exception={"basis": "litigation", "until": AT},
        before=digest,
    )
    receipts.validate({**bare, **SIGNED})
    assert "before" not in bare  # digests come in pairs or not at all


def test_a_closing_body_lists_its_targets_sorted_by_id():
    request = SimpleNamespace(
        pk=uuid.uuid4(),
        subject_commit=COMMIT,
        received_at=datetime(2026, 12, 1, tzinfo=UTC),
        verified_at=None,
        deadline=None,
        rules={"considered": ["TH", "KH"]},
    )
    leaf = "B" * 43 + "="
    body = bodies.erasure_request(
        request=request,
        outcome="completed",
        target_leaves={"9": leaf, "10": leaf, "2": leaf},
        affected_models=[(uuid.uuid4(), "retrain")],
    )
    receipts.validate({**body, **SIGNED})
    assert [t["target_id"] for t in body["targets"]] == ["10", "2", "9"]
    assert body["request"]["jurisdictions"] == ["KH", "TH"]
    assert body["request"]["verified_at"] == "2026-12-01T00:00:00Z"


@pytest.mark.parametrize("outcome", ["gone", ""])
def test_an_outcome_outside_the_format_is_refused(outcome):
    target = SimpleNamespace(pk=1, kind="manual", name="crm", country="SG")
    action = bodies.step(op="none", method="x", count=0, started_at=AT, completed_at=AT)
    body = bodies.erasure_target(
        subject_commit=COMMIT,
        request_id=1,
        target=target,
        outcome=outcome,
        action=action,
        postcheck=bodies.check(method="x", remaining=0, at=AT),
    )
    with pytest.raises(receipts.ReceiptInvalid):
        receipts.validate({**body, **SIGNED})


def test_shards_and_history_are_optional_members_checked_like_the_rest():
    target = SimpleNamespace(pk=3, kind="s3_objects", name="eval shards", country="SG")
    action = bodies.step(op="delete", method="rewrite", count=4, started_at=AT, completed_at=AT)
    body = bodies.erasure_target(
        subject_commit=COMMIT,
        request_id=uuid.uuid4(),
        target=target,
        outcome="erased",
        action=action,
        postcheck=bodies.check(method="scan", remaining=0, at=AT),
        shards=bodies.shard_summary(total=2000, changed=3, manifest="sha256:" + "a" * 64),
        history=bodies.kept_history(policy="retained", versions_checked=1, retained_until=AT),
    )
    receipts.validate({**body, **SIGNED})
    assert body["shards"] == {"total": "2000", "changed": "3", "manifest": "sha256:" + "a" * 64}
    assert body["history"]["retained_until"] == AT
    purged = bodies.kept_history(policy="purged", versions_checked=5)
    assert "retained_until" not in purged
    for broken in (
        {**body, "history": {**purged, "policy": "kept"}},
        {**body, "history": {**purged, "versions_checked": 5}},
        {**body, "shards": {**body["shards"], "manifest": "md5:00"}},
        {**body, "shards": {"total": "1", "changed": "1"}},
    ):
        with pytest.raises(receipts.ReceiptInvalid):
            receipts.validate({**broken, **SIGNED})
