"""Postgres is the source of truth: a worker killed mid fan-out, or a flushed Redis, loses
nothing. The sweeper enqueues again what the database says is unfinished, and every target ends
with exactly one receipt."""

import io
import json
import signal
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from erasure.models import ErasureRequest, TargetRun
from erasure.sweeper import erasure_sweep
from ledger.models import Receipt
from lineage import services as lineage
from lineage.membership import membership_upload
from lineage.services import VersionInput
from tests import identifiers

URL = "/api/v1/erasure-requests"


@pytest.fixture
def roots(tmp_path, monkeypatch, settings, transactional_db):
    monkeypatch.setenv("LUP_FILE_ROOTS", str(tmp_path))
    settings.LUP_FILE_ROOTS = [str(tmp_path)]
    return tmp_path


def start_request(api, roots, email: str, *, files: int, lines) -> str:
    """A request with `files` JSONL targets (`lines` filler lines each, or a list of counts),
    the subject in every one."""
    counts = lines if isinstance(lines, list) else [lines] * files
    staff = api("erasure:write", "erasure:read")
    version = lineage.version_register(
        dataset=lineage.dataset_register(namespace="s3://logs", name="chat"),
        data=VersionInput(version="1"),
    )
    membership_upload(
        version=version,
        stream=io.BytesIO(f"{email}\n".encode()),
        content_type="text/plain",
        id_type="email",
    )
    filler = json.dumps({"user": {"email": "someone@example.org"}, "text": "x" * 200}) + "\n"
    for n in range(files):
        with open(roots / f"log-{n}.jsonl", "w") as handle:
            handle.write(json.dumps({"user": {"email": email.lower()}}) + "\n")
            handle.write(filler * counts[n])
        body = {
            "name": f"log-{n}",
            "kind": "jsonl_file",
            "country": "SG",
            "config": {"path": f"log-{n}.jsonl", "match": {"email": "user.email"}},
            "versions": [str(version.pk)],
        }
        assert staff.post("/api/v1/erasure/targets", body, format="json").status_code == 201
    request_id = staff.post(
        URL, {"identifiers": [{"id_type": "email", "value": email}]}, format="json"
    ).json()["id"]
    staff.post(f"{URL}/{request_id}/verified-manually", {"reason": "checked"}, format="json")
    assert staff.post(f"{URL}/{request_id}/plan").json()["state"] == "executing"
    return request_id


def wait_for(predicate, seconds=90) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def later() -> timezone.datetime:
    return timezone.now() + timedelta(seconds=settings.LUP_SWEEP_AFTER_SECONDS + 1)


def assert_finished_once(request_id: str, roots, files: int, email: str) -> None:
    assert ErasureRequest.objects.get(pk=request_id).state == "completed"
    runs = list(TargetRun.objects.filter(request_id=request_id))
    assert len(runs) == files and all(r.status == "done" for r in runs)
    receipts = Receipt.objects.filter(type="erasure.target")
    assert receipts.count() == files  # exactly one per target, however often tasks ran
    assert {r.receipt_id for r in receipts} == {r.receipt_id for r in runs}
    assert Receipt.objects.filter(type="erasure.request").count() == 1
    for n in range(files):
        assert email.lower() not in (roots / f"log-{n}.jsonl").read_text()


def test_redis_flushed_mid_run_the_sweeper_finishes_the_request(api, roots, celery_workers):
    email = identifiers.email()
    request_id = start_request(api, roots, email, files=3, lines=10)
    # The tasks are in Redis and no worker has run them: lose them all.
    from config.celery import app

    with app.connection_for_write() as conn:
        conn.default_channel.client.flushdb()
    worker = celery_workers()
    time.sleep(2)
    assert ErasureRequest.objects.get(pk=request_id).state == "executing"  # nothing to run
    assert erasure_sweep(now=later()) == 3
    assert wait_for(lambda: ErasureRequest.objects.get(pk=request_id).state == "completed")
    assert worker.poll() is None
    assert_finished_once(request_id, roots, 3, email)


def test_a_worker_killed_mid_fan_out_loses_nothing(api, roots, celery_workers):
    email = identifiers.email()
    # The worker is up first: with the solo pool it answers pings only between tasks.
    worker = celery_workers()
    # Files large enough that the worker is busy rewriting when it is killed.
    request_id = start_request(api, roots, email, files=3, lines=[10, 400_000, 400_000])
    # The worker runs one target at a time and two of them take a while: kill it as soon as it
    # has begun.
    deadline = time.monotonic() + 60
    while not TargetRun.objects.filter(request_id=request_id).exclude(status="pending").exists():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)
    unfinished = TargetRun.objects.filter(request_id=request_id).exclude(status="done").count()
    assert unfinished > 0, "the worker finished before it was killed; make the files larger"
    celery_workers()
    erasure_sweep(now=later())
    assert wait_for(
        lambda: ErasureRequest.objects.get(pk=request_id).state == "completed", seconds=120
    )
    assert_finished_once(request_id, roots, 3, email)
