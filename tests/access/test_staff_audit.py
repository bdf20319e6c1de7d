"""The staff audit: who did what in the admin, and who looked at which request, recorded
without the query strings and forms that may carry identifiers, and never rewritable."""

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.db import DatabaseError, connection, transaction

from access.models import StaffAction
from erasure.services import erasure_request_create
from tests import identifiers

pytestmark = pytest.mark.django_db


def staff_user(name: str, role: str = "auditor", *, audit: bool = False) -> User:
    user = User.objects.create_user(name, is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    if audit:
        # Given directly, so the test holds whatever access/roles.py grants the role.
        user.user_permissions.add(Permission.objects.get(codename="view_staffaction"))
    return user


@pytest.fixture
def auditor(client):
    user = staff_user("ana-auditor", audit=True)
    client.force_login(user)
    return user


@pytest.fixture
def filed():
    email = identifiers.email()
    request, _ = erasure_request_create(
        identifiers=[{"id_type": "email", "value": email}],
        country="KH",
        channel="admin",
        actor="staff:test",
    )
    return request, email


def fields_of(action: StaffAction) -> str:
    return " ".join(str(getattr(action, f.attname)) for f in StaffAction._meta.concrete_fields)


def test_viewing_a_request_records_who_viewed_which_request(client, auditor, filed):
    request, email = filed
    url = f"/admin/erasure/erasurerequest/{request.pk}/change/"
    response = client.get(url, {"_changelist_filters": f"q={email}"})
    assert response.status_code == 200
    action = StaffAction.objects.get()
    assert (
        action.user_id,
        action.username,
        action.method,
        action.kind,
        action.model,
        action.object_id,
        action.status,
        action.url_name,
    ) == (
        auditor.pk,
        "ana-auditor",
        "GET",
        "view",
        "erasure.erasurerequest",
        str(request.pk),
        200,
        "erasure_erasurerequest_change",
    )
    assert email.lower() not in fields_of(action).lower()
    assert "?" not in fields_of(action) and "q=" not in fields_of(action)


def test_a_changelist_search_is_recorded_without_its_terms(client, auditor, filed):
    _, email = filed
    assert client.get("/admin/erasure/erasurerequest/", {"q": email}).status_code == 200
    action = StaffAction.objects.get()
    assert (action.kind, action.model, action.object_id, action.status) == (
        "changelist",
        "erasure.erasurerequest",
        "",
        200,
    )
    assert email.lower() not in fields_of(action).lower()


def test_a_submitted_form_is_recorded_without_its_data(client):
    officer = staff_user("olga-officer", "compliance_officer")
    client.force_login(officer)
    secret_text = f"Write to {identifiers.email()} for questions."
    response = client.post(
        "/admin/consent/notice/add/",
        {
            "key": "staff-audit",
            "version": 1,
            "language": "en",
            "title": "Notice",
            "text": secret_text,
        },
    )
    assert response.status_code == 302
    action = StaffAction.objects.get()
    assert (action.username, action.method, action.kind, action.model, action.status) == (
        "olga-officer",
        "POST",
        "add",
        "consent.notice",
        302,
    )
    assert secret_text not in fields_of(action)


@pytest.mark.parametrize(
    ("path", "kind", "model", "url_name"),
    [
        ("/admin/", "other", "", "index"),
        ("/admin/erasure/", "other", "", "app_list"),
        ("/admin/registers/", "other", "", "registers"),
        (
            "/admin/erasure/erasurerequest/{pk}/history/",
            "history",
            "erasure.erasurerequest",
            "erasure_erasurerequest_history",
        ),
        (
            "/admin/erasure/erasurerequest/{pk}/delete/",
            "delete",
            "erasure.erasurerequest",
            "erasure_erasurerequest_delete",
        ),
    ],
)
def test_each_admin_view_is_named_by_its_kind(client, auditor, filed, path, kind, model, url_name):
    request, _ = filed
    client.get(path.format(pk=request.pk))
    action = StaffAction.objects.get()
    assert (action.kind, action.model, action.url_name) == (kind, model, url_name)
    if "{pk}" in path:
        assert action.object_id == str(request.pk)


def test_a_refused_view_is_recorded_with_its_status(client, filed):
    user = staff_user("no-rights", audit=False)
    user.groups.clear()
    client.force_login(user)
    request, _ = filed
    assert client.get(f"/admin/erasure/erasurerequest/{request.pk}/change/").status_code == 403
    action = StaffAction.objects.get()
    assert (action.username, action.kind, action.status) == ("no-rights", "view", 403)


def test_what_is_not_a_staff_action_is_not_recorded(client, auditor):
    client.get("/admin/jsi18n/")
    client.get("/static/admin/css/base.css")
    client.get("/healthz")
    client.logout()
    client.get("/admin/login/")
    client.get("/admin/erasure/erasurerequest/")
    outsider = User.objects.create_user("not-staff")
    client.force_login(outsider)
    client.get("/admin/")
    assert not StaffAction.objects.exists()


def test_logging_out_is_recorded_for_the_user_who_left(client, auditor):
    client.post("/admin/logout/")
    action = StaffAction.objects.get()
    assert (action.username, action.url_name, action.kind) == ("ana-auditor", "logout", "other")


@pytest.mark.parametrize(
    "statement",
    ["UPDATE access_staffaction SET username = 'someone'", "DELETE FROM access_staffaction"],
)
def test_postgres_refuses_to_rewrite_the_audit(client, auditor, statement):
    client.get("/admin/")
    assert connection.vendor == "postgresql"
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement)
    assert StaffAction.objects.get().username == "ana-auditor"


def test_auditors_read_the_audit_and_nobody_edits_it(client, auditor):
    client.get("/admin/")
    action = StaffAction.objects.get()
    assert client.get("/admin/access/staffaction/").status_code == 200
    page = client.get(f"/admin/access/staffaction/{action.pk}/change/")
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    root = User.objects.create_superuser("root-audit")
    client.force_login(root)
    assert client.get("/admin/access/staffaction/add/").status_code == 403
    assert (
        client.post(f"/admin/access/staffaction/{action.pk}/change/", {"username": "x"}).status_code
        == 403
    )
    assert (
        client.post(f"/admin/access/staffaction/{action.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    changelist = client.get("/admin/access/staffaction/")
    assert "delete_selected" not in changelist.content.decode()
    assert StaffAction.objects.filter(pk=action.pk, username="ana-auditor").exists()


def test_staff_without_the_permission_cannot_read_the_audit(client):
    client.force_login(User.objects.create_user("plain-staff", is_staff=True))
    assert client.get("/admin/access/staffaction/").status_code == 403


def test_the_audit_records_the_client_behind_a_trusted_proxy(client, auditor, settings):
    from core.clientip import trusted_networks

    settings.LUP_TRUSTED_NETWORKS = trusted_networks(["10.0.0.0/8"])
    client.get("/admin/", REMOTE_ADDR="10.1.2.3", HTTP_X_FORWARDED_FOR="198.51.100.7")
    client.get("/admin/", REMOTE_ADDR="203.0.113.5", HTTP_X_FORWARDED_FOR="198.51.100.8")
    assert [a.address for a in StaffAction.objects.order_by("id")] == [
        "198.51.100.7",
        "203.0.113.5",
    ]
