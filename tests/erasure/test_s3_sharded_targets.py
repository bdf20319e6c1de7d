"""A sharded `s3_objects` target (a prefix and a glob) against a real SeaweedFS: a pass lists the
matching keys once and fans out one task per object; a batch of requests reads each object once,
never rewrites one without a match, deletes every earlier version holding a subject (a deleted
object's too) and gives each request one receipt with `shards` (a manifest the bundle verifier
recomputes) and `history` (every shard's versions, summed)."""

import gzip
import json
from datetime import UTC, datetime, timedelta

import pytest

from connectors import connector_for
from connectors.errors import ConnectorConfigError, PathOutsideRoots
from connectors.s3_store import Store
from erasure import dispatch
from erasure.models import ErasureRequest, ShardRun, TargetRun
from erasure.runs import target_run_execute
from erasure.selectors import erasure_request_bundle
from erasure.shards import shard_run_execute
from erasure.tasks import erasure_close_requests, erasure_run_shard
from ledger import verify
from targets.services import target_save
from tests import identifiers
from tests.erasure.approvals import approve_proposed_targets
from tests.erasure.test_batching import file_request, receipts
from tests.erasure.test_sharded_targets import Killed

pytestmark = pytest.mark.django_db

SHARDS = 30
KEEP = "keep@example.org"
PREFIX = "chats/"
GLOB = "2026-*/part-*.jsonl.gz"


def shard_key(n: int) -> str:
    return f"{PREFIX}2026-{n % 3 + 1:02}/part-{n:03}.jsonl.gz"


def gz_lines(emails: list[str], n: int) -> bytes:
    lines = [{"user": {"email": KEEP}, "n": n}] + [{"user": {"email": e}, "n": n} for e in emails]
    return gzip.compress("".join(json.dumps(line) + "\n" for line in lines).encode(), mtime=0)


@pytest.fixture
def bucket(object_store, settings):
    """A versioned bucket: thirty shards, subject i's lines in shards i and i + 5 (shard 0 also
    in an earlier version); an object outside the glob holding subject 0; and a deleted object
    whose earlier version holds subject 1. A sharded target over the thirty."""
    settings.LUP_SHARD_GROUP_BYTES = 0  # a task a shard
    emails = [identifiers.email().lower() for _ in range(5)]
    name = object_store.bucket(versioned=True)
    put = object_store.s3.put_object
    put(Bucket=name, Key=shard_key(0), Body=gz_lines([emails[0], emails[2]], 0))
    for n in range(SHARDS):
        held = [e for i, e in enumerate(emails) if n in (i, i + 5)]
        put(Bucket=name, Key=shard_key(n), Body=gz_lines(held, n))
    put(Bucket=name, Key=f"{PREFIX}notes.jsonl.gz", Body=gz_lines([emails[0]], 99))
    put(Bucket=name, Key=shard_key(31), Body=gz_lines([emails[1]], 31))
    object_store.s3.delete_object(Bucket=name, Key=shard_key(31))
    config = object_store.config(
        name, prefix=PREFIX, glob=GLOB, format="jsonl", match={"email": "user.email"}
    )
    target_save(name="chat-objects", kind="s3_objects", country="KH", config=config, always=True)
    approve_proposed_targets()
    return name, emails, config


@pytest.fixture
def fanned(monkeypatch):
    sent: list[list[int]] = []
    monkeypatch.setattr(
        dispatch, "shard_runs_enqueue", lambda *, shard_ids, kind: sent.append(shard_ids)
    )
    # The requests a pass ends are closed by tasks too: run here, as a worker takes them.
    monkeypatch.setattr(
        dispatch,
        "requests_close_enqueue",
        lambda *, request_ids: erasure_close_requests.apply(args=[[str(i) for i in request_ids]]),
    )
    return sent


@pytest.fixture
def reads(monkeypatch):
    """The keys (and versions) read, as the store hands them out."""
    opened: list[tuple[str, str | None]] = []
    real = Store.open

    def counting(self, ref, **kwargs):
        opened.append((ref.key, ref.version_id))
        return real(self, ref, **kwargs)

    monkeypatch.setattr(Store, "open", counting)
    return opened


def run_all(sent, capture):
    with capture(execute=True):
        while sent:
            erasure_run_shard.apply(args=[sent.pop(0)])


