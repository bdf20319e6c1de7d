"""The target registry: a target is stored only once its connector accepts the config."""

import pytest

from erasure.models import Target
from lineage import services as lineage
from lineage.services import VersionInput
from tests import identifiers

pytestmark = pytest.mark.django_db
URL = "/api/v1/erasure/targets"
ADMIN_VIEW_USER = identifiers.user_id()


@pytest.fixture
def client(api):
    return api("erasure:write", "erasure:read")


@pytest.fixture
def officer(api):
    return api("erasure:approve", "erasure:read")


@pytest.fixture
def roots(tmp_path, settings):
    """A file root holding the eval set `jsonl_target` registers (registration looks for it)."""
    settings.LUP_FILE_ROOTS = [str(tmp_path)]
    (tmp_path / "evals").mkdir()
    (tmp_path / "evals" / "khmer-qa.jsonl").write_text('{"user": {"email": "a@example.org"}}\n')
    return tmp_path


def jsonl_target(**overrides):
    body = {
        "name": "khmer-qa-eval",
        "kind": "jsonl_file",
        "country": "KH",
        "config": {"path": "evals/khmer-qa.jsonl", "match": {"email": "user.email"}},
        "requires_approval": True,
    }
    body.update(overrides)
    return body


def test_register_read_replace_and_delete_a_target(client, officer, roots):
    dataset = lineage.dataset_register(namespace="s3://sea-evals-kh", name="khm-vie-qa")
    version = lineage.version_register(dataset=dataset, data=VersionInput(version="v1"))
    created = client.post(URL, jsonl_target(versions=[str(version.pk)]), format="json")
    assert created.status_code == 201, created.json()
    target = created.json()
    assert target["id_types"] == ["email"]
    assert target["versions"] == [str(version.pk)]
    assert target["requires_approval"] is True and target["always"] is False
    assert client.get(URL).json()["targets"][0]["name"] == "khmer-qa-eval"

    replaced = client.put(
        f"{URL}/{target['id']}",
        jsonl_target(
            config={
                "path": "evals/khmer-qa.jsonl",
                "match": {"email": "user.email", "user_id": "uid"},
            },
            always=True,
        ),
        format="json",
    )
    assert replaced.status_code == 200, replaced.json()
    # Made `always`, it waits for a compliance officer and works as it was meanwhile.
    assert replaced.json()["state"] == "active"
    assert replaced.json()["id_types"] == ["email"]
    assert replaced.json()["proposal"]["id_types"] == ["email", "user_id"]
    approved = officer.post(f"{URL}/{target['id']}/approve", {"reason": "ok"}, format="json")
    assert approved.status_code == 200, approved.json()
    assert approved.json()["id_types"] == ["email", "user_id"]
    assert approved.json()["versions"] == [] and approved.json()["always"] is True
    assert approved.json()["proposal"] is None
    assert client.delete(f"{URL}/{target['id']}").status_code == 204
    assert not Target.objects.exists()


def test_secrets_are_referenced_by_environment_variable(client):
    body = {
        "name": "crm-contacts",
        "kind": "postgres_table",
        "country": "SG",
        "config": {
            "dsn_env": "CRM_DATABASE_URL",
            "table": "crm.contacts",
            "match": {"email": "email"},
        },
        "identity_source": True,
        "check": False,  # no CRM database here: registered without looking at it
    }
    created = client.post(URL, body, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["config"]["dsn_env"] == "CRM_DATABASE_URL"
    assert created.json()["identity_source"] is True


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"config": {"path": "../../etc/passwd", "match": {"email": "e"}}}, "path_outside_roots"),
        ({"config": {"path": "/etc/passwd", "match": {"email": "e"}}}, "path_outside_roots"),
        ({"kind": "ftp_server"}, "unknown_connector_kind"),
        (
            {
                "kind": "postgres_table",
                "config": {
                    "dsn_env": "X",
                    "table": "users; DROP TABLE x",
                    "match": {"email": "email"},
                },
            },
            "invalid_target_config",
        ),
        (
            {
                "kind": "postgres_table",
                "config": {"dsn_env": "X", "table": "users", "match": {"email": "email = 1 OR 1"}},
            },
            "invalid_target_config",
        ),
        ({"country": "Khmer"}, "invalid_country"),
        ({"versions": ["00000000-0000-4000-8000-000000000000"]}, "unknown_version"),
        ({"name": "Not A Slug!"}, "invalid"),
    ],
)
def test_bad_targets_get_a_4xx_and_nothing_is_stored(client, roots, overrides, code):
    response = client.post(URL, jsonl_target(**overrides), format="json")
    assert 400 <= response.status_code < 500
    assert response.json()["code"] == code, response.json()
    assert not Target.objects.exists()


