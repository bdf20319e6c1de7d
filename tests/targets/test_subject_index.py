"""The subject index Lup builds by scanning a target: a JSON Lines eval set no one uploaded
membership for is scanned through the API, its subjects' keys become its version's membership,
and planning reaches the target; a re-index replaces that membership; a kind that cannot scan,
a target that is not active or stores no version, are refused and change nothing."""

import gzip
import json
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone

from core.subject_keys import key_for
from erasure.models import ErasureRequest, Target
from erasure.services import erasure_request_transition
from lineage import services as lineage
from lineage.membership import subject_locations
from lineage.models import DatasetVersion, Membership, MembershipStage
from lineage.services import VersionInput
from targets import indexing
from targets.models import TargetIndex
from tests import identifiers

REQUESTS = "/api/v1/erasure-requests"
TARGETS = "/api/v1/erasure/targets"


@pytest.fixture
def in_process(settings, transactional_db, tmp_path):
    """Tasks run where they are sent (after the commit that queues them), files under tmp."""
    from config.celery import app

    was = app.conf.task_always_eager
    app.conf.task_always_eager = True
    settings.LUP_FILE_ROOTS = [str(tmp_path)]
    yield tmp_path
    app.conf.task_always_eager = was


@pytest.fixture
def officer(api):
    return api("erasure:write", "erasure:read")


def eval_line(number: int, email: str) -> str:
    """A line as an eval-set export writes it: the subject nested under `user`."""
    return json.dumps(
        {
            "id": f"qa-{number}",
            "user": {"email": email, "locale": "km-KH"},
            "prompt": "តើខ្ញុំអាចប្តូរពាក្យសម្ងាត់ដោយរបៀបណា?",
            "response": "Open Settings, then Security.",
        },
        ensure_ascii=False,
    )


def write_eval_set(path: Path, emails: list[str]) -> None:
    lines = [eval_line(n, email) for n, email in enumerate(emails)]
    lines.insert(1, "not json: a stray line")  # kept by the scan, holds nobody
    lines.append(json.dumps({"id": "qa-x", "user": {"email": "not an address"}}))  # invalid
    path.write_text("\n".join(lines) + "\n")


def eval_version(name: str = "khmer-qa") -> DatasetVersion:
    return lineage.version_register(
        dataset=lineage.dataset_register(namespace="s3://evals", name=name),
        data=VersionInput(version="3"),
    )


