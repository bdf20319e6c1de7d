"""Pending requests on one target are erased in one pass (a file rewritten once) and
post-checked in one more; each still gets its own receipt with its own count and the shared
digests. A batch window gathers requests, never past a deadline."""

import json
import os
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from connectors.jsonl_file import JsonlFile
from erasure.dispatch import batch_delay
from erasure.gate import erasure_request_gate
from erasure.models import ErasureRequest, TargetRun
from erasure.planning import erasure_request_plan
from erasure.runs import target_run_execute
from erasure.services import (
    erasure_request_create,
    erasure_request_transition,
    legal_hold_create,
)
from ledger.models import Checkpoint, Receipt
from tests import identifiers
from tests.erasure.approvals import approve_proposed_targets

pytestmark = pytest.mark.django_db


def eval_target(api, kind="jsonl_file", name="eval-set"):
    staff = api("erasure:write")
    response = staff.post(
        "/api/v1/erasure/targets",
        {
            "name": name,
            "kind": kind,
            "country": "KH",
            "always": True,
            "config": {"path": "eval.jsonl", "match": {"email": "email"}},
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    approve_proposed_targets()


def file_request(email: str) -> ErasureRequest:
    request, _ = erasure_request_create(
        identifiers=[{"id_type": "email", "value": email}],
        country="KH",
        channel="api",
        actor="staff:t",
    )
    request = erasure_request_transition(
        request=request, to_state="verified", actor="staff:t", reason="checked"
    )
    return erasure_request_gate(
        request=erasure_request_plan(request=request, actor="staff:t"), actor="staff:t"
    )


def receipts() -> list[dict]:
    return [json.loads(bytes(r.payload)) for r in Receipt.objects.filter(type="erasure.target")]


def test_a_hundred_requests_rewrite_the_file_once_and_read_it_once_more(
    api, tmp_path, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.LUP_FILE_ROOTS = [str(tmp_path)]
    emails = [identifiers.email().lower() for _ in range(100)]
    lines = [json.dumps({"email": e, "n": n}) for n, e in enumerate(emails)]
    lines += [json.dumps({"email": emails[7], "n": 100})]  # one subject twice
    lines += [json.dumps({"email": "keep@example.org", "n": 1000})]
    (tmp_path / "eval.jsonl").write_text("\n".join(lines) + "\n")
    eval_target(api)
    for email in emails:
        file_request(email)
    assert TargetRun.objects.filter(status="pending").count() == 100

    renames, reads = [], []
    real_replace, real_scan = os.replace, JsonlFile._scan
    monkeypatch.setattr(os, "replace", lambda a, b: (renames.append(b), real_replace(a, b)))
    monkeypatch.setattr(
        JsonlFile, "_scan", lambda self, m: (reads.append(1), real_scan(self, m))[1]
    )
    runs = list(TargetRun.objects.order_by("pk"))
    with (
        django_capture_on_commit_callbacks(execute=True),
        CaptureQueriesContext(connection) as queries,
    ):
        target_run_execute(run_id=runs[0].pk)
    assert len(renames) == 1  # one pass, one rewrite, for all hundred
    # The hundred closing steps and closing receipts' ids: one INSERT and one UPDATE.
    sent = [q["sql"] for q in queries]
    assert len([q for q in sent if q.startswith('INSERT INTO "erasure_transition"')]) == 1
    assert len([q for q in sent if q.startswith('UPDATE "erasure_erasurerequest"')]) == 1
    # Their hundred target receipts and hundred closing receipts: one append to the log.
    assert len([q for q in sent if q.startswith('UPDATE "ledger_loghead"')]) == 1
    assert len(reads) == 1  # and one post-check read
    assert TargetRun.objects.filter(status="done", outcome="erased").count() == 100
    for run in runs[1:]:  # their own tasks find them done
        target_run_execute(run_id=run.pk)
    assert (len(renames), len(reads)) == (1, 1)
    assert (tmp_path / "eval.jsonl").read_text() == lines[-1] + "\n"

    payloads = receipts()
    assert len(payloads) == 100
    counts = {p["request"]["id"]: p["action"]["count"] for p in payloads}
    seventh = TargetRun.objects.get(pk=runs[7].pk).request_id
    assert counts.pop(str(seventh)) == "2"
    assert set(counts.values()) == {"1"}
    assert {p["postcheck"]["remaining"] for p in payloads} == {"0"}
    assert len({(p["before"], p["after"]) for p in payloads}) == 1  # the shared digests
    assert ErasureRequest.objects.filter(state="completed").count() == 100
    assert not ErasureRequest.objects.filter(closing_receipt_id=None).exists()
    assert all(
        [t.to_state for t in r.transitions.all()][-2:] == ["executing", "completed"]
        for r in ErasureRequest.objects.prefetch_related("transitions")
    )
    # The pass's receipts were signed and appended together, and its requests closed together:
    # one closing receipt each, all in the log under the one checkpoint signed for them.
    assert len({p["issued_at"] for p in payloads}) == 1
    closings = Receipt.objects.filter(type="erasure.request")
    assert closings.count() == 100
    (checkpoint,) = Checkpoint.objects.all()
    assert checkpoint.size == Receipt.objects.count() > max(r.leaf_index for r in closings)


def test_a_held_subject_is_left_out_of_the_batch(api, tmp_path, settings):
    settings.LUP_FILE_ROOTS = [str(tmp_path)]
    held, free = identifiers.email().lower(), identifiers.email().lower()
    (tmp_path / "eval.jsonl").write_text(
        json.dumps({"email": held}) + "\n" + json.dumps({"email": free}) + "\n"
    )
    eval_target(api)
    held_request, free_request = file_request(held), file_request(free)
    legal_hold_create(
        subject_key=held_request.subject_keys.values_list("key", flat=True)[0],
        basis="litigation-2026-17",
        until=timezone.now() + timedelta(days=30),
        actor="staff:t",
    )
    target_run_execute(run_id=free_request.runs.get().pk)
    # The pass took the held run along and ended it unerased, with the hold in its receipt.
    assert held_request.runs.get().outcome == "held"
    assert free_request.runs.get().outcome == "erased"
    target_run_execute(run_id=held_request.runs.get().pk)  # its own task finds it done
    assert held_request.runs.get().outcome == "held"
    assert (tmp_path / "eval.jsonl").read_text() == json.dumps({"email": held}) + "\n"


def test_the_window_never_reaches_past_the_deadline_and_a_full_batch_starts_now(
    api, tmp_path, settings
):
    settings.LUP_FILE_ROOTS = [str(tmp_path)]
    (tmp_path / "eval.jsonl").write_text("")
    eval_target(api)
    run = file_request(identifiers.email().lower()).runs.get()
    now = timezone.now()
    settings.LUP_BATCH_WINDOW_SECONDS = 60
    ErasureRequest.objects.filter(pk=run.request_id).update(deadline=now + timedelta(days=30))
    run = TargetRun.objects.get(pk=run.pk)
    assert batch_delay(run=run, now=now) == 60
    ErasureRequest.objects.filter(pk=run.request_id).update(deadline=now + timedelta(seconds=90))
    run = TargetRun.objects.get(pk=run.pk)
    assert batch_delay(run=run, now=now) == 30  # a window's time is left before the deadline
    ErasureRequest.objects.filter(pk=run.request_id).update(deadline=now + timedelta(seconds=50))
    assert batch_delay(run=TargetRun.objects.get(pk=run.pk), now=now) == 0
    ErasureRequest.objects.filter(pk=run.request_id).update(deadline=now + timedelta(days=30))
    settings.LUP_BATCH_MAX = 1
    assert batch_delay(run=TargetRun.objects.get(pk=run.pk), now=now) == 0  # the batch is full
    settings.LUP_BATCH_MAX = 1000
    settings.LUP_BATCH_WINDOW_SECONDS = 0
    assert batch_delay(run=TargetRun.objects.get(pk=run.pk), now=now) == 0


@pytest.fixture
def worker_root(tmp_path, settings, monkeypatch):
    """The file root, in the environment before the worker starts (it reads it there)."""
    monkeypatch.setenv("LUP_FILE_ROOTS", str(tmp_path))
    settings.LUP_FILE_ROOTS = [str(tmp_path)]
    return tmp_path


def test_requests_filed_within_the_window_share_one_pass_on_a_real_worker(
    api, worker_root, tmp_path, settings, celery_worker_process
):
    first, second = identifiers.email().lower(), identifiers.email().lower()
    original = json.dumps({"email": first}) + "\n" + json.dumps({"email": second}) + "\n"
    (tmp_path / "eval.jsonl").write_text(original)
    eval_target(api)
    settings.LUP_BATCH_WINDOW_SECONDS = 3
    started = time.monotonic()
    file_request(first)
    time.sleep(1)
    file_request(second)
    deadline = time.monotonic() + 60
    while ErasureRequest.objects.filter(state="completed").count() < 2:
        assert time.monotonic() < deadline, "the worker did not finish both requests"
        time.sleep(0.2)
    assert time.monotonic() - started >= 3  # the first waited for its window
    payloads = receipts()
    assert [p["action"]["count"] for p in payloads] == ["1", "1"]
    # Both were erased by one rewrite: both saw the original content before it.
    assert len({(p["before"], p["after"]) for p in payloads}) == 1
    assert (tmp_path / "eval.jsonl").read_text() == ""
