"""The compliance officer's page of an erasure request in the admin: the rule behind its
deadline, its timeline, its plan drawn from lineage, its runs with receipts that verify, and the
decisions staff record on it, each with a reason, each refused to roles that may not act."""

import io
import json
import re
import uuid
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone
from django.utils.html import escape

from connectors.jsonl_file import JsonlFile
from erasure.gate import erasure_request_gate
from erasure.models import AffectedModel, ErasureRequest, LegalHold, Target, TargetRun
from erasure.planning import erasure_request_plan
from erasure.runs import target_run_execute
from erasure.services import erasure_request_create, erasure_request_transition
from ledger import verify
from ledger.keys import signer
from ledger.models import Receipt
from lineage import services as lineage
from lineage.membership import membership_upload
from lineage.models import Dataset, DatasetVersion, Membership, ModelVersion
from lineage.services import VersionInput
from targets.services import target_save
from tests import identifiers

pytestmark = pytest.mark.django_db
ADMIN = "/admin/erasure/erasurerequest"
ACTIONS = ("approve", "deny", "legal-hold", "model-decision", "retry-failed")


@dataclass
class Filed:
    request: ErasureRequest
    email: str
    raw: DatasetVersion
    train: DatasetVersion
    model: ModelVersion

    @property
    def page(self) -> str:
        return f"{ADMIN}/{self.request.pk}/change/"

    def url(self, action: str) -> str:
        return f"{ADMIN}/{self.request.pk}/{action}/"

    def fresh(self) -> ErasureRequest:
        return ErasureRequest.objects.get(pk=self.request.pk)


