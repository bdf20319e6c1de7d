"""Four eyes on erasure: approving a request needs `erasure:approve` and someone other than
whoever filed or verified it; a target that every request touches, that sends identifiers
out (webhook) or that maps identifiers (identity source) is planned only once a compliance
officer approves it; Lup's own database is no target."""

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from erasure.models import ErasureRequest, Target
from erasure.planning import erasure_request_plan
from erasure.services import erasure_request_create, erasure_request_transition
from tests import identifiers
from tests.erasure.approvals import approve_proposed_targets

pytestmark = pytest.mark.django_db
URL = "/api/v1/erasure-requests"
TARGETS = "/api/v1/erasure/targets"
WEBHOOK = {
    "name": "crm-hook",
    "kind": "webhook",
    "country": "MY",
    "always": "on",
    "config": (
        '{"url": "https://crm.example.org/erase", "secret_env": "CRM_HOOK_SECRET",'
        ' "id_types": ["email"]}'
    ),
}


@pytest.fixture
def roots(tmp_path, settings):
    settings.LUP_FILE_ROOTS = [str(tmp_path)]
    return tmp_path


@pytest.fixture
def clerk(api):
    """Files and verifies requests, registers targets: `erasure:write`, no approval."""
    return api("erasure:write", "erasure:read")


@pytest.fixture
def officer(api):
    return api("erasure:approve", "erasure:write", "erasure:read")


