"""Sharded targets against real workers: a 200-shard directory is erased by tasks spread over two
worker processes, with exactly one receipt per request and a manifest the bundle verifier
recomputes; and a worker killed (SIGKILL) in the middle of a shard leaves it to the sweeper, after
which every shard is done exactly once."""

import fcntl
import gzip
import hashlib
import json
import os
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from erasure.models import ErasureRequest, ShardRun, TargetRun
from erasure.sweeper import erasure_sweep
from ledger import verify
from tests import identifiers
from tests.erasure.approvals import approve_proposed_targets
from tests.erasure.test_batching import receipts

URL = "/api/v1/erasure-requests"
KEEP = "keep@example.org"


@pytest.fixture
def world(tmp_path, monkeypatch, settings, transactional_db):
    """Set before the workers start: they read the environment. A task a shard."""
    monkeypatch.setenv("LUP_FILE_ROOTS", str(tmp_path))
    monkeypatch.setenv("LUP_SHARD_GROUP_BYTES", "0")
    settings.LUP_FILE_ROOTS = [str(tmp_path)]
    settings.LUP_SHARD_GROUP_BYTES = 0
    return tmp_path


def wait_for(predicate, seconds=90):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def write_shard(path, emails, n):
    lines = [{"email": e, "n": n} for e in emails] + [{"email": KEEP, "n": n}]
    text = "".join(json.dumps(line) + "\n" for line in lines).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(text))
    return "sha256:" + hashlib.sha256(text).hexdigest()


def sharded_target(config):
    from targets.services import target_save

    target_save(name="chat-archive", kind="jsonl_file", country="KH", config=config, always=True)
    approve_proposed_targets()


def file_requests(api, emails):
    staff = api("erasure:write", "erasure:read")
    ids = []
    for email in emails:
        request_id = staff.post(
            URL, {"identifiers": [{"id_type": "email", "value": email}]}, format="json"
        ).json()["id"]
        staff.post(f"{URL}/{request_id}/verified-manually", {"reason": "checked"}, format="json")
        assert staff.post(f"{URL}/{request_id}/plan").json()["state"] == "executing"
        ids.append(request_id)
    return staff, ids


def closed(ids):
    return not ErasureRequest.objects.filter(pk__in=ids, state="executing").exists()


def kept_everywhere(directory):
    for path in directory.rglob("*.jsonl.gz"):
        lines = gzip.decompress(path.read_bytes()).decode().splitlines()
        assert [json.loads(line)["email"] for line in lines] == [KEEP], path.name


def test_two_hundred_shards_spread_over_two_workers_one_receipt_per_request(
    world, api, celery_workers
):
    emails = [identifiers.email().lower() for _ in range(3)]
    for n in range(200):
        held = [e for k, e in enumerate(emails) if n % 10 == k]  # each subject: 20 shards
        write_shard(world / "archive" / f"part-{n:04}.jsonl.gz", held, n)
    sharded_target({"dir": "archive", "glob": "*.jsonl.gz", "match": {"email": "email"}})
    workers = [celery_workers(), celery_workers()]

    staff, ids = file_requests(api, emails)
    assert wait_for(lambda: closed(ids), seconds=120), list(
        ShardRun.objects.values_list("status", "last_error", "attempts").distinct()
    )

    assert ErasureRequest.objects.filter(pk__in=ids, state="completed").count() == 3
    payloads = receipts()
    assert sorted(p["request"]["id"] for p in payloads) == sorted(ids)  # one each, no more
    for payload in payloads:
        assert payload["shards"]["total"] == "200" and payload["shards"]["changed"] == "20"
        assert payload["action"]["count"] == "20" and payload["postcheck"]["remaining"] == "0"
    kept_everywhere(world / "archive")

    # Every pass read all 200 shards, and both worker processes took a share of them.
    passes = TargetRun.objects.values_list("shard_pass", flat=True).distinct()
    assert ShardRun.objects.filter(status="done").count() == 200 * len(passes)
    by = {
        claimed.rsplit(":", 1)[1]
        for claimed in ShardRun.objects.values_list("claimed_by", flat=True)
    }
    assert by == {str(proc.pid) for proc in workers}

    bundle = staff.get(f"{URL}/{ids[0]}/bundle").json()
    key = verify.parse_verifier_key(bundle["verifier_key"])
    lines = verify.verify_bundle(bundle, key, emails[0])
    assert any("manifest of its 20 changed shard(s)" in line for line in lines)


def test_a_worker_killed_mid_shard_then_the_sweeper_every_shard_done_once(
    world, api, celery_workers, settings
):
    email = identifiers.email().lower()
    digests = {}
    for n in range(40):
        folder = "slow" if n == 0 else "fast"
        key = f"{folder}/part-{n:04}.jsonl.gz"
        digests[key] = write_shard(world / "archive" / key, [email] if n % 2 == 0 else [], n)
    sharded_target(
        {
            "dir": "archive",
            "glob": "*/*.jsonl.gz",
            "match": {"email": "email"},
            "timeout_seconds": 120,
        }
    )
    workers = {proc.pid: proc for proc in (celery_workers(), celery_workers())}
    # Another process rewriting the slow shard: its task waits for the lock, claim in hand.
    fd = os.open(world / "archive" / "slow" / "part-0000.jsonl.gz", os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        _, ids = file_requests(api, [email])
        slow = lambda: ShardRun.objects.filter(key="slow/part-0000.jsonl.gz").first()  # noqa: E731
        assert wait_for(lambda: slow() is not None and slow().status == "claimed")
        holder = int(slow().claimed_by.rsplit(":", 1)[1])
        assert wait_for(lambda: ShardRun.objects.filter(status="done").count() == 39)
        workers.pop(holder).kill()  # SIGKILL, mid-shard
        workers[holder] = None
    finally:
        os.close(fd)
    time.sleep(1)
    assert slow().status == "claimed"  # nobody else may take it: the claim is not stale yet
    assert not closed(ids)

    later = timezone.now() + timedelta(seconds=settings.LUP_SWEEP_AFTER_SECONDS + 1)
    assert erasure_sweep(now=later) >= 1
    assert wait_for(lambda: closed(ids)), slow().status

    assert list(ShardRun.objects.values_list("status", flat=True).distinct()) == ["done"]
    assert ShardRun.objects.count() == 40  # one pass, each shard once
    survivor = next(pid for pid, proc in workers.items() if proc is not None)
    assert slow().claimed_by.endswith(f":{survivor}")
    (payload,) = receipts()
    assert payload["action"]["count"] == "20"  # each erased line counted once
    assert payload["shards"]["changed"] == "20"
    kept_everywhere(world / "archive")
    # The slow shard was rewritten once, from its original content.
    run = TargetRun.objects.get(request_id=ids[0])
    hashed = "sha256:" + hashlib.sha256(b"slow/part-0000.jsonl.gz").hexdigest()
    (entry,) = [e for e in run.manifest if e["key"] == hashed]
    assert entry["before"] == digests["slow/part-0000.jsonl.gz"]