def test_a_batch_erases_a_sharded_prefix_reading_each_object_once(
    object_store, bucket, fanned, reads, django_capture_on_commit_callbacks
):
    name, emails, _ = bucket
    requests = [file_request(email) for email in emails]
    untouched = {n: object_store.read(name, shard_key(n)) for n in range(10, SHARDS)}
    notes = object_store.read(name, f"{PREFIX}notes.jsonl.gz")
    runs = list(TargetRun.objects.order_by("pk"))
    with django_capture_on_commit_callbacks(execute=True):
        target_run_execute(run_id=runs[0].pk)
    assert {r.status for r in TargetRun.objects.all()} == {"sharded"}
    # Every key with a version kept, the deleted one's included; nothing outside the glob.
    assert ShardRun.objects.count() == SHARDS + 1 and len(fanned) == SHARDS + 1
    assert not ShardRun.objects.filter(key="notes.jsonl.gz").exists()
    run_all(fanned, django_capture_on_commit_callbacks)

    # The twenty shards without a match: every version read once for the whole batch (the
    # look), never rewritten; no version of theirs was added.
    for n in range(10, SHARDS):
        assert sum(key == shard_key(n) for key, _ in reads) == 1
        assert object_store.read(name, shard_key(n)) == untouched[n]
        assert len(object_store.versions(name, shard_key(n))) == 1
    assert object_store.read(name, f"{PREFIX}notes.jsonl.gz") == notes  # outside the glob
    assert all(key != f"{PREFIX}notes.jsonl.gz" for key, _ in reads)

    # No version left holding a subject, under the glob.
    left = [v for v in object_store.versions(name, PREFIX) if "notes" not in v["Key"]]
    for version in left:
        data = gzip.decompress(object_store.read(name, version["Key"], version["VersionId"]))
        assert not any(email.encode() in data for email in emails)
    for n in range(10):
        kept = gzip.decompress(object_store.read(name, shard_key(n))).decode().splitlines()
        assert [json.loads(line)["user"]["email"] for line in kept] == [KEEP]

    payloads = {p["request"]["id"]: p for p in receipts()}
    assert len(payloads) == len(requests)
    for i, request in enumerate(requests):
        payload = payloads[str(request.pk)]
        expected = {0: 3, 1: 3, 2: 3}.get(i, 2)  # shard 0's earlier version; the deleted one
        assert payload["outcome"] == "erased", payload
        assert (payload["action"]["count"], payload["postcheck"]["remaining"]) == (
            str(expected),
            "0",
        )
        assert payload["action"]["method"] == "s3_jsonl_conditional_rewrite"
        assert payload["shards"]["total"] == str(SHARDS + 1)
        assert payload["history"] == {"policy": "purged", "versions_checked": str(len(left))}
    assert payloads[str(requests[1].pk)]["shards"]["changed"] == "3"
    assert ErasureRequest.objects.filter(state="completed").count() == len(requests)

    bundle = erasure_request_bundle(request=ErasureRequest.objects.get(pk=requests[0].pk))
    key = verify.parse_verifier_key(bundle["verifier_key"])
    lines = verify.verify_bundle(bundle, key, emails[0])
    assert any("manifest of its 2 changed shard(s)" in line for line in lines)
    assert "part-" not in json.dumps(bundle)  # keys only hashed


def test_without_versions_each_object_is_read_once_and_once_more_if_rewritten(
    object_store, fanned, reads, settings, django_capture_on_commit_callbacks
):
    """A bucket that keeps no versions needs no look first: each object is read once, as it
    is erased, and only a rewritten one again, for its post-check."""
    settings.LUP_SHARD_GROUP_BYTES = 0
    emails = [identifiers.email().lower() for _ in range(2)]
    name = object_store.bucket()
    for n in range(6):
        held = [e for i, e in enumerate(emails) if n == i * 3]
        object_store.s3.put_object(Bucket=name, Key=shard_key(n), Body=gz_lines(held, n))

    def etag(n: int) -> str:
        return object_store.s3.head_object(Bucket=name, Key=shard_key(n))["ETag"]

    etags = {n: etag(n) for n in range(6)}
    config = object_store.config(
        name, prefix=PREFIX, glob=GLOB, format="jsonl", match={"email": "user.email"}
    )
    target_save(name="chat-objects", kind="s3_objects", country="KH", config=config, always=True)
    approve_proposed_targets()
    reads.clear()  # registration looked at the first object
    requests = [file_request(email) for email in emails]
    with django_capture_on_commit_callbacks(execute=True):
        target_run_execute(run_id=requests[0].runs.get().pk)
    run_all(fanned, django_capture_on_commit_callbacks)

    assert sorted(key for key, _ in reads) == sorted(
        [shard_key(n) for n in range(6)] + [shard_key(0), shard_key(3)]
    )
    for n in range(6):
        assert (etag(n) == etags[n]) == (n not in (0, 3))  # only the two with a match replaced
        text = gzip.decompress(object_store.read(name, shard_key(n))).decode()
        assert not any(email in text for email in emails) and KEEP in text
    payloads = receipts()
    assert len(payloads) == 2
    for payload in payloads:
        assert (payload["outcome"], payload["action"]["count"]) == ("erased", "1")
        assert payload["postcheck"]["remaining"] == "0"
        assert payload["shards"] == {**payload["shards"], "total": "6", "changed": "1"}
        assert "history" not in payload
    assert ErasureRequest.objects.filter(state="completed").count() == 2