def logged_in(django_user_model, role: str) -> Client:
    user = django_user_model.objects.create_user(f"{role}-1", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def officer(django_user_model) -> Client:
    return logged_in(django_user_model, "compliance_officer")


@pytest.fixture
def auditor(django_user_model) -> Client:
    return logged_in(django_user_model, "auditor")


@pytest.fixture
def engineer(django_user_model) -> Client:
    return logged_in(django_user_model, "engineer")


@pytest.fixture
def filed(tmp_path, settings) -> Filed:
    """A Thai subject in a raw chat set, a training set derived from it, and a model trained
    on that: planned and awaiting approval (a target requires it, and a model is affected)."""
    settings.LUP_FILE_ROOTS = [str(tmp_path)]
    email = identifiers.email()
    other = identifiers.email()
    for name in ("raw", "train"):
        (tmp_path / f"{name}.jsonl").write_text(
            json.dumps({"email": email.lower()})
            + "\n"
            + json.dumps({"email": other.lower()})
            + "\n"
        )
    raw = lineage.version_register(
        dataset=lineage.dataset_register(namespace="s3://raw", name="chats"),
        data=VersionInput(version="1"),
    )
    train = lineage.version_register(
        dataset=lineage.dataset_register(namespace="s3://train", name="chats-clean"),
        data=VersionInput(version="2"),
    )
    lineage.run_record(
        run_id=uuid.uuid4(),
        job=lineage.job_register(namespace="j", name="clean"),
        state="COMPLETE",
        inputs=[raw],
        outputs=[train],
    )
    membership_upload(
        version=raw,
        stream=io.BytesIO(f"{email}\n".encode()),
        content_type="text/plain",
        id_type="email",
    )
    model = lineage.model_version_register(
        namespace="models", name="assistant", version="7", trained_on=[train]
    )
    target_save(
        name="raw-chats",
        kind="jsonl_file",
        country="TH",
        versions=[raw.pk],
        config={"path": "raw.jsonl", "match": {"email": "email"}},
    )
    target_save(
        name="training-set",
        kind="jsonl_file",
        country="SG",
        versions=[train.pk],
        config={"path": "train.jsonl", "match": {"email": "email"}},
        requires_approval=True,
    )
    request, _ = erasure_request_create(
        identifiers=[{"id_type": "email", "value": email}],
        country="TH",
        channel="admin",
        actor="staff:intake",
    )
    erasure_request_transition(
        request=request,
        to_state="verified",
        actor="staff:intake",
        reason="identity checked at the counter",
    )
    planned = erasure_request_plan(request=request, actor="system")
    gated = erasure_request_gate(request=planned, actor="system")
    assert gated.state == "awaiting_approval"
    return Filed(request=gated, email=email, raw=raw, train=train, model=model)


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def decide(client: Client, filed: Filed, decision: str = "retrain", justification: str = ""):
    return client.post(
        filed.url("model-decision"),
        {
            "model_version": str(filed.model.pk),
            "decision": decision,
            "justification": justification,
        },
        follow=True,
    )


def approved_and_run(
    officer: Client, filed: Filed, enqueued: list[int], django_capture_on_commit_callbacks
) -> None:
    decide(officer, filed)
    with django_capture_on_commit_callbacks(execute=True):
        officer.post(filed.url("approve"), {"reason": "DPO approved"})
    for run_id in enqueued:
        with django_capture_on_commit_callbacks(execute=True):
            target_run_execute(run_id=run_id)


def test_the_page_shows_the_rule_the_timeline_and_the_plan_with_its_picture(officer, filed):
    page = officer.get(filed.page)
    assert page.status_code == 200
    html = page.content.decode()
    # The rule that set the deadline: the deciding jurisdictions, their sources, a link to them.
    deadline = filed.request.rules["erasure_deadline"]
    assert deadline["from"] != "policy"
    for code, rule in deadline["rules"].items():
        assert f'<strong class="deciding-jurisdiction">{code}</strong>' in html
        assert f'href="/admin/jurisdictions/?country={code}#{code}"' in html
        assert rule["sources"][0] in html
    assert "Subject's country: <strong>TH</strong>" in html
    # The timeline: every transition with actor and reason.
    for step in filed.request.transitions.all():
        row = f"<td>{step.to_state}</td><td>{step.actor}</td><td>{escape(step.reason)}</td>"
        assert row in html
    assert "identity checked at the counter" in html
    # The plan: reasons, lineage paths with links, and the picture of it all.
    assert "s3://raw:chats version 1 holds this subject (membership uploaded)" in html
    assert "s3://train:chats-clean version 2 derives from data holding this subject" in html
    assert f'href="/admin/lineage/datasetversion/{filed.raw.pk}/change/"' in html
    svg = re.search(r'<svg [^>]*aria-label="The plan.*?</svg>', html, re.S).group(0)
    for label in (
        "chats @ 1",
        "chats-clean @ 2",
        "raw-chats",
        "training-set",
        "models:assistant @ 7",
        "holds the subject",
    ):
        assert label in svg
    assert svg.count("<line ") == 4  # raw → train, raw → raw-chats, train → set, train → model
    # Read-only fields, and the officer's decisions.
    assert 'name="_save"' not in html
    for action in ("approve", "deny", "legal-hold", "model-decision"):
        assert f'action="{filed.url(action)}"' in html
    assert f'action="{filed.url("retry-failed")}"' not in html  # nothing has failed


def test_a_request_not_yet_verified_has_its_page_and_refuses_approval(officer):
    request, _ = erasure_request_create(
        identifiers=[{"id_type": "email", "value": identifiers.email()}],
        country=None,
        channel="admin",
        actor="staff:intake",
    )
    page = officer.get(f"{ADMIN}/{request.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "The deadline and its rule are set when the subject's identity is verified." in html
    assert "Not planned yet." in html and "Nothing has run yet." in html
    assert f'action="{ADMIN}/{request.pk}/approve/"' not in html
    assert f'action="{ADMIN}/{request.pk}/deny/"' in html  # a received request may be denied
    refused = officer.post(f"{ADMIN}/{request.pk}/approve/", {"reason": "fine"}, follow=True)
    assert "This request is not awaiting approval. (invalid_transition)" in messages_of(refused)
    assert ErasureRequest.objects.get(pk=request.pk).state == "received"


def test_approving_with_a_reason_starts_the_request_as_the_officer(
    officer, filed, enqueued, django_capture_on_commit_callbacks
):
    decided = decide(officer, filed)
    assert "Decided retrain for models:assistant @ 7" in messages_of(decided)
    with django_capture_on_commit_callbacks(execute=True):
        response = officer.post(filed.url("approve"), {"reason": "  DPO approved by phone "})
    assert response.status_code == 302 and response["Location"] == filed.page
    request = filed.fresh()
    assert request.state == "executing"
    last = request.transitions.last()
    assert (last.from_state, last.to_state, last.actor, last.reason) == (
        "awaiting_approval",
        "executing",
        "staff:compliance_officer-1",
        "DPO approved by phone",
    )
    runs = TargetRun.objects.filter(request=request)
    assert sorted(enqueued) == sorted(runs.values_list("pk", flat=True)) and len(enqueued) == 2
    assert LogEntry.objects.filter(
        object_id=str(request.pk), change_message="Approved: DPO approved by phone"
    ).exists()
    shown = officer.get(filed.page)
    assert "Approved: DPO approved by phone" in messages_of(shown)
    assert f'action="{filed.url("approve")}"' not in shown.content.decode()


def test_approving_without_a_reason_shows_an_error_and_changes_nothing(officer, filed):
    before = filed.request.transitions.count()
    undecided = officer.post(filed.url("approve"), {"reason": "fine"}, follow=True)
    assert "Decide on every affected model first. (models_undecided)" in messages_of(undecided)
    decide(officer, filed)
    blank = officer.post(filed.url("approve"), {"reason": "   "}, follow=True)
    assert blank.redirect_chain == [(filed.page, 302)]
    assert "Say why it is approved. (reason_required)" in messages_of(blank)
    assert filed.fresh().state == "awaiting_approval"
    assert filed.request.transitions.count() == before
    assert not TargetRun.objects.filter(request=filed.request).exists()


def test_denying_closes_the_request_with_the_reason(officer, filed):
    response = officer.post(filed.url("deny"), {"reason": "not the account holder"}, follow=True)
    assert "Denied: not the account holder" in messages_of(response)
    request = filed.fresh()
    assert request.state == "denied" and request.closing_receipt_id is not None
    last = request.transitions.last()
    assert (last.to_state, last.actor, last.reason) == (
        "denied",
        "staff:compliance_officer-1",
        "not the account holder",
    )
    html = response.content.decode()
    assert f"/receipts/{request.closing_receipt_id}.json" in html  # the closing receipt
    assert f'action="{filed.url("deny")}"' not in html  # closed: nothing left to deny


def test_a_legal_hold_is_placed_on_the_requests_subject(officer, filed):
    until = (timezone.localdate() + timedelta(days=365)).isoformat()
    prose = officer.post(
        filed.url("legal-hold"),
        {"basis": "court order of 3 May", "until": until, "reason": "litigation"},
        follow=True,
    )
    assert any("(invalid_basis)" in m for m in messages_of(prose))
    assert not LegalHold.objects.exists()
    held = officer.post(
        filed.url("legal-hold"),
        {"basis": "litigation-2026-7", "until": until, "reason": "court asked us to keep it"},
        follow=True,
    )
    assert any(
        m.startswith("Legal hold litigation-2026-7 on this subject") for m in messages_of(held)
    )
    keys = set(filed.request.subject_keys.values_list("key", flat=True))
    holds = LegalHold.objects.all()
    assert {h.subject_key for h in holds} == keys
    assert {(h.basis, h.created_by, h.target_id) for h in holds} == {
        ("litigation-2026-7", "staff:compliance_officer-1", None)
    }
    assert all(h.until.date().isoformat() == until for h in holds)
    assert '<tr class="hold"><td>litigation-2026-7</td>' in held.content.decode()


def test_a_decision_on_an_affected_model_is_recorded(officer, filed):
    refused = decide(officer, filed, "keep")
    assert "Keeping a model needs a written justification. (justification_required)" in (
        messages_of(refused)
    )
    affected = AffectedModel.objects.get(request=filed.request)
    assert affected.decision == "pending"
    decide(officer, filed, "keep", "a retrain is scheduled for next month anyway")
    affected.refresh_from_db()
    assert (affected.decision, affected.justification, affected.decided_by) == (
        "keep",
        "a retrain is scheduled for next month anyway",
        "staff:compliance_officer-1",
    )


def test_retrying_failed_targets_resets_them_and_runs_them_again(
    officer, filed, enqueued, monkeypatch, tmp_path, django_capture_on_commit_callbacks
):
    # Another process writes the subject back into the training set during the erase: the
    # post-check finds it and that target fails, with a receipt that says so.
    original = JsonlFile.verify_groups

    def written_back(self, groups):
        if self.config["path"] == "train.jsonl":
            with (tmp_path / "train.jsonl").open("a") as handle:
                handle.write(json.dumps({"email": filed.email.lower()}) + "\n")
        return original(self, groups)

    monkeypatch.setattr(JsonlFile, "verify_groups", written_back)
    approved_and_run(officer, filed, enqueued, django_capture_on_commit_callbacks)
    monkeypatch.setattr(JsonlFile, "verify_groups", original)
    request = filed.fresh()
    assert request.state == "partially_completed"
    failed = TargetRun.objects.get(request=request, target__name="training-set")
    assert (failed.status, failed.outcome, failed.attempts) == ("failed", "failed", 1)
    failed_receipt, first_closing = failed.receipt_id, request.closing_receipt_id
    page = officer.get(filed.page).content.decode()
    assert f'action="{filed.url("retry-failed")}"' in page

    enqueued.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = officer.post(
            filed.url("retry-failed"), {"reason": "the writer is stopped"}, follow=True
        )
    assert "1 failed target(s) run again: the writer is stopped" in messages_of(response)
    failed.refresh_from_db()
    assert (
        failed.status,
        failed.outcome,
        failed.last_error,
        failed.receipt_id,
        failed.attempts,
    ) == ("pending", "", "", None, 1)
    assert enqueued == [failed.pk]
    request = filed.fresh()
    assert (request.state, request.closed_at, request.closing_receipt_id) == (
        "executing",
        None,
        None,
    )
    last = request.transitions.last()
    assert (last.from_state, last.to_state, last.actor, last.reason) == (
        "partially_completed",
        "executing",
        "staff:compliance_officer-1",
        "the writer is stopped",
    )
    # The failed receipt and the first closing receipt stay in the ledger as history.
    assert Receipt.objects.filter(receipt_id__in=[failed_receipt, first_closing]).count() == 2

    with django_capture_on_commit_callbacks(execute=True):
        target_run_execute(run_id=failed.pk)
    failed.refresh_from_db()
    assert (failed.status, failed.outcome, failed.attempts) == ("done", "erased", 2)
    request = filed.fresh()
    assert request.state == "completed"
    assert request.closing_receipt_id not in (None, first_closing)
    assert filed.email.lower() not in (tmp_path / "train.jsonl").read_text()


def test_the_runs_show_their_receipts_which_download_and_verify_offline(
    officer, filed, enqueued, django_capture_on_commit_callbacks
):
    approved_and_run(officer, filed, enqueued, django_capture_on_commit_callbacks)
    assert filed.fresh().state == "completed"
    html = officer.get(filed.page).content.decode()
    key = verify.parse_verifier_key(signer().verifier_key)
    for run in TargetRun.objects.filter(request=filed.request):
        assert (run.status, run.outcome) == ("done", "erased")
        assert f'<tr class="run run-done">\n        <td>{run.target.name}</td>' in html
        assert f"/receipts/{run.receipt_id}/verify/" in html
        download = officer.get(f"{ADMIN}/{filed.request.pk}/receipts/{run.receipt_id}.json")
        assert download.status_code == 200
        assert download["Content-Type"] == "application/json"
        assert "attachment" in download["Content-Disposition"]
        document = json.loads(download.content)
        assert document["receipt_id"] == str(run.receipt_id)
        checked = verify.verify_receipt(document["envelope"], document["proof"], key)
        assert checked.payload["target"]["name"] == run.target.name
        assert checked.payload["postcheck"]["remaining"] == "0"
    assert "delete 1 by " in html and "0 remaining" in html
    # Only this request's receipts are served here.
    other = (
        Receipt.objects.exclude(
            receipt_id__in=TargetRun.objects.values_list("receipt_id", flat=True)
        )
        .exclude(receipt_id=filed.fresh().closing_receipt_id)
        .first()
    )
    if other is not None:
        assert (
            officer.get(f"{ADMIN}/{filed.request.pk}/receipts/{other.receipt_id}.json").status_code
            == 404
        )
    assert (
        officer.get(f"{ADMIN}/{filed.request.pk}/receipts/{uuid.uuid4()}.json").status_code == 404
    )


def test_verify_reports_ok_and_names_the_failed_check_of_a_tampered_receipt(
    officer, filed, enqueued, django_capture_on_commit_callbacks
):
    approved_and_run(officer, filed, enqueued, django_capture_on_commit_callbacks)
    run = TargetRun.objects.filter(request=filed.request).first()
    url = f"{ADMIN}/{filed.request.pk}/receipts/{run.receipt_id}/verify/"
    ok = officer.post(url, follow=True)
    assert ok.redirect_chain == [(filed.page, 302)]
    assert any(m.startswith(f"Receipt {run.receipt_id} verifies") for m in messages_of(ok))

    receipt = Receipt.objects.get(receipt_id=run.receipt_id)
    tampered = bytes(receipt.payload).replace(b'"remaining":"0"', b'"remaining":"9"')
    assert tampered != bytes(receipt.payload)
    Receipt.objects.filter(pk=receipt.pk).update(payload=tampered)
    bad = officer.post(url, follow=True)
    assert (
        f"Receipt {run.receipt_id} does not verify: envelope.signature: the Ed25519 "
        "signature is not valid" in messages_of(bad)
    )


def test_each_plan_entry_explains_itself_with_its_path_and_membership(officer, filed):
    entry = filed.request.plan.get(target__name="training-set")
    html = officer.get(filed.page).content.decode()
    url = f"{ADMIN}/{filed.request.pk}/plan/{entry.pk}/"
    assert f'href="{url}"' in html
    page = officer.get(url)
    assert page.status_code == 200
    explained = page.content.decode()
    assert entry.reasons[0] in explained
    path = re.search(r'<ol class="path">.*?</ol>', explained, re.S).group(0)
    assert path.index(f"/admin/lineage/datasetversion/{filed.raw.pk}/change/") < path.index(
        f"/admin/lineage/datasetversion/{filed.train.pk}/change/"
    )
    membership = Membership.objects.get(version=filed.raw)
    assert f"membership #{membership.pk}" in explained
    assert f"<code>{membership.subject_key[:12]}…</code>" in explained
    assert officer.get(f"{ADMIN}/{filed.request.pk}/plan/999999/").status_code == 404


def test_an_auditor_sees_the_page_but_no_decision_and_every_forged_post_is_refused(auditor, filed):
    page = auditor.get(filed.page)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'aria-label="The plan' in html and "identity checked at the counter" in html
    assert "request-action" not in html
    for action in ACTIONS:
        assert filed.url(action) not in html
    before = (filed.request.transitions.count(), LogEntry.objects.count())
    until = (timezone.localdate() + timedelta(days=30)).isoformat()
    forged = {
        "approve": {"reason": "looks fine"},
        "deny": {"reason": "no"},
        "legal-hold": {"basis": "litigation-1", "until": until, "reason": "keep"},
        "model-decision": {"model_version": str(filed.model.pk), "decision": "retrain"},
        "retry-failed": {"reason": "again"},
    }
    for action, data in forged.items():
        assert auditor.post(filed.url(action), data).status_code == 403, action
    assert filed.fresh().state == "awaiting_approval"
    assert (filed.request.transitions.count(), LogEntry.objects.count()) == before
    assert not LegalHold.objects.exists()
    assert AffectedModel.objects.get(request=filed.request).decision == "pending"


def test_an_engineer_adds_a_target_but_cannot_approve(engineer, filed, tmp_path):
    assert engineer.get("/admin/erasure/target/add/").status_code == 200
    added = engineer.post(
        "/admin/erasure/target/add/",
        {
            "name": "eval-logs",
            "kind": "jsonl_file",
            "country": "KH",
            "config": json.dumps({"path": "evals.jsonl", "match": {"email": "email"}}),
            "_save": "Save",
        },
    )
    assert added.status_code == 302, added.content.decode()[:2000]
    assert Target.objects.get(name="eval-logs").id_types == ["email"]
    assert "request-action" not in engineer.get(filed.page).content.decode()
    assert engineer.post(filed.url("approve"), {"reason": "ship it"}).status_code == 403
    assert filed.fresh().state == "awaiting_approval"


def test_action_urls_take_only_posts_with_a_csrf_token(officer, filed, django_user_model):
    assert officer.get(filed.url("approve")).status_code == 405
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(django_user_model.objects.get(username="compliance_officer-1"))
    decide(officer, filed)
    assert strict.post(filed.url("approve"), {"reason": "fine"}).status_code == 403
    assert filed.fresh().state == "awaiting_approval"


def test_names_from_lineage_are_escaped_in_the_picture(officer, filed):
    Dataset.objects.filter(pk=filed.raw.dataset_id).update(name='chats"><script>x()</script>')
    html = officer.get(filed.page).content.decode()
    assert "<script>x()</script>" not in html
    svg = re.search(r'<svg [^>]*aria-label="The plan.*?</svg>', html, re.S).group(0)
    assert 'chats"&gt;&lt;script&gt;x()&lt;/script&gt;' in svg