def register(client, name: str, *, kind="jsonl_file", config=None, versions=()) -> dict:
    body = {
        "name": name,
        "kind": kind,
        "country": "KH",
        "config": config or {"path": f"{name}.jsonl", "match": {"email": "user.email"}},
        "versions": [str(v.pk) for v in versions],
    }
    response = client.post(TARGETS, body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def planned_targets(client, email: str) -> dict[str, list[str]]:
    created = client.post(
        REQUESTS,
        {"identifiers": [{"id_type": "email", "value": email}], "country": "KH"},
        format="json",
    ).json()
    request = erasure_request_transition(
        request=ErasureRequest.objects.get(pk=created["id"]),
        to_state="verified",
        actor="staff:test",
        reason="checked in person",
    )
    plan = client.post(f"{REQUESTS}/{request.pk}/plan")
    assert plan.status_code == 201, plan.json()
    return {entry["target"]: entry["reasons"] for entry in plan.json()["targets"]}


def test_a_scanned_index_finds_the_subject_and_planning_reaches_the_target(in_process, officer):
    """No membership was uploaded: the scan alone puts the subject in the version, and the
    request's plan reaches the target that stores it."""
    subject, others = identifiers.email(), [identifiers.email() for _ in range(3)]
    write_eval_set(in_process / "khmer-qa.jsonl", [others[0], subject, others[1], subject])
    version = eval_version()
    target = register(officer, "khmer-qa", versions=[version])
    assert planned_targets(officer, subject) == {}  # nothing says the subject is there yet

    started = officer.post(f"{TARGETS}/{target['id']}/index", {}, format="json")

    assert started.status_code == 202, started.json()
    status = officer.get(f"{TARGETS}/{target['id']}/index").json()
    assert status["state"] == "done", status
    assert status["error_code"] == ""
    assert status["records"] == 6  # four subjects' lines, the stray line, the invalid address
    assert status["identifiers"] == 5
    assert status["invalid"] == 1
    assert status["subjects"] == 3
    assert status["versions"] == 1
    assert status["indexed_at"] is not None
    members = set(Membership.objects.filter(version=version).values_list("subject_key", flat=True))
    assert members == {key_for("email", e) for e in (subject, others[0], others[1])}
    version.refresh_from_db()
    assert version.membership_declared
    assert not MembershipStage.objects.exists()  # the staged keys went with the swap

    assert planned_targets(officer, subject) == {
        "khmer-qa": [
            "s3://evals:khmer-qa version 3 holds this subject "
            "(membership indexed by scanning target khmer-qa)"
        ]
    }
    assert planned_targets(officer, others[2]) == {}  # not in the file: not planned


def test_a_sharded_target_is_scanned_shard_by_shard(in_process, officer):
    """A directory of gzip shards (`dir` + `glob`): every shard's subjects are indexed."""
    subjects = [identifiers.email() for _ in range(3)]
    folder = in_process / "chats"
    folder.mkdir()
    for n, emails in enumerate([[subjects[0]], [subjects[1], subjects[0]], [subjects[2]]]):
        text = "".join(eval_line(i, e) + "\n" for i, e in enumerate(emails))
        (folder / f"part-{n}.jsonl.gz").write_bytes(gzip.compress(text.encode()))
    version = eval_version()
    config = {"dir": "chats", "glob": "*.jsonl.gz", "match": {"email": "user.email"}}
    target = register(officer, "chats", config=config, versions=[version])

    started = officer.post(f"{TARGETS}/{target['id']}/index", {}, format="json")

    assert started.status_code == 202, started.json()
    status = officer.get(f"{TARGETS}/{target['id']}/index").json()
    assert status["state"] == "done", status
    assert (status["records"], status["subjects"]) == (4, 3)
    members = set(Membership.objects.filter(version=version).values_list("subject_key", flat=True))
    assert members == {key_for("email", e) for e in subjects}
    assert set(planned_targets(officer, subjects[2])) == {"chats"}


def test_the_target_page_shows_the_index(in_process, officer, django_user_model):
    """Staff see on the target's admin page whether it is indexed, when, and what was found."""
    write_eval_set(in_process / "shown.jsonl", [identifiers.email(), identifiers.email()])
    target = register(officer, "shown", versions=[eval_version("shown")])
    auditor = django_user_model.objects.create_user("auditor", is_staff=True)
    auditor.groups.add(Group.objects.get(name="auditor"))
    browser = Client()
    browser.force_login(auditor)
    page = f"/admin/erasure/target/{target['id']}/change/"
    before = browser.get(page).content.decode()
    assert '<strong class="subject-index-state">not indexed</strong>' in before

    officer.post(f"{TARGETS}/{target['id']}/index", {"every_minutes": 30}, format="json")

    shown = browser.get(page).content.decode()
    assert '<strong class="subject-index-state">done</strong>' in shown
    assert "rebuilt every 30 min" in shown
    assert "2 subject(s) in 1 version(s)" in shown


def test_a_re_index_replaces_the_membership(in_process, officer):
    """A subject erased from the file leaves the version at the next build; a new one comes in;
    an upload's extra member is replaced too (the scan is the membership now)."""
    gone, stays, arrives = (identifiers.email() for _ in range(3))
    path = in_process / "support-evals.jsonl"
    write_eval_set(path, [gone, stays])
    version = eval_version("support-evals")
    target = register(officer, "support-evals", versions=[version])
    url = f"{TARGETS}/{target['id']}/index"
    assert officer.post(url, {}, format="json").status_code == 202
    assert subject_locations(keys=[key_for("email", gone)])["versions"]

    write_eval_set(path, [stays, arrives, arrives])
    assert officer.post(url, {}, format="json").status_code == 202

    assert officer.get(url).json()["subjects"] == 2
    members = set(Membership.objects.filter(version=version).values_list("subject_key", flat=True))
    assert members == {key_for("email", stays), key_for("email", arrives)}
    assert subject_locations(keys=[key_for("email", gone)])["versions"] == []


def test_a_build_that_finds_nobody_fails_and_keeps_the_membership(in_process, officer):
    """A `match` naming the wrong field finds no one: the build fails with a code, and the
    version keeps the members it had rather than being declared empty."""
    subject = identifiers.email()
    path = in_process / "renamed.jsonl"
    write_eval_set(path, [subject])
    version = eval_version("renamed")
    target = register(officer, "renamed", versions=[version])
    url = f"{TARGETS}/{target['id']}/index"
    assert officer.post(url, {}, format="json").status_code == 202

    path.write_text(json.dumps({"id": "qa-1", "customer": {"email": subject}}) + "\n")
    assert officer.post(url, {}, format="json").status_code == 202

    status = officer.get(url).json()
    assert (status["state"], status["error_code"]) == ("failed", "empty_membership")
    assert status["records"] == 1 and status["identifiers"] == 0
    kept = Membership.objects.filter(version=version).values_list("subject_key", flat=True)
    assert list(kept) == [key_for("email", subject)]
    assert not MembershipStage.objects.exists()


def test_a_large_file_is_staged_in_batches(in_process, officer, monkeypatch):
    """Keys are written as the scan reads (a batch at a time, progress on the row between),
    never gathered first."""
    from lineage import membership

    monkeypatch.setattr(membership, "WRITE_BATCH", 100)
    monkeypatch.setattr(indexing, "PROGRESS_SECONDS", 0.0)
    emails = [f"p{n}@example.org" for n in range(1050)]
    write_eval_set(in_process / "big.jsonl", emails)
    version = eval_version("big")
    target = register(officer, "big", versions=[version])
    seen: list[int] = []
    staged = membership._stage_write

    def spy(stage, keys):
        # What the row says while the scan is still under way.
        seen.append(TargetIndex.objects.get(target_id=target["id"]).keys_staged)
        staged(stage, keys)

    monkeypatch.setattr(membership, "_stage_write", spy)
    assert officer.post(f"{TARGETS}/{target['id']}/index", {}, format="json").status_code == 202

    assert len(seen) == 11  # 1050 keys, 100 a batch
    assert seen[:3] == [0, 100, 200]  # each batch's progress was on the row before the next
    assert Membership.objects.filter(version=version).count() == 1050


def test_refusals_change_nothing(in_process, officer, api):
    """Unknown target 404; a kind that cannot scan 400; a target that is not active or stores
    no version 409; a schedule out of range 400. No index row, no membership."""
    version = eval_version("refused")
    (in_process / "no-versions.jsonl").write_text(eval_line(1, identifiers.email()) + "\n")
    no_versions = register(officer, "no-versions")
    manual = register(
        officer,
        "support-desk",
        kind="manual",
        config={"instructions": "Ask the desk to delete the customer.", "id_types": ["email"]},
        versions=[version],
    )
    (in_process / "retired.jsonl").write_text(eval_line(1, identifiers.email()) + "\n")
    retired = register(officer, "retired", versions=[version])
    Target.objects.filter(pk=retired["id"]).update(state=Target.State.RETIRED)
    (in_process / "scheduled.jsonl").write_text(eval_line(1, identifiers.email()) + "\n")
    scheduled = register(officer, "scheduled", versions=[version])

    def refused(target_id, body=None):
        response = officer.post(f"{TARGETS}/{target_id}/index", body or {}, format="json")
        return response.status_code, response.json()["code"]

    assert refused(999_999) == (404, "unknown_target")
    assert officer.get(f"{TARGETS}/999999/index").status_code == 404
    assert refused(manual["id"]) == (400, "capability_not_supported")
    assert refused(retired["id"]) == (409, "target_not_active")
    assert refused(no_versions["id"]) == (409, "target_has_no_versions")
    assert refused(scheduled["id"], {"every_minutes": 0}) == (400, "invalid")
    assert refused(scheduled["id"], {"every_minutes": "hourly"}) == (400, "invalid")
    assert not TargetIndex.objects.exists()
    assert not Membership.objects.exists()
    assert officer.get(f"{TARGETS}/{scheduled['id']}/index").json()["state"] == "not_indexed"
    reader = api("erasure:read")
    assert reader.post(f"{TARGETS}/{scheduled['id']}/index", {}, format="json").status_code == 403


def test_beat_rebuilds_a_scheduled_index_when_due(in_process, officer):
    """`every_minutes` makes beat's `targets.index_due` rebuild the index that often; a target
    without a schedule is left alone."""
    first, later = identifiers.email(), identifiers.email()
    path = in_process / "hourly.jsonl"
    write_eval_set(path, [first])
    version = eval_version("hourly")
    target = register(officer, "hourly", versions=[version])
    url = f"{TARGETS}/{target['id']}/index"
    started = officer.post(url, {"every_minutes": 60}, format="json").json()
    assert started["every_minutes"] == 60
    write_eval_set(path, [later])

    assert indexing.target_index_due(now=timezone.now() + timedelta(minutes=30)) == 0
    assert indexing.target_index_due(now=timezone.now() + timedelta(minutes=61)) == 1

    members = list(Membership.objects.filter(version=version).values_list("subject_key", flat=True))
    assert members == [key_for("email", later)]
    assert officer.post(url, {"every_minutes": None}, format="json").json()["every_minutes"] is None
    assert indexing.target_index_due(now=timezone.now() + timedelta(days=2)) == 0


def test_a_lost_build_is_started_again(in_process, officer, monkeypatch):
    """A build whose task never ran (the broker lost it) is queued and silent: beat starts it
    again once it has been silent STALE_SECONDS; a task for a superseded build does nothing."""
    subject = identifiers.email()
    write_eval_set(in_process / "lost.jsonl", [subject])
    version = eval_version("lost")
    target = register(officer, "lost", versions=[version])
    monkeypatch.setattr(indexing, "_enqueue", lambda **_: None)  # the message is lost
    officer.post(f"{TARGETS}/{target['id']}/index", {}, format="json")
    lost_run = str(TargetIndex.objects.get(target_id=target["id"]).run)
    assert indexing.target_index_due() == 0  # not silent long enough
    monkeypatch.undo()

    later = timezone.now() + timedelta(seconds=indexing.STALE_SECONDS + 1)
    assert indexing.target_index_due(now=later) == 1

    index = TargetIndex.objects.get(target_id=target["id"])
    assert index.state == TargetIndex.State.DONE
    assert indexing.target_index_build(target_id=target["id"], run=lost_run) == "skipped"
    assert Membership.objects.filter(version=version).count() == 1


def test_a_build_superseded_before_its_swap_changes_nothing(in_process, officer, monkeypatch):
    """A build that lost the index to a newer one (it was silent too long) does not swap in
    what it staged: part of it may be gone."""
    first, second = identifiers.email(), identifiers.email()
    path = in_process / "superseded.jsonl"
    write_eval_set(path, [first])
    version = eval_version("superseded")
    target = register(officer, "superseded", versions=[version])
    url = f"{TARGETS}/{target['id']}/index"
    assert officer.post(url, {}, format="json").status_code == 202
    write_eval_set(path, [second])
    monkeypatch.setattr(indexing, "_enqueue", lambda **_: None)
    officer.post(url, {}, format="json")
    old_run = TargetIndex.objects.get(target_id=target["id"]).run
    scan = indexing._keys

    def asked_again_meanwhile(connector, counts):
        yield from scan(connector, counts)
        TargetIndex.objects.filter(target_id=target["id"]).update(run=uuid.uuid4())

    monkeypatch.setattr(indexing, "_keys", asked_again_meanwhile)
    assert indexing.target_index_build(target_id=target["id"], run=str(old_run)) == "failed"

    kept = Membership.objects.filter(version=version).values_list("subject_key", flat=True)
    assert list(kept) == [key_for("email", first)]
    assert not MembershipStage.objects.exists()


@pytest.mark.slow
def test_a_worker_builds_the_index_from_its_kinds_queue(
    celery_workers, api, tmp_path, settings, monkeypatch
):
    """With a real worker and broker: the build is queued on `erasure.jsonl_file` (where the
    workers that mount the file roots listen) and the row shows it done."""
    monkeypatch.setenv("LUP_FILE_ROOTS", str(tmp_path))
    settings.LUP_FILE_ROOTS = [str(tmp_path)]
    celery_workers()
    officer = api("erasure:write", "erasure:read")
    subject = identifiers.email()
    write_eval_set(tmp_path / "worker.jsonl", [subject])
    version = eval_version("worker")
    target = register(officer, "worker", versions=[version])

    started = officer.post(f"{TARGETS}/{target['id']}/index", {}, format="json")
    assert started.status_code == 202
    assert started.json()["state"] == "queued"

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = officer.get(f"{TARGETS}/{target['id']}/index").json()
        if status["state"] in ("done", "failed"):
            break
        time.sleep(0.3)
    assert (status["state"], status["subjects"]) == ("done", 1), status
    assert list(
        Membership.objects.filter(version=version).values_list("subject_key", flat=True)
    ) == [key_for("email", subject)]