def test_retained_history_reads_current_objects_and_says_until_when(
    object_store, fanned, settings, django_capture_on_commit_callbacks
):
    settings.LUP_SHARD_GROUP_BYTES = 10**6  # small objects share a task
    email = identifiers.email().lower()
    name = object_store.bucket(versioned=True)
    for n in range(4):
        object_store.s3.put_object(Bucket=name, Key=shard_key(n), Body=gz_lines([email], n))
        object_store.s3.put_object(Bucket=name, Key=shard_key(n), Body=gz_lines([email], n))
    until = "2031-01-01T00:00:00Z"
    config = object_store.config(
        name,
        prefix=PREFIX,
        glob=GLOB,
        format="jsonl",
        match={"email": "user.email"},
        keep_history={"basis": "audit-trail-law", "versions": "retain", "until": until},
    )
    target_save(name="chat-objects", kind="s3_objects", country="KH", config=config, always=True)
    approve_proposed_targets()
    request = file_request(email)
    with django_capture_on_commit_callbacks(execute=True):
        target_run_execute(run_id=request.runs.get().pk)
    assert len(fanned) == 1  # four small shards, one task
    run_all(fanned, django_capture_on_commit_callbacks)
    (payload,) = receipts()
    assert (payload["outcome"], payload["action"]["count"]) == ("erased", "4")
    assert payload["shards"] == {**payload["shards"], "total": "4", "changed": "4"}
    assert payload["history"] == {
        "policy": "retained",
        "versions_checked": "4",
        "retained_until": until,
    }
    assert len(object_store.versions(name, PREFIX)) == 12  # two kept, one written, per object


def test_the_glob_is_checked_and_a_shard_is_exactly_one_object(object_store):
    name = object_store.bucket()
    for key in ("p/a.jsonl", "p/a.jsonl.bak", "p/x/b.jsonl", "q/c.jsonl"):
        object_store.s3.put_object(Bucket=name, Key=key, Body=b'{"e": "keep"}\n')
    base = object_store.config(name, prefix="p/", format="jsonl", match={"email": "e"})
    for glob in ("../*.jsonl", "/p/*.jsonl", "x/../*.jsonl"):
        with pytest.raises(PathOutsideRoots) as excinfo:
            connector_for("s3_objects", {**base, "glob": glob})
        assert excinfo.value.fields == {"glob": "outside prefix"}

    assert not connector_for("s3_objects", base).sharded  # a prefix alone: one run
    flat = connector_for("s3_objects", {**base, "glob": "*.jsonl"})
    assert flat.sharded
    assert [(s.key, s.size) for s in flat.shards()] == [("a.jsonl", 14)]
    deep = connector_for("s3_objects", {**base, "glob": "**/*.jsonl"})
    assert [s.key for s in deep.shards()] == ["a.jsonl", "x/b.jsonl"]
    # A look at the whole target (a held subject's) counts the glob's objects only.
    assert flat.locate({"email": ["keep"]}).count == 1
    assert deep.locate({"email": ["keep"]}).count == 2

    one = flat.shard("a.jsonl")
    assert not one.sharded
    assert one.locate({"email": ["keep"]}).count == 1  # not "a.jsonl.bak" too
    with pytest.raises(ConnectorConfigError):
        flat.shard("a.jsonl.bak")  # not a key the glob matches


