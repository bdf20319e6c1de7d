"""Group commit on a batching target: a request on an idle target starts at once; the requests
that arrive while a pass runs join the next one; a burst is served by a few passes; nothing is
left pending with nobody to take it, and no request waits past its deadline."""

import json
import time
from datetime import timedelta

import pytest
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from connectors.jsonl_file import JsonlFile
from erasure.gate import erasure_request_gate
from erasure.models import ErasureRequest, TargetRun
from erasure.planning import erasure_request_plan
from erasure.runs import target_run_execute
from erasure.services import (
    erasure_request_create,
    erasure_request_transition,
    legal_hold_create,
)
from tests import identifiers
from tests.erasure.test_batching import eval_target, file_request, receipts

pytestmark = pytest.mark.django_db


def wait_completed(count: int, *, within: float) -> float:
    """Seconds until `count` requests are completed; fails after `within`."""
    started = time.monotonic()
    while ErasureRequest.objects.filter(state="completed").count() < count:
        runs = dict(
            TargetRun.objects.values_list("status")
            .annotate(n=Count("pk"))
            .values_list("status", "n")
        )
        assert time.monotonic() - started < within, f"not finished in time; runs: {runs}"
        time.sleep(0.05)
    return time.monotonic() - started


def passes() -> int:
    """Rewrites of the file: each pass that erased records the digests it saw and left."""
    return len({(p["before"], p["after"]) for p in receipts() if p["action"]["count"] != "0"})


@pytest.fixture
def worker_root(tmp_path, settings, monkeypatch):
    """The file root, in the environment before the worker starts (it reads it there)."""
    monkeypatch.setenv("LUP_FILE_ROOTS", str(tmp_path))
    settings.LUP_FILE_ROOTS = [str(tmp_path)]
    return tmp_path


def test_the_shipped_default_adds_no_wait():
    from config import settings as shipped

    assert shipped.LUP_BATCH_WINDOW_SECONDS == 0


def test_a_lone_request_on_an_idle_target_is_done_at_once_on_a_real_worker(
    api, worker_root, celery_worker_process
):
    email = identifiers.email().lower()
    (worker_root / "eval.jsonl").write_text(json.dumps({"email": email}) + "\n")
    eval_target(api)
    file_request(email)
    # Seconds, not a window's wait (the window was 60 s before group commit).
    assert wait_completed(1, within=5) < 5
    assert (worker_root / "eval.jsonl").read_text() == ""


def test_a_burst_of_a_hundred_requests_is_served_by_a_few_passes_on_two_workers(
    api, worker_root, celery_workers
):
    emails = [identifiers.email().lower() for _ in range(100)]
    keep = json.dumps({"email": "keep@example.org"})
    lines = [json.dumps({"email": e}) for e in emails] + [keep]
    (worker_root / "eval.jsonl").write_text("\n".join(lines) + "\n")
    eval_target(api)
    celery_workers(), celery_workers()
    with transaction.atomic():  # they all arrive at once, when this commits
        for email in emails:
            file_request(email)
    wait_completed(100, within=300)  # generous: the machine may be busy
    assert passes() <= 3
    assert [p["action"]["count"] for p in receipts()] == ["1"] * 100
    assert (worker_root / "eval.jsonl").read_text() == keep + "\n"
    assert not TargetRun.objects.exclude(status="done").exists()


def test_a_request_arriving_during_a_pass_joins_the_next_one(
    api, tmp_path, settings, enqueued, monkeypatch
):
    """Its task leaves it pending, since a pass is running; the task that ran the pass hands it
    on when the pass ends, and the next pass takes every request that arrived meanwhile."""
    settings.LUP_FILE_ROOTS = [str(tmp_path)]
    first, *later = [identifiers.email().lower() for _ in range(3)]
    keep = json.dumps({"email": "keep@example.org"})
    lines = [json.dumps({"email": e}) for e in [first, *later]] + [keep]
    (tmp_path / "eval.jsonl").write_text("\n".join(lines) + "\n")
    eval_target(api)
    running = file_request(first).runs.get()

    passes_seen, arrived = [], []
    real = JsonlFile.erase_groups

    def arriving_meanwhile(self, groups, **kwargs):
        passes_seen.append(sorted(groups))
        if len(passes_seen) == 1:
            for email in later:
                run = file_request(email).runs.get()
                arrived.append(run.pk)
                assert target_run_execute(run_id=run.pk).status == "pending"  # its own task
        return real(self, groups, **kwargs)

    monkeypatch.setattr(JsonlFile, "erase_groups", arriving_meanwhile)
    assert target_run_execute(run_id=running.pk).outcome == "erased"
    assert enqueued == [arrived[0]]  # handed on: the oldest of those that arrived
    assert TargetRun.objects.get(pk=arrived[1]).status == "pending"

    assert target_run_execute(run_id=arrived[0]).outcome == "erased"
    assert target_run_execute(run_id=arrived[1]).outcome == "erased"  # by the same pass
    assert passes_seen == [[running.pk], arrived]
    assert enqueued == [arrived[0]]  # nothing left to hand on
    assert (tmp_path / "eval.jsonl").read_text() == keep + "\n"


