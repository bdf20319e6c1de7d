"""A sharded target (a directory of gzip JSON Lines files): a pass lists its shards once and
fans out one task per shard; a batch of requests reads each shard once (and one with a match
once more, for its post-check), never rewrites a shard without a match, and gives
each request one receipt whose `shards` names the manifest the bundle delivers and the verifier
recomputes."""

import gzip
import json
import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone

from connectors import rewrite
from erasure import dispatch
from erasure.gate import erasure_request_retry_failed
from erasure.models import ErasureRequest, ShardRun, TargetRun
from erasure.runs import target_run_execute
from erasure.selectors import erasure_request_bundle
from erasure.services import legal_hold_create
from erasure.shards import shard_run_execute, tasks
from erasure.sweeper import erasure_sweep
from erasure.tasks import erasure_close_requests, erasure_run_shard
from ledger import verify
from tests import identifiers
from tests.erasure.approvals import approve_proposed_targets
from tests.erasure.test_batching import file_request, receipts

pytestmark = pytest.mark.django_db

SHARDS = 12


def write_shard(path, emails, n):
    lines = [{"email": "keep@example.org", "n": n}] + [{"email": e, "n": n} for e in emails]
    text = "".join(json.dumps(line) + "\n" for line in lines)
    path.write_bytes(gzip.compress(text.encode()))


