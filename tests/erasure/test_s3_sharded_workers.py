"""A sharded `s3_objects` target erased by two real worker processes against a real SeaweedFS:
thirty objects of a versioned bucket, one task each, spread over both workers; one receipt per
request, with `shards` and the summed `history`, and a bundle that verifies."""

import gzip
import json

import pytest

from erasure.models import ErasureRequest, ShardRun
from ledger import verify
from targets.services import target_save
from tests import identifiers
from tests.erasure.approvals import approve_proposed_targets
from tests.erasure.test_batching import receipts
from tests.erasure.test_s3_sharded_targets import GLOB, KEEP, PREFIX, gz_lines, shard_key
from tests.erasure.test_sharded_workers import closed, file_requests, wait_for

SHARDS = 30


@pytest.fixture
def world(monkeypatch, settings, transactional_db):
    """Set before the workers start: they read the environment. A task a shard."""
    monkeypatch.setenv("LUP_SHARD_GROUP_BYTES", "0")
    settings.LUP_SHARD_GROUP_BYTES = 0


def test_thirty_objects_spread_over_two_workers_one_receipt_per_request(
    world, object_store, api, celery_workers
):
    emails = [identifiers.email().lower() for _ in range(3)]
    name = object_store.bucket(versioned=True)
    for n in range(SHARDS):
        held = [e for k, e in enumerate(emails) if n % 10 == k]  # each subject: 3 shards
        object_store.s3.put_object(Bucket=name, Key=shard_key(n), Body=gz_lines(held, n))
    config = object_store.config(
        name, prefix=PREFIX, glob=GLOB, format="jsonl", match={"email": "user.email"}
    )
    target_save(name="chat-objects", kind="s3_objects", country="KH", config=config, always=True)
    approve_proposed_targets()
    workers = [celery_workers(), celery_workers()]

    staff, ids = file_requests(api, emails)
    assert wait_for(lambda: closed(ids), seconds=120), list(
        ShardRun.objects.values_list("status", "last_error").distinct()
    )

    assert ErasureRequest.objects.filter(pk__in=ids, state="completed").count() == 3
    payloads = receipts()
    assert sorted(p["request"]["id"] for p in payloads) == sorted(ids)  # one each, no more
    versions = object_store.versions(name, PREFIX)
    assert len(versions) == SHARDS  # the versions the rewrites replaced are deleted
    for payload in payloads:
        assert payload["shards"]["total"] == str(SHARDS) and payload["shards"]["changed"] == "3"
        assert payload["action"]["count"] == "3" and payload["postcheck"]["remaining"] == "0"
        assert payload["history"]["policy"] == "purged"
    for version in versions:
        data = gzip.decompress(object_store.read(name, version["Key"], version["VersionId"]))
        assert [json.loads(line)["user"]["email"] for line in data.splitlines()] == [KEEP]

    by = {
        claimed.rsplit(":", 1)[1]
        for claimed in ShardRun.objects.values_list("claimed_by", flat=True)
    }
    assert by == {str(proc.pid) for proc in workers}

    bundle = staff.get(f"/api/v1/erasure-requests/{ids[0]}/bundle").json()
    key = verify.parse_verifier_key(bundle["verifier_key"])
    lines = verify.verify_bundle(bundle, key, emails[0])
    assert any("manifest of its 3 changed shard(s)" in line for line in lines)