def test_names_are_unique_and_scopes_apply(client, roots, api):
    assert client.post(URL, jsonl_target(), format="json").status_code == 201
    again = client.post(URL, jsonl_target(), format="json")
    assert (again.status_code, again.json()["code"]) == (409, "target_exists")
    reader = api("erasure:read")
    assert reader.get(URL).status_code == 200
    assert reader.post(URL, jsonl_target(name="x"), format="json").json()["code"] == (
        "insufficient_scope"
    )
    assert client.get(f"{URL}/999999").json()["code"] == "unknown_target"


def test_staff_see_the_queue_and_targets_in_the_admin(client, roots, django_user_model, api):
    from django.contrib.auth.models import Group
    from django.test import Client

    assert (
        api("erasure:write")
        .post(
            "/api/v1/erasure-requests",
            {"identifiers": [{"id_type": "user_id", "value": ADMIN_VIEW_USER}]},
            format="json",
        )
        .status_code
        == 201
    )
    officer = django_user_model.objects.create_user("officer", is_staff=True)
    officer.groups.add(Group.objects.get(name="compliance_officer"))
    browser = Client()
    browser.force_login(officer)
    assert browser.get("/admin/erasure/erasurerequest/").status_code == 200
    request_id = client.get("/api/v1/erasure-requests").json()["results"][0]["id"]
    page = browser.get(f"/admin/erasure/erasurerequest/{request_id}/change/")
    assert page.status_code == 200 and b"received" in page.content
    assert ADMIN_VIEW_USER.encode() not in page.content
    bad = browser.post(
        "/admin/erasure/target/add/",
        {
            "name": "escape",
            "kind": "jsonl_file",
            "country": "KH",
            "config": '{"path": "../outside.jsonl", "match": {"email": "e"}}',
        },
    )
    assert bad.status_code == 200 and b"path_outside_roots" in bad.content
    assert not Target.objects.exists()


def test_staff_file_a_request_in_the_admin(django_user_model):
    from django.contrib.auth.models import Group
    from django.test import Client

    from erasure.models import ErasureRequest

    email = identifiers.email()
    officer = django_user_model.objects.create_user("intake", is_staff=True)
    officer.groups.add(Group.objects.get(name="compliance_officer"))
    browser = Client()
    browser.force_login(officer)
    assert browser.get("/admin/erasure/erasurerequest/add/").status_code == 200
    bad = browser.post(
        "/admin/erasure/erasurerequest/add/",
        {"identifiers": "email:not-an-address", "country": "KH"},
    )
    assert b"invalid_email" in bad.content and not ErasureRequest.objects.exists()
    done = browser.post(
        "/admin/erasure/erasurerequest/add/", {"identifiers": f"email:{email}\n", "country": "kh"}
    )
    assert done.status_code == 302
    filed = ErasureRequest.objects.get()
    assert (filed.channel, filed.subject_country, filed.requested_by) == (
        "admin",
        "KH",
        "staff:intake",
    )
    auditor = django_user_model.objects.create_user("aud", is_staff=True)
    auditor.groups.add(Group.objects.get(name="auditor"))
    browser.force_login(auditor)
    assert browser.get("/admin/erasure/erasurerequest/add/").status_code == 403