def staff_browser(django_user_model, username: str, role: str) -> Client:
    user = django_user_model.objects.create_user(username, is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    browser = Client()
    browser.force_login(user)
    return browser


def awaiting(filer, roots, *, verifier=None) -> str:
    """A request filed by `filer` and verified by `verifier` (or the filer), planned and
    waiting for approval: its one target requires it."""
    if not Target.objects.filter(name="training-set").exists():
        (roots / "train.jsonl").touch()
        made = filer.post(
            TARGETS,
            {
                "name": "training-set",
                "kind": "jsonl_file",
                "country": "VN",
                "always": True,
                "requires_approval": True,
                "config": {"path": "train.jsonl", "match": {"email": "email"}},
            },
            format="json",
        )
        assert made.json()["state"] == "proposed", made.json()
        approve_proposed_targets()
    request_id = filer.post(
        URL, {"identifiers": [{"id_type": "email", "value": identifiers.email()}]}, format="json"
    ).json()["id"]
    (verifier or filer).post(
        f"{URL}/{request_id}/verified-manually", {"reason": "id card"}, format="json"
    )
    assert filer.post(f"{URL}/{request_id}/plan").json()["state"] == "awaiting_approval"
    return request_id


def planned_targets(email: str) -> list[str]:
    request, _ = erasure_request_create(
        identifiers=[{"id_type": "email", "value": email}],
        country="SG",
        channel="api",
        actor="staff:t",
    )
    erasure_request_transition(request=request, to_state="verified", actor="staff:t")
    planned = erasure_request_plan(request=request, actor="staff:t")
    return sorted(planned.plan.values_list("target__name", flat=True))


def test_approving_needs_the_scope_and_a_second_person(clerk, officer, roots, api):
    request_id = awaiting(clerk, roots)
    no_scope = clerk.post(f"{URL}/{request_id}/approve", {"reason": "fine"}, format="json")
    assert (no_scope.status_code, no_scope.json()["code"]) == (403, "insufficient_scope")
    no_deny = clerk.post(f"{URL}/{request_id}/deny", {"reason": "no"}, format="json")
    assert (no_deny.status_code, no_deny.json()["code"]) == (403, "insufficient_scope")

    # Whoever verified a request, or filed it, may not approve it, whatever their scopes.
    verifier = api("erasure:approve", "erasure:write", "erasure:read")
    verified_by_them = awaiting(clerk, roots, verifier=verifier)
    own = verifier.post(f"{URL}/{verified_by_them}/approve", {"reason": "ok"}, format="json")
    assert (own.status_code, own.json()["code"]) == (403, "self_approval")
    filer = api("erasure:approve", "erasure:write", "erasure:read")
    filed_by_them = awaiting(filer, roots, verifier=clerk)
    own = filer.post(f"{URL}/{filed_by_them}/approve", {"reason": "ok"}, format="json")
    assert (own.status_code, own.json()["code"]) == (403, "self_approval")
    assert {r.state for r in ErasureRequest.objects.all()} == {"awaiting_approval"}

    approved = officer.post(f"{URL}/{request_id}/approve", {"reason": "fine"}, format="json")
    assert approved.status_code == 200, approved.json()
    assert approved.json()["state"] == "executing"
    assert approved.json()["transitions"][-1]["actor"] != approved.json()["transitions"][0]["actor"]


def test_a_one_person_operator_may_allow_self_approval(officer, roots, settings):
    request_id = awaiting(officer, roots)
    refused = officer.post(f"{URL}/{request_id}/approve", {"reason": "mine"}, format="json")
    assert (refused.status_code, refused.json()["code"]) == (403, "self_approval")
    settings.LUP_ALLOW_SELF_APPROVAL = True
    allowed = officer.post(f"{URL}/{request_id}/approve", {"reason": "mine"}, format="json")
    assert allowed.json()["state"] == "executing"


def test_staff_approve_only_as_compliance_officers(django_user_model, roots, clerk):
    request_id = awaiting(clerk, roots)
    for role, allowed in (("engineer", False), ("auditor", False), ("compliance_officer", True)):
        browser = staff_browser(django_user_model, f"{role}-1", role)
        answer = browser.post(
            f"{URL}/{request_id}/approve", {"reason": "ok"}, content_type="application/json"
        )
        assert (answer.status_code != 403) is allowed, (role, answer.json())
    assert ErasureRequest.objects.get(pk=request_id).state != "awaiting_approval"


def test_an_engineers_always_webhook_does_nothing_until_an_officer_approves_it(
    django_user_model, roots
):
    engineer = staff_browser(django_user_model, "eng", "engineer")
    added = engineer.post("/admin/erasure/target/add/", WEBHOOK)
    assert added.status_code == 302, added.content[-2000:]
    hook = Target.objects.get(name="crm-hook")
    assert hook.state == "proposed"
    assert list(hook.events.values_list("action", "actor")) == [("proposed", "staff:eng")]
    # Every request goes on without it: nothing is sent anywhere.
    assert planned_targets(identifiers.email()) == []

    page = f"/admin/erasure/target/{hook.pk}/change/"
    assert b'value="Approve"' not in engineer.get(page).content
    forged = engineer.post(f"/admin/erasure/target/{hook.pk}/approve/", {"reason": "mine"})
    assert forged.status_code == 403
    assert Target.objects.get(pk=hook.pk).state == "proposed"

    officer = staff_browser(django_user_model, "dpo", "compliance_officer")
    assert b'value="Approve"' in officer.get(page).content
    officer.post(f"/admin/erasure/target/{hook.pk}/approve/", {"reason": "contract CRM-7 signed"})
    hook.refresh_from_db()
    assert hook.state == "active"
    assert list(hook.events.values_list("action", "actor", "reason"))[-1] == (
        "approved",
        "staff:dpo",
        "contract CRM-7 signed",
    )
    assert planned_targets(identifiers.email()) == ["crm-hook"]


def test_a_change_to_an_approved_target_waits_and_the_proposer_cannot_approve_it(
    clerk, officer, roots
):
    for name in ("app.jsonl", "other.jsonl"):
        (roots / name).touch()
    made = clerk.post(
        TARGETS,
        {
            "name": "app-log",
            "kind": "jsonl_file",
            "country": "SG",
            "always": True,
            "config": {"path": "app.jsonl", "match": {"email": "email"}},
        },
        format="json",
    ).json()
    assert made["state"] == "proposed"
    assert planned_targets(identifiers.email()) == []
    assert (
        officer.post(f"{TARGETS}/{made['id']}/approve", {"reason": "ok"}, format="json").json()[
            "state"
        ]
        == "active"
    )

    # The officer proposes a change: it waits, the target works as it was.
    changed = officer.put(
        f"{TARGETS}/{made['id']}",
        {
            "name": "app-log",
            "kind": "jsonl_file",
            "country": "SG",
            "always": True,
            "config": {"path": "other.jsonl", "match": {"email": "email"}},
        },
        format="json",
    ).json()
    assert changed["config"]["path"] == "app.jsonl"
    assert changed["proposal"]["config"]["path"] == "other.jsonl"
    assert planned_targets(identifiers.email()) == ["app-log"]
    own = officer.post(f"{TARGETS}/{made['id']}/approve", {"reason": "mine"}, format="json")
    assert (own.status_code, own.json()["code"]) == (403, "self_approval")
    no_scope = clerk.post(f"{TARGETS}/{made['id']}/approve", {"reason": "x"}, format="json")
    assert no_scope.json()["code"] == "insufficient_scope"
    assert Target.objects.get(pk=made["id"]).config["path"] == "app.jsonl"

    # A second officer can.
    assert approve_proposed_targets() == 1
    target = Target.objects.get(pk=made["id"])
    assert (target.config["path"], target.proposal) == ("other.jsonl", None)
    nothing = officer.post(f"{TARGETS}/{made['id']}/approve", {"reason": "x"}, format="json")
    assert (nothing.status_code, nothing.json()["code"]) == (409, "nothing_to_approve")


@pytest.mark.parametrize("alias", [None, "default"])
def test_lups_own_database_is_no_target(clerk, django_user_model, alias):
    config = {"table": "access_apitoken", "match": {"email": "name"}}
    if alias:
        config["alias"] = alias
    body = {"name": "tokens", "kind": "sql_table", "country": "SG", "config": config}
    refused = clerk.post(TARGETS, body, format="json")
    assert (refused.status_code, refused.json()["code"]) == (400, "own_database_refused")
    engineer = staff_browser(django_user_model, "eng2", "engineer")
    page = engineer.post(
        "/admin/erasure/target/add/",
        {**body, "config": __import__("json").dumps(config)},
    )
    assert page.status_code == 200 and b"own_database_refused" in page.content
    assert not Target.objects.exists()