@pytest.fixture
def shards_dir(tmp_path, settings, api):
    """Twelve shards; subject i's lines are in shards i and i + 5, the last two hold nobody's,
    and a sharded `jsonl_file` target over them."""
    settings.LUP_FILE_ROOTS = [str(tmp_path)]
    settings.LUP_SHARD_GROUP_BYTES = 0  # a task a shard
    emails = [identifiers.email().lower() for _ in range(5)]
    (tmp_path / "chats").mkdir()
    for n in range(SHARDS):
        held = [e for i, e in enumerate(emails) if n in (i, i + 5)]
        write_shard(tmp_path / "chats" / f"part-{n:03}.jsonl.gz", held, n)
    staff = api("erasure:write")
    response = staff.post(
        "/api/v1/erasure/targets",
        {
            "name": "chats",
            "kind": "jsonl_file",
            "country": "KH",
            "always": True,
            "config": {"dir": "chats", "glob": "*.jsonl.gz", "match": {"email": "email"}},
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    approve_proposed_targets()
    return tmp_path / "chats", emails


@pytest.fixture
def fanned(monkeypatch):
    """Shard tasks handed to the broker; the test runs them where a worker would."""
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
    opened: list[str] = []
    real = rewrite.open_regular

    def counting(path, **kwargs):
        opened.append(path.name)
        return real(path, **kwargs)

    monkeypatch.setattr(rewrite, "open_regular", counting)
    return opened


def run_all(sent, capture):
    with capture(execute=True):
        while sent:
            erasure_run_shard.apply(args=[sent.pop(0)])


def test_a_batch_reads_each_shard_once_and_gets_one_receipt_a_request(
    shards_dir, fanned, reads, django_capture_on_commit_callbacks
):
    directory, emails = shards_dir
    requests = [file_request(email) for email in emails]
    untouched = {p.name: p.read_bytes() for p in directory.iterdir() if p.name >= "part-010"}
    runs = list(TargetRun.objects.order_by("pk"))
    with django_capture_on_commit_callbacks(execute=True):
        target_run_execute(run_id=runs[0].pk)
    assert {r.status for r in TargetRun.objects.all()} == {"sharded"}  # the whole batch
    assert len(fanned) == SHARDS and ShardRun.objects.count() == SHARDS
    run_all(fanned, django_capture_on_commit_callbacks)

    # Each shard read once for the whole batch, as it is erased; the ten with a match once
    # more, for their post-check.
    assert sorted(reads) == sorted(
        [f"part-{n:03}.jsonl.gz" for n in range(SHARDS)]
        + [f"part-{n:03}.jsonl.gz" for n in range(10)]
    )
    for path in directory.iterdir():
        if path.name in untouched:
            assert path.read_bytes() == untouched[path.name]  # read, never rewritten
        else:
            kept = gzip.decompress(path.read_bytes()).decode().splitlines()
            assert [json.loads(line)["email"] for line in kept] == ["keep@example.org"]
    assert sorted(p.name for p in directory.iterdir()) == sorted(
        f"part-{n:03}.jsonl.gz" for n in range(SHARDS)
    )  # no temporary file left behind

    payloads = receipts()
    assert len(payloads) == len(requests)
    for payload in payloads:
        assert payload["outcome"] == "erased"
        assert payload["action"]["count"] == "2" and payload["postcheck"]["remaining"] == "0"
        assert payload["shards"]["total"] == str(SHARDS)
        assert payload["shards"]["changed"] == "2"
        assert "before" not in payload  # the digests are per shard, in the manifest
    assert ErasureRequest.objects.filter(state="completed").count() == len(requests)

    bundle = erasure_request_bundle(request=ErasureRequest.objects.get(pk=requests[0].pk))
    key = verify.parse_verifier_key(bundle["verifier_key"])
    lines = verify.verify_bundle(bundle, key, emails[0])
    assert any("manifest of its 2 changed shard(s)" in line for line in lines)
    (manifest,) = bundle["manifests"].values()
    assert [entry["key"] for entry in manifest] == sorted(entry["key"] for entry in manifest)
    assert all(e["before"] != e["after"] for e in manifest)
    assert "part-" not in json.dumps(bundle)  # shard keys only hashed

    # A manifest short of one entry, or out of order, no longer verifies.
    for broken in (manifest[:1], manifest[::-1]):
        tampered = {**bundle, "manifests": {k: broken for k in bundle["manifests"]}}
        with pytest.raises(verify.VerificationError) as excinfo:
            verify.verify_bundle(tampered, key, emails[0])
        assert excinfo.value.check == "bundle.manifest"
    with pytest.raises(verify.VerificationError):
        verify.verify_bundle({**bundle, "manifests": {}}, key, emails[0])


def test_a_dead_workers_shard_is_given_back_by_the_sweeper_and_done_once(
    shards_dir, fanned, settings, django_capture_on_commit_callbacks
):
    _, emails = shards_dir
    request = file_request(emails[0])
    with django_capture_on_commit_callbacks(execute=True):
        target_run_execute(run_id=request.runs.get().pk)
    first = ShardRun.objects.get(key="part-000.jsonl.gz")
    # A worker claimed it and died: its claim stays, and its message is gone.
    ShardRun.objects.filter(pk=first.pk).update(
        status="claimed", claimed_at=timezone.now(), claimed_by="gone:1"
    )
    fanned[:] = [ids for ids in fanned if ids != [first.pk]]
    run_all(fanned, django_capture_on_commit_callbacks)
    assert request.runs.get().status == "sharded"  # waits for its last shard
    assert erasure_sweep() == 0  # too soon: the worker may be slow, not dead

    later = timezone.now() + timedelta(seconds=settings.LUP_SWEEP_AFTER_SECONDS + 1)
    assert erasure_sweep(now=later) >= 1
    assert fanned == [[first.pk]]
    run_all(fanned, django_capture_on_commit_callbacks)
    assert set(ShardRun.objects.values_list("status", flat=True)) == {"done"}
    (payload,) = receipts()
    assert payload["shards"] == {**payload["shards"], "total": str(SHARDS), "changed": "2"}
    assert ErasureRequest.objects.get(pk=request.pk).state == "completed"


def test_a_shard_that_fails_for_good_fails_its_passes_runs_and_the_rest_is_erased(
    shards_dir, fanned, settings, django_capture_on_commit_callbacks
):
    directory, emails = shards_dir
    settings.LUP_RUN_MAX_ATTEMPTS = 1
    (directory / "part-003.jsonl.gz").write_bytes(b"not gzip at all\n")
    request = file_request(emails[0])
    with django_capture_on_commit_callbacks(execute=True):
        target_run_execute(run_id=request.runs.get().pk)
    run_all(fanned, django_capture_on_commit_callbacks)
    failed = ShardRun.objects.get(key="part-003.jsonl.gz")
    assert (failed.status, failed.attempts, failed.last_error) == ("failed", 1, "file_unreadable")
    run = request.runs.get()
    assert (run.status, run.last_error, run.receipt_id) == ("failed", "file_unreadable", None)
    assert ErasureRequest.objects.get(pk=request.pk).state == "partially_completed"
    assert b"keep@example.org" in gzip.decompress((directory / "part-000.jsonl.gz").read_bytes())

    # Staff fix the file and run the failed target again: a new pass over every shard.
    write_shard(directory / "part-003.jsonl.gz", [emails[0]], 3)
    with django_capture_on_commit_callbacks(execute=True):
        erasure_request_retry_failed(request=request, actor="staff:t", reason="file restored")
    with django_capture_on_commit_callbacks(execute=True):
        target_run_execute(run_id=run.pk)
    assert len(fanned) == SHARDS
    run_all(fanned, django_capture_on_commit_callbacks)
    (payload,) = receipts()
    assert (payload["outcome"], payload["action"]["count"]) == ("erased", "1")
    assert payload["shards"] == {**payload["shards"], "total": str(SHARDS), "changed": "1"}
    assert ErasureRequest.objects.get(pk=request.pk).state == "completed"


def test_small_shards_share_a_task_up_to_the_byte_limit(settings):
    settings.LUP_SHARD_GROUP_BYTES = 100
    assert tasks([(1, 40), (2, 40), (3, 40), (4, 500), (5, 10)]) == [[1, 2], [3], [4], [5]]
    settings.LUP_SHARD_GROUP_BYTES = 0
    assert tasks([(1, 0), (2, 0)]) == [[1], [2]]
    settings.LUP_SHARD_GROUP_BYTES = 10**9
    assert [len(group) for group in tasks([(n, 1) for n in range(50)])] == [20, 20, 10]


def test_a_glob_that_leaves_its_directory_is_refused_at_registration(api, tmp_path, settings):
    settings.LUP_FILE_ROOTS = [str(tmp_path)]
    (tmp_path / "chats").mkdir()
    response = api("erasure:write").post(
        "/api/v1/erasure/targets",
        {
            "name": "escape",
            "kind": "jsonl_file",
            "country": "KH",
            "config": {"dir": "chats", "glob": "../*.jsonl", "match": {"email": "email"}},
        },
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["code"] == "path_outside_roots"


def test_a_held_subject_is_left_out_of_the_pass_and_counted_across_shards(
    shards_dir, fanned, django_capture_on_commit_callbacks
):
    directory, emails = shards_dir
    held, free = file_request(emails[0]), file_request(emails[1])
    legal_hold_create(
        subject_key=held.subject_keys.values_list("key", flat=True)[0],
        basis="litigation-2026-17",
        until=timezone.now() + timedelta(days=30),
        actor="staff:t",
    )
    with django_capture_on_commit_callbacks(execute=True):
        target_run_execute(run_id=free.runs.get().pk)
    run_all(fanned, django_capture_on_commit_callbacks)
    payloads = {p["request"]["id"]: p for p in receipts()}
    assert payloads[str(held.pk)]["outcome"] == "held"
    assert payloads[str(held.pk)]["postcheck"]["remaining"] == "2"  # found in two shards
    assert payloads[str(free.pk)]["shards"]["changed"] == "2"
    assert emails[0].encode() in gzip.decompress((directory / "part-000.jsonl.gz").read_bytes())


def test_a_failed_shard_is_tried_again_on_its_own_when_its_retry_is_due(
    shards_dir, fanned, settings, django_capture_on_commit_callbacks
):
    """In process (no broker to hold a countdown) the sweeper tries it again at `retry_at`."""
    directory, emails = shards_dir
    settings.LUP_RUN_RETRY_BACKOFF_SECONDS = 60
    good = (directory / "part-000.jsonl.gz").read_bytes()
    (directory / "part-000.jsonl.gz").write_bytes(b"not gzip yet\n")
    request = file_request(emails[0])
    with django_capture_on_commit_callbacks(execute=True):
        target_run_execute(run_id=request.runs.get().pk)
    run_all(fanned, django_capture_on_commit_callbacks)
    shard = ShardRun.objects.get(key="part-000.jsonl.gz")
    assert (shard.status, shard.attempts, shard.last_error) == ("pending", 1, "file_unreadable")
    assert request.runs.get().status == "sharded"

    (directory / "part-000.jsonl.gz").write_bytes(good)  # the operator fixed the file
    assert erasure_sweep(now=shard.retry_at - timedelta(seconds=1)) == 0
    assert erasure_sweep(now=shard.retry_at) == 1
    assert fanned == [[shard.pk]]
    run_all(fanned, django_capture_on_commit_callbacks)
    (payload,) = receipts()
    assert payload["outcome"] == "erased" and payload["shards"]["changed"] == "2"


def test_staff_follow_a_pass_shard_by_shard_in_the_admin(
    shards_dir, fanned, django_user_model, django_capture_on_commit_callbacks
):
    """From a run of a sharded pass to its shards: their count by status, each shard's status,
    attempts, failure code and items erased; read-only, and no identifier shown."""
    _, emails = shards_dir
    request = file_request(emails[0])
    run = request.runs.get()
    with django_capture_on_commit_callbacks(execute=True):
        target_run_execute(run_id=run.pk)
    fanned.pop()  # the last shard's task is still queued: pending
    run_all(fanned, django_capture_on_commit_callbacks)
    ShardRun.objects.filter(key="part-001.jsonl.gz").update(attempts=2, last_error="unreachable")

    staff = Client()
    user = django_user_model.objects.create_user("auditor-1", is_staff=True)
    user.groups.add(Group.objects.get(name="auditor"))
    staff.force_login(user)
    page = staff.get(f"/admin/erasure/targetrun/{run.pk}/change/").content.decode()
    assert f'shardrun/?run__id__exact={run.pk}">{SHARDS} shard(s)</a>: ' in page
    assert f"{SHARDS - 1} done, 1 pending" in page

    listing = staff.get(f"/admin/erasure/shardrun/?run__id__exact={run.pk}")
    assert listing.status_code == 200
    (table,) = re.findall(r'<table id="result_list">.*?</table>', listing.content.decode(), re.S)
    rows = re.findall(r"<tr[^>]*>.*?</tr>", table, re.S)[1:]  # the header row first
    assert len(rows) == SHARDS
    flaky = next(row for row in rows if "part-001.jsonl.gz" in row)
    assert "unreachable" in flaky and '<td class="field-attempts">2</td>' in flaky
    holding = next(row for row in rows if "part-000.jsonl.gz" in row)
    assert '<td class="field-erased">1</td>' in holding
    assert emails[0] not in listing.content.decode()
    shard = ShardRun.objects.get(key="part-000.jsonl.gz")
    assert staff.get(f"/admin/erasure/shardrun/{shard.pk}/change/").status_code == 200
    assert staff.get("/admin/erasure/shardrun/add/").status_code == 403


class Killed(BaseException):
    """The worker process dying: nothing after it runs but `finally` blocks."""


def test_a_shard_whose_task_died_between_publishing_and_recording_keeps_its_count(
    shards_dir, fanned, monkeypatch, django_capture_on_commit_callbacks
):
    """The rewrite of a shard replaced it, and its task died before recording that. The retry
    finds the subject gone from the shard, and takes what the rewrite did from what the task
    kept just before publishing: the request's receipt counts both of its lines and names
    both changed shards, as it would have without the crash."""
    directory, emails = shards_dir
    request = file_request(emails[0])
    with django_capture_on_commit_callbacks(execute=True):
        target_run_execute(run_id=request.runs.get().pk)
    first = ShardRun.objects.get(key="part-000.jsonl.gz")
    real = rewrite.FileRewrite.publish

    def publish_then_die(self, temp, path, dir_fd):
        real(self, temp, path, dir_fd)
        raise Killed

    with monkeypatch.context() as patch:
        patch.setattr(rewrite.FileRewrite, "publish", publish_then_die)
        with pytest.raises(Killed):
            shard_run_execute(shard_id=first.pk)
    kept = gzip.decompress((directory / "part-000.jsonl.gz").read_bytes()).decode()
    assert emails[0] not in kept  # published: the subject is gone from the shard
    first.refresh_from_db()
    assert first.status == "pending" and first.prepared["counts"] == {str(first.run_id): 1}

    run_all(fanned, django_capture_on_commit_callbacks)
    first.refresh_from_db()
    assert (first.status, first.counts, first.prepared) == ("done", {str(first.run_id): 1}, {})
    assert first.before and first.after and first.before != first.after
    (payload,) = receipts()
    assert payload["action"]["count"] == "2" and payload["postcheck"]["remaining"] == "0"
    assert payload["shards"]["changed"] == "2"


def test_a_prepared_rewrite_that_was_never_published_is_not_counted(
    shards_dir, fanned, monkeypatch, django_capture_on_commit_callbacks
):
    """A task that died after keeping what its rewrite would do, but before publishing it,
    changed nothing: the retry erases the shard as if for the first time, counting once."""
    directory, emails = shards_dir
    request = file_request(emails[0])
    with django_capture_on_commit_callbacks(execute=True):
        target_run_execute(run_id=request.runs.get().pk)
    first = ShardRun.objects.get(key="part-000.jsonl.gz")
    before = (directory / "part-000.jsonl.gz").read_bytes()

    def die(self, temp, path, dir_fd):
        raise Killed

    with monkeypatch.context() as patch:
        patch.setattr(rewrite.FileRewrite, "publish", die)
        with pytest.raises(Killed):
            shard_run_execute(shard_id=first.pk)
    assert (directory / "part-000.jsonl.gz").read_bytes() == before
    run_all(fanned, django_capture_on_commit_callbacks)
    first.refresh_from_db()
    assert (first.status, first.counts) == ("done", {str(first.run_id): 1})
    (payload,) = receipts()
    assert payload["action"]["count"] == "2" and payload["shards"]["changed"] == "2"
