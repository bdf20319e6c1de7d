"""Staff roles in the admin: compliance officers act on erasure requests, auditors see
everything and change nothing, engineers manage lineage and erasure targets but never act on a
request. Permissions come from `access.roles.sync_role_permissions` after every migrate."""

import json

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client

from access import roles
from access.roles import ACT_ON_REQUESTS, AUDITOR, COMPLIANCE_OFFICER, ENGINEER
from targets.services import target_save

pytestmark = pytest.mark.django_db


def granted(role: str) -> set[str]:
    return {
        f"{app}.{codename}"
        for app, codename in Group.objects.get(name=role).permissions.values_list(
            "content_type__app_label", "codename"
        )
    }


def member(django_user_model, role: str):
    user = django_user_model.objects.create_user(f"{role}-staff", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return user


def test_only_compliance_officers_may_act_on_erasure_requests(django_user_model):
    assert Permission.objects.filter(
        codename="act_on_erasurerequest", content_type__app_label="erasure"
    ).exists()
    assert ACT_ON_REQUESTS in granted(COMPLIANCE_OFFICER)
    assert ACT_ON_REQUESTS not in granted(AUDITOR)
    assert ACT_ON_REQUESTS not in granted(ENGINEER)
    assert member(django_user_model, COMPLIANCE_OFFICER).has_perm(ACT_ON_REQUESTS)
    assert not member(django_user_model, ENGINEER).has_perm(ACT_ON_REQUESTS)


def test_the_act_permission_stays_with_acting_roles_whatever_else_is_writable(monkeypatch):
    """Even a role given all of erasure to write does not get to decide on requests."""
    monkeypatch.setitem(roles.ROLE_WRITABLE_APPS, ENGINEER, frozenset({"lineage", "erasure"}))
    roles.sync_role_permissions(sender=None)
    assert "erasure.change_legalhold" in granted(ENGINEER)
    assert ACT_ON_REQUESTS not in granted(ENGINEER)
    monkeypatch.undo()
    roles.sync_role_permissions(sender=None)
    assert "erasure.change_legalhold" not in granted(ENGINEER)


def test_auditors_see_every_app_including_staff_access_and_change_nothing():
    perms = granted(AUDITOR)
    assert perms and all(p.split(".", 1)[1].startswith("view_") for p in perms)
    apps = {p.split(".", 1)[0] for p in perms}
    assert apps == {"access", "consent", "erasure", "lineage", "ledger"}
    assert "access.view_apitoken" in perms


def test_engineers_add_and_change_targets_and_lineage_but_nothing_else_of_erasure():
    perms = granted(ENGINEER)
    assert {
        "erasure.add_target",
        "erasure.change_target",
        "lineage.change_dataset",
        "lineage.add_modelversion",
    } <= perms
    writable_erasure = {
        p for p in perms if p.startswith("erasure.") and not p.startswith("erasure.view_")
    }
    assert writable_erasure == {"erasure.add_target", "erasure.change_target"}
    assert not any(
        p.startswith(("consent.", "ledger.", "access."))
        and not p.split(".", 1)[1].startswith("view_")
        for p in perms
    )


def test_an_auditor_gets_read_only_change_views_and_a_refused_post(
    django_user_model, tmp_path, settings
):
    settings.LUP_FILE_ROOTS = [str(tmp_path)]
    (tmp_path / "app.jsonl").touch()
    target = target_save(
        name="app-logs",
        kind="jsonl_file",
        country="KH",
        config={"path": "app.jsonl", "match": {"email": "email"}},
    )
    client = Client()
    client.force_login(member(django_user_model, AUDITOR))
    url = f"/admin/erasure/target/{target.pk}/change/"
    page = client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="_save"' not in html and "app-logs" in html
    forged = client.post(
        url,
        {
            "name": "renamed",
            "kind": "jsonl_file",
            "country": "KH",
            "config": json.dumps(target.config),
            "_save": "Save",
        },
    )
    assert forged.status_code == 403
    target.refresh_from_db()
    assert target.name == "app-logs"
    assert client.get("/admin/erasure/target/add/").status_code == 403
    assert client.get("/admin/access/apitoken/").status_code == 200


def test_only_compliance_officers_approve_requests_and_targets(django_user_model):
    """Four eyes: the `erasure:approve` scope and the target-approving permission belong to
    compliance officers alone; engineers may add and change targets (propose), not approve."""
    from access.roles import APPROVE_TARGETS, ROLE_SCOPES, user_scopes

    assert APPROVE_TARGETS in granted(COMPLIANCE_OFFICER)
    assert APPROVE_TARGETS not in granted(AUDITOR) | granted(ENGINEER)
    assert {"erasure.add_target", "erasure.change_target"} <= granted(ENGINEER)
    for role in (AUDITOR, ENGINEER):
        assert "erasure:approve" not in ROLE_SCOPES[role]
        assert "erasure:approve" not in user_scopes(member(django_user_model, role))
    assert "erasure:approve" in user_scopes(member(django_user_model, COMPLIANCE_OFFICER))
