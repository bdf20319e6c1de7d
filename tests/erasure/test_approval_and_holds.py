"""Approval gates, staff decisions on affected models, denial, and legal holds."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from erasure.models import ErasureRequest, LegalHold, Target, TargetRun
from erasure.runs import target_run_execute
from erasure.services import erasure_request_transition
from ledger.models import Receipt
from lineage import services as lineage
from lineage.services import VersionInput
from tests import identifiers
from tests.erasure.approvals import approve_proposed_targets

pytestmark = pytest.mark.django_db
URL = "/api/v1/erasure-requests"


@pytest.fixture
def staff(api, tmp_path, settings):
    settings.LUP_FILE_ROOTS = [str(tmp_path)]
    return api("erasure:write", "erasure:read")


@pytest.fixture
def officer(api):
    """A second person, who approves and denies (four eyes)."""
    return api("erasure:approve", "erasure:write", "erasure:read")


def planned_request(staff, tmp_path, *, with_model: bool):
    email = identifiers.email()
    (tmp_path / "train.jsonl").write_text(json.dumps({"email": email.lower()}) + "\n")
    version = lineage.version_register(
        dataset=lineage.dataset_register(namespace="s3://train", name="chats"),
        data=VersionInput(version="1"),
    )
    if with_model:
        lineage.model_version_register(
            namespace="m", name="assistant", version="1", trained_on=[version]
        )
    staff.post(
        "/api/v1/erasure/targets",
        {
            "name": "training-set",
            "kind": "jsonl_file",
            "country": "VN",
            "always": True,
            "requires_approval": True,
            "config": {"path": "train.jsonl", "match": {"email": "email"}},
        },
        format="json",
    )
    approve_proposed_targets()
    import io

    from lineage.membership import membership_upload

    membership_upload(
        version=version,
        stream=io.BytesIO(f"{email}\n".encode()),
        content_type="text/plain",
        id_type="email",
    )
    created = staff.post(
        URL, {"identifiers": [{"id_type": "email", "value": email}]}, format="json"
    ).json()
    erasure_request_transition(
        request=ErasureRequest.objects.get(pk=created["id"]),
        to_state="verified",
        actor="staff:t",
        reason="checked",
    )
    plan = staff.post(f"{URL}/{created['id']}/plan").json()
    assert plan["state"] == "awaiting_approval"
    return created["id"], email


def test_approval_needs_every_affected_model_decided(staff, officer, tmp_path):
    request_id, _ = planned_request(staff, tmp_path, with_model=True)
    early = officer.post(f"{URL}/{request_id}/approve", {"reason": "ok"}, format="json")
    assert (early.status_code, early.json()["code"]) == (409, "models_undecided")
    model_id = str(ErasureRequest.objects.get(pk=request_id).affected_models.get().model_version_id)
    keep = staff.post(
        f"{URL}/{request_id}/model-decisions",
        {"model_version": model_id, "decision": "keep"},
        format="json",
    )
    assert (keep.status_code, keep.json()["code"]) == (400, "justification_required")
    decided = staff.post(
        f"{URL}/{request_id}/model-decisions",
        {"model_version": model_id, "decision": "retrain"},
        format="json",
    )
    assert decided.json()["decision"] == "retrain"
    approved = officer.post(
        f"{URL}/{request_id}/approve", {"reason": "DPO approved"}, format="json"
    )
    assert approved.json()["state"] == "executing", approved.json()
    assert TargetRun.objects.filter(request_id=request_id).count() == 1


def test_a_denied_request_closes_with_a_receipt(staff, officer, tmp_path):
    request_id, _ = planned_request(staff, tmp_path, with_model=False)
    denied = officer.post(
        f"{URL}/{request_id}/deny", {"reason": "not the account holder"}, format="json"
    ).json()
    assert denied["state"] == "denied"
    closing = Receipt.objects.get(type="erasure.request")
    payload = json.loads(bytes(closing.payload))
    assert payload["outcome"] == "denied" and payload["targets"] == []
    assert not TargetRun.objects.exists()


def test_a_legal_hold_keeps_the_data_and_says_why(
    staff, officer, tmp_path, django_capture_on_commit_callbacks
):
    request_id, email = planned_request(staff, tmp_path, with_model=False)
    until = timezone.now() + timedelta(days=365)
    LegalHold.objects.create(
        target=Target.objects.get(name="training-set"),
        basis="litigation-2026-07",
        until=until,
        created_by="staff:t",
    )
    officer.post(f"{URL}/{request_id}/approve", {"reason": "approved"}, format="json")
    with django_capture_on_commit_callbacks(execute=True):
        run = target_run_execute(run_id=TargetRun.objects.get(request_id=request_id).pk)
    assert (run.status, run.outcome) == ("done", "held")
    assert email.lower() in (tmp_path / "train.jsonl").read_text()  # kept, as the hold says
    receipt = json.loads(bytes(Receipt.objects.get(receipt_id=run.receipt_id).payload))
    assert receipt["outcome"] == "held"
    assert receipt["exception"]["basis"] == "litigation-2026-07"
    assert receipt["postcheck"]["remaining"] == "1"
    assert ErasureRequest.objects.get(pk=request_id).state == "partially_completed"


def test_legal_holds_through_the_api(staff):
    until = (timezone.now() + timedelta(days=30)).isoformat()
    scopeless = staff.post(
        "/api/v1/erasure/legal-holds", {"basis": "x", "until": until}, format="json"
    )
    assert (scopeless.status_code, scopeless.json()["code"]) == (400, "hold_scope_required")
    bad_key = staff.post(
        "/api/v1/erasure/legal-holds",
        {"basis": "x", "until": until, "subject_key": "nope"},
        format="json",
    )
    assert (bad_key.status_code, bad_key.json()["code"]) == (400, "invalid_key")
    # The basis goes into receipts as a code: free text would be refused when the hold applies.
    prose = staff.post(
        "/api/v1/erasure/legal-holds",
        {"basis": "court order of 3 May", "until": until, "subject_key": "a" * 64},
        format="json",
    )
    assert (prose.status_code, prose.json()["code"]) == (400, "invalid_basis")
    made = staff.post(
        "/api/v1/erasure/legal-holds",
        {"basis": "tax-retention", "until": until, "subject_key": "a" * 64},
        format="json",
    )
    assert made.status_code == 201, made.json()
    assert made.json()["created_by"].startswith("token:")
    assert [h["basis"] for h in staff.get("/api/v1/erasure/legal-holds").json()["holds"]] == [
        "tax-retention"
    ]


def test_an_unreachable_target_is_retried_then_failed_with_its_reason(
    staff, tmp_path, monkeypatch, settings, django_capture_on_commit_callbacks
):
    from erasure.tasks import erasure_run_target

    monkeypatch.setenv("DOWN_DSN", "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2")
    staff.post(
        "/api/v1/erasure/targets",
        {
            "name": "down-db",
            "kind": "postgres_table",
            "country": "SG",
            "always": True,
            "config": {
                "dsn_env": "DOWN_DSN",
                "table": "users",
                "match": {"email": "email"},
                "timeout_seconds": 3,
            },
            "check": False,  # registered while down; its runs find it so
        },
        format="json",
    )
    approve_proposed_targets()
    created = staff.post(
        URL, {"identifiers": [{"id_type": "email", "value": identifiers.email()}]}, format="json"
    ).json()
    request = ErasureRequest.objects.get(pk=created["id"])
    erasure_request_transition(
        request=request, to_state="verified", actor="staff:t", reason="checked"
    )
    with django_capture_on_commit_callbacks(execute=False):
        assert staff.post(f"{URL}/{request.pk}/plan").json()["state"] == "executing"
    run = TargetRun.objects.get(request=request)

    # A failed attempt is recorded on the run, which stays pending for another try (run
    # in-process here, as without a broker: the in-process sweeper tries it when due)…
    assert erasure_run_target.apply(args=[run.pk], throw=True).get() == "pending"
    run.refresh_from_db()
    assert (run.status, run.attempts, run.last_error) == ("pending", 1, "target_unavailable")
    assert run.retry_at is not None
    # …and once the attempts are spent, the target is failed, with why.
    settings.LUP_RUN_MAX_ATTEMPTS = 3
    assert erasure_run_target.apply(args=[run.pk]).get() == "pending"
    with django_capture_on_commit_callbacks(execute=True):
        result = erasure_run_target.apply(args=[run.pk])
    assert result.get() == "failed"
    run.refresh_from_db()
    assert (run.status, run.last_error, run.receipt_id) == ("failed", "target_unavailable", None)
    assert (run.attempts, run.retry_at) == (3, None)
    assert ErasureRequest.objects.get(pk=request.pk).state == "partially_completed"