def test_a_failed_pass_leaves_nothing_pending_without_a_task(
    api, tmp_path, settings, enqueued, monkeypatch
):
    """A pass that fails after erasing (its post-check) still hands on the requests that
    arrived meanwhile: the failed run's retry only checks that run again."""
    settings.LUP_FILE_ROOTS = [str(tmp_path)]
    first, second = identifiers.email().lower(), identifiers.email().lower()
    (tmp_path / "eval.jsonl").write_text(
        json.dumps({"email": first}) + "\n" + json.dumps({"email": second}) + "\n"
    )
    eval_target(api)
    running = file_request(first).runs.get()
    real = JsonlFile.erase_groups
    arrived = []

    def arriving_meanwhile(self, groups, **kwargs):
        if not arrived:
            arrived.append(file_request(second).runs.get().pk)
        return real(self, groups, **kwargs)

    def check_fails(self, groups):
        raise OSError("disk gone")

    monkeypatch.setattr(JsonlFile, "erase_groups", arriving_meanwhile)
    monkeypatch.setattr(JsonlFile, "verify_groups", check_fails)
    with pytest.raises(OSError):
        target_run_execute(run_id=running.pk)
    assert TargetRun.objects.get(pk=running.pk).status == "erased"
    assert enqueued == arrived


def test_a_run_near_its_deadline_does_not_wait_for_the_window_on_a_real_worker(
    api, worker_root, settings, celery_worker_process
):
    email = identifiers.email().lower()
    (worker_root / "eval.jsonl").write_text(json.dumps({"email": email}) + "\n")
    eval_target(api)
    settings.LUP_BATCH_WINDOW_SECONDS = 60  # an operator's wait for company
    request, _ = erasure_request_create(
        identifiers=[{"id_type": "email", "value": email}],
        country="KH",
        channel="api",
        actor="staff:t",
    )
    request = erasure_request_transition(
        request=request, to_state="verified", actor="staff:t", reason="checked"
    )
    planned = erasure_request_plan(request=request, actor="staff:t")
    ErasureRequest.objects.filter(pk=planned.pk).update(
        deadline=timezone.now() + timedelta(seconds=50)
    )
    planned.refresh_from_db()
    erasure_request_gate(request=planned, actor="staff:t")
    assert wait_completed(1, within=10) < 10  # not 60 s: less than a window was left


def test_a_held_request_handed_the_next_pass_passes_it_on(
    api, tmp_path, settings, enqueued, monkeypatch
):
    """The oldest request that arrived during a pass is handed the next one; held, it ends
    unerased and hands the pass on to the next request, which is erased."""
    settings.LUP_FILE_ROOTS = [str(tmp_path)]
    first, held, free = [identifiers.email().lower() for _ in range(3)]
    (tmp_path / "eval.jsonl").write_text(
        "".join(json.dumps({"email": e}) + "\n" for e in (first, held, free))
    )
    eval_target(api)
    running = file_request(first).runs.get()
    real = JsonlFile.erase_groups
    arrived = []

    def arriving_meanwhile(self, groups, **kwargs):
        if not arrived:
            for email in (held, free):
                request = file_request(email)
                arrived.append(request.runs.get().pk)
                if email == held:
                    legal_hold_create(
                        subject_key=request.subject_keys.values_list("key", flat=True)[0],
                        basis="litigation-2026-17",
                        until=timezone.now() + timedelta(days=30),
                        actor="staff:t",
                    )
        return real(self, groups, **kwargs)

    monkeypatch.setattr(JsonlFile, "erase_groups", arriving_meanwhile)
    target_run_execute(run_id=running.pk)
    assert enqueued == [arrived[0]]
    assert target_run_execute(run_id=arrived[0]).outcome == "held"
    assert enqueued == arrived  # passed on
    assert target_run_execute(run_id=arrived[1]).outcome == "erased"
    assert (tmp_path / "eval.jsonl").read_text() == json.dumps({"email": held}) + "\n"
