"""Active API tokens are read from Redis, and a change to a token takes effect at once."""

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from rest_framework.test import APIClient

from access.models import ApiToken
from access.services import api_token_create, api_token_revoke
from access.tokencache import token_remember

# Real commits: the cache is told of a change when its transaction commits.
pytestmark = pytest.mark.django_db(transaction=True)
STATE = "/api/v1/consent/purposes"


def bearer(text: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {text}")
    return client


def test_a_token_used_once_authenticates_without_the_database(django_assert_num_queries):
    _, text = api_token_create(name="reader", scopes=["consent:read", "erasure:write"])
    client = bearer(text)
    assert client.post("/api/v1/consent/check", {}, format="json").status_code == 400
    with django_assert_num_queries(0):
        response = client.post("/api/v1/consent/check", {}, format="json")
    assert (response.status_code, response.json()["code"]) == (400, "invalid_subject")


def test_a_cached_token_with_a_wrong_secret_is_refused():
    _, text = api_token_create(name="t", scopes=["consent:read"])
    assert bearer(text).get(STATE).status_code == 200  # now cached
    wrong = bearer(text[:-2] + ("xx" if not text.endswith("xx") else "yy")).get(STATE)
    assert (wrong.status_code, wrong.json()["code"]) == (401, "authentication_failed")


def test_a_revoked_token_is_refused_at_once_though_it_was_cached():
    token, text = api_token_create(name="t", scopes=["consent:read"])
    client = bearer(text)
    assert client.get(STATE).status_code == 200
    assert client.get(STATE).status_code == 200  # answered from the cache
    api_token_revoke(token=token)
    assert client.get(STATE).status_code == 401
    assert client.get(STATE).status_code == 401


def test_scopes_edited_in_the_admin_apply_at_once(client):
    token, text = api_token_create(name="t", scopes=["consent:read"])
    api = bearer(text)
    assert api.get(STATE).status_code == 200
    staff = User.objects.create_superuser("root", "root@example.org", "pw")
    client.force_login(staff)
    response = client.post(
        f"/admin/access/apitoken/{token.pk}/change/",
        {"name": "t", "scopes": '["lineage:read"]'},
    )
    assert response.status_code == 302, response.content[:500]
    assert ApiToken.objects.get(pk=token.pk).scopes == ["lineage:read"]
    assert api.get(STATE).status_code == 403


def test_a_deleted_token_is_refused_at_once():
    token, text = api_token_create(name="t", scopes=["consent:read"])
    client = bearer(text)
    assert client.get(STATE).status_code == 200
    token.delete()
    assert client.get(STATE).status_code == 401


def test_a_row_read_before_the_revocation_cannot_come_back_into_the_cache():
    """A call that read the token just before the revocation committed caches nothing."""
    token, text = api_token_create(name="t", scopes=["consent:read"])
    read_before = ApiToken.objects.get(pk=token.pk)
    api_token_revoke(token=token)
    token_remember(read_before)  # that call's add, arriving late
    assert bearer(text).get(STATE).status_code == 401


def test_tokens_still_authenticate_when_redis_is_unreachable(settings):
    _, text = api_token_create(name="t", scopes=["consent:read"])
    settings.CACHES = {
        "default": {
            **settings.CACHES["default"],
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 0.5},
        }
    }
    assert bearer(text).get(STATE).status_code == 200
    cache.close()
