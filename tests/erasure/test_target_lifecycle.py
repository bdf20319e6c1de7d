"""A target's life: a target that erased something is part of the record (its receipts name
it), so it is retired, never deleted; a retired target is kept and planned no more."""

import json

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from erasure.models import ErasureRequest, Target
from erasure.runs import target_run_execute
from tests import identifiers
from tests.erasure.approvals import approve_proposed_targets
from tests.erasure.test_planning import verified_request

pytestmark = pytest.mark.django_db
URL = "/api/v1/erasure/targets"


@pytest.fixture
def client(api, tmp_path, settings):
    settings.LUP_FILE_ROOTS = [str(tmp_path)]
    return api("erasure:write", "erasure:read")


@pytest.fixture
def erased_through(client, enqueued, tmp_path, django_capture_on_commit_callbacks):
    def make() -> tuple[dict, ErasureRequest]:
        return _erased_through(client, enqueued, tmp_path, django_capture_on_commit_callbacks)

    return make


def _erased_through(client, enqueued, tmp_path, on_commit) -> tuple[dict, ErasureRequest]:
    """An `always` target that has erased one subject's row: it has a run and a receipt."""
    email = identifiers.email()
    (tmp_path / "chat-log.jsonl").write_text(json.dumps({"email": email}) + "\n")
    created = client.post(
        URL,
        {
            "name": "chat-log",
            "kind": "jsonl_file",
            "country": "KH",
            "config": {"path": "chat-log.jsonl", "match": {"email": "email"}},
            "always": True,
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    approve_proposed_targets()
    request = verified_request(client, email)
    with on_commit(execute=True):
        assert client.post(f"/api/v1/erasure-requests/{request.pk}/plan").status_code == 201
    for run_id in enqueued:
        with on_commit(execute=True):
            target_run_execute(run_id=run_id)
    request.refresh_from_db()
    assert request.state == "completed"
    return created.json(), request


def test_a_target_with_runs_is_retired_not_deleted(client, erased_through):
    target, _ = erased_through()
    refused = client.delete(f"{URL}/{target['id']}")
    assert (refused.status_code, refused.json()["code"]) == (409, "target_in_use")
    assert Target.objects.filter(pk=target["id"]).exists()

    no_reason = client.post(f"{URL}/{target['id']}/retire", {"reason": " "}, format="json")
    assert no_reason.status_code == 400
    assert Target.objects.get(pk=target["id"]).state == "active"

    retired = client.post(
        f"{URL}/{target['id']}/retire",
        {"reason": "chat logs moved to the new store"},
        format="json",
    )
    assert retired.status_code == 200, retired.json()
    body = retired.json()
    assert body["state"] == "retired"
    assert [e["action"] for e in body["events"]] == ["proposed", "approved", "retired"]
    event = body["events"][-1]
    assert event["actor"].startswith("token:")
    assert event["reason"] == "chat logs moved to the new store"
    assert client.get(f"{URL}/{target['id']}").json()["state"] == "retired"

    again = client.post(f"{URL}/{target['id']}/retire", {"reason": "twice"}, format="json")
    assert (again.status_code, again.json()["code"]) == (409, "target_retired")
    changed = client.put(
        f"{URL}/{target['id']}",
        {"name": "chat-log", "kind": "jsonl_file", "country": "KH", "config": {}},
        format="json",
    )
    assert (changed.status_code, changed.json()["code"]) == (409, "target_retired")
    missing = client.post(f"{URL}/999999/retire", {"reason": "x"}, format="json")
    assert (missing.status_code, missing.json()["code"]) == (404, "unknown_target")


def test_a_retired_target_is_never_planned_again(client, erased_through):
    target, _ = erased_through()
    client.post(f"{URL}/{target['id']}/retire", {"reason": "gone"}, format="json")
    later = verified_request(client, identifiers.email())
    planned = client.post(f"/api/v1/erasure-requests/{later.pk}/plan")
    assert planned.status_code == 201
    assert planned.json()["targets"] == []


def test_officers_retire_in_the_admin_and_engineers_may_not(erased_through, django_user_model):
    target, _ = erased_through()
    page = f"/admin/erasure/target/{target['id']}/change/"
    engineer = django_user_model.objects.create_user("eng", is_staff=True)
    engineer.groups.add(Group.objects.get(name="engineer"))
    browser = Client()
    browser.force_login(engineer)
    assert b"Retire this target" not in browser.get(page).content
    forged = browser.post(f"/admin/erasure/target/{target['id']}/retire/", {"reason": "mine"})
    assert forged.status_code == 403
    assert Target.objects.get(pk=target["id"]).state == "active"

    officer = django_user_model.objects.create_user("officer", is_staff=True)
    officer.groups.add(Group.objects.get(name="compliance_officer"))
    browser.force_login(officer)
    assert b"Retire this target" in browser.get(page).content
    deleted = browser.post(f"/admin/erasure/target/{target['id']}/delete/", {"post": "yes"})
    assert deleted.status_code in (200, 302)
    assert Target.objects.filter(pk=target["id"]).exists()
    done = browser.post(f"/admin/erasure/target/{target['id']}/retire/", {"reason": "replaced"})
    assert done.status_code == 302
    assert Target.objects.get(pk=target["id"]).state == "retired"
    shown = browser.get(page).content
    assert b"replaced" in shown and b"staff:officer" in shown
