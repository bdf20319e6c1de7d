"""API tokens: stored hashed, scoped, shown once."""

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from access.models import ApiToken
from access.services import api_token_create, api_token_revoke

pytestmark = pytest.mark.django_db
STATE = "/api/v1/consent/purposes"


def bearer(text: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {text}")
    return client


def test_create_api_token_prints_the_token_once_and_stores_only_its_hash(capsys):
    call_command(
        "create_api_token", "--name", "training-pipeline", "--scopes", "consent:read,lineage:read"
    )
    out, err = capsys.readouterr()
    text = out.strip()
    token = ApiToken.objects.get(name="training-pipeline")
    assert token.scopes == ["consent:read", "lineage:read"]
    assert text.startswith(f"lup_{token.prefix}_")
    secret = text.split("_", 2)[2]
    assert secret not in token.secret_hash
    assert token.secret_hash.startswith("sha256$")
    assert "not shown again" in err
    assert bearer(text).get(STATE).status_code == 200


def test_unknown_scopes_are_refused():
    with pytest.raises(CommandError, match="Scopes must be"):
        call_command("create_api_token", "--name", "x", "--scopes", "consent:everything")
    assert not ApiToken.objects.exists()


def test_a_missing_or_wrong_token_is_401_with_a_code():
    anonymous = APIClient().get(STATE)
    assert (anonymous.status_code, anonymous.json()["code"]) == (401, "not_authenticated")
    assert anonymous["WWW-Authenticate"] == "Bearer"
    _, text = api_token_create(name="t", scopes=["consent:read"])
    wrong = bearer(text[:-2] + "xx").get(STATE)
    assert (wrong.status_code, wrong.json()["code"]) == (401, "authentication_failed")
    assert bearer("lup_nothing").get(STATE).status_code == 401


def test_a_token_without_the_scope_is_refused_and_nothing_is_written():
    _, text = api_token_create(name="reader", scopes=["consent:read"])
    response = bearer(text).post(
        "/api/v1/consent/notices",
        {"key": "n", "language": "en", "title": "t", "text": "x"},
        format="json",
    )
    assert (response.status_code, response.json()["code"]) == (403, "insufficient_scope")
    from consent.models import Notice

    assert not Notice.objects.exists()


def test_a_revoked_token_stops_working():
    token, text = api_token_create(name="old", scopes=["consent:read"])
    assert bearer(text).get(STATE).status_code == 200
    api_token_revoke(token=token)
    assert bearer(text).get(STATE).status_code == 401


def test_roles_are_groups_with_scopes_for_staff_sessions():
    assert set(Group.objects.values_list("name", flat=True)) >= {
        "compliance_officer",
        "auditor",
        "engineer",
    }
    auditor = User.objects.create_user("audra", password="pw-not-used-1")
    auditor.groups.add(Group.objects.get(name="auditor"))
    client = APIClient()
    client.force_login(auditor)
    assert client.get(STATE).status_code == 200
    write = client.post(STATE, {"key": "marketing.x_y", "parent": "marketing"}, format="json")
    assert (write.status_code, write.json()["code"]) == (403, "insufficient_scope")

    officer = User.objects.create_user("ofelia", password="pw-not-used-2")
    officer.groups.add(Group.objects.get(name="compliance_officer"))
    client.force_login(officer)
    assert (
        client.post(
            STATE, {"key": "marketing.x_y", "parent": "marketing"}, format="json"
        ).status_code
        == 201
    )