def test_a_locked_shard_holds_its_subjects_runs_and_the_other_shards_are_erased(
    object_store, fanned, settings, django_capture_on_commit_callbacks
):
    settings.LUP_SHARD_GROUP_BYTES = 0
    locked, free = identifiers.email().lower(), identifiers.email().lower()
    name = object_store.bucket(locked=True)
    until = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    object_store.s3.put_object(
        Bucket=name,
        Key=shard_key(0),
        Body=gz_lines([locked], 0),
        ObjectLockMode="GOVERNANCE",
        ObjectLockRetainUntilDate=until,
    )
    for n in (1, 2):
        object_store.s3.put_object(Bucket=name, Key=shard_key(n), Body=gz_lines([locked, free], n))
    config = object_store.config(
        name, prefix=PREFIX, glob=GLOB, format="jsonl", match={"email": "user.email"}
    )
    target_save(name="chat-objects", kind="s3_objects", country="KH", config=config, always=True)
    approve_proposed_targets()
    held, erased = file_request(locked), file_request(free)
    with django_capture_on_commit_callbacks(execute=True):
        target_run_execute(run_id=held.runs.get().pk)
    run_all(fanned, django_capture_on_commit_callbacks)

    shard = ShardRun.objects.get(key=shard_key(0).removeprefix(PREFIX))
    assert (shard.status, shard.attempts, shard.op) == ("done", 0, "none")  # never retried
    payloads = {p["request"]["id"]: p for p in receipts()}
    payload = payloads[str(held.pk)]
    assert payload["outcome"] == "held"
    assert payload["exception"] == {
        "basis": "object-lock:governance",
        "until": until.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    assert (payload["action"]["count"], payload["postcheck"]["remaining"]) == ("2", "1")
    assert payload["shards"] == {**payload["shards"], "total": "3", "changed": "2"}
    assert payloads[str(erased.pk)]["outcome"] == "erased"
    assert locked.encode() in gzip.decompress(object_store.read(name, shard_key(0)))
    for n in (1, 2):
        assert locked.encode() not in gzip.decompress(object_store.read(name, shard_key(n)))
    assert ErasureRequest.objects.get(pk=held.pk).state == "partially_completed"
    assert ErasureRequest.objects.get(pk=erased.pk).state == "completed"
    bundle = erasure_request_bundle(request=ErasureRequest.objects.get(pk=held.pk))
    key = verify.parse_verifier_key(bundle["verifier_key"])
    lines = verify.verify_bundle(bundle, key, locked)
    assert any("manifest of its 2 changed shard(s)" in line for line in lines)


def test_a_glob_that_climbs_out_of_the_prefix_is_refused_at_registration(object_store, api):
    config = object_store.config(
        object_store.bucket(), prefix="p/", glob="../*.jsonl", format="jsonl", match={"email": "e"}
    )
    response = api("erasure:write").post(
        "/api/v1/erasure/targets",
        {"name": "escape", "kind": "s3_objects", "country": "KH", "config": config},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["code"] == "path_outside_roots"
    assert response.json()["fields"] == {"glob": "outside prefix"}


def test_a_shard_put_whose_task_died_before_recording_keeps_its_count(
    object_store, bucket, fanned, monkeypatch, django_capture_on_commit_callbacks
):
    """The rewrite of shard 0 was put in the object's place, and its task died before recording
    it (or deleting the earlier version that also holds the subject). The bucket keeps versions,
    so the object as it was before the put is one of them: the retry finds it, deletes it with
    the earlier one, and the receipt counts three lines, as without the crash (never four)."""
    name, emails, _ = bucket
    request = file_request(emails[0])
    with django_capture_on_commit_callbacks(execute=True):
        target_run_execute(run_id=request.runs.get().pk)
    first = ShardRun.objects.get(key=shard_key(0).removeprefix(PREFIX))
    real = Store.publish

    def put_then_die(self, temp, ref):
        real(self, temp, ref)
        raise Killed

    with monkeypatch.context() as patch:
        patch.setattr(Store, "publish", put_then_die)
        with pytest.raises(Killed):
            shard_run_execute(shard_id=first.pk)
    assert emails[0].encode() not in gzip.decompress(object_store.read(name, shard_key(0)))
    run_all(fanned, django_capture_on_commit_callbacks)

    (payload,) = receipts()
    assert payload["outcome"] == "erased", payload
    assert (payload["action"]["count"], payload["postcheck"]["remaining"]) == ("3", "0")
    assert payload["shards"]["changed"] == "2"
    for version in object_store.versions(name, shard_key(0)):
        data = gzip.decompress(object_store.read(name, version["Key"], version["VersionId"]))
        assert emails[0].encode() not in data
