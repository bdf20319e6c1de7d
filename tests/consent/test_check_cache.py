"""Checks are answered from Redis once cached, and a new event invalidates them at once."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from consent import clock
from consent.services import subject_link
from tests import identifiers
from tests.consent import factories as f

# Real commits: invalidation happens when an event's transaction commits.
pytestmark = pytest.mark.django_db(transaction=True)
URL = "/api/v1/consent/check"


@pytest.fixture
def reader(api):
    f.notice()
    return api("consent:read")


def check(client, email: str, purpose: str = "train_ai_system.evaluation") -> dict:
    response = client.post(
        URL, {"subject": {"id_type": "email", "value": email}, "purpose": purpose}, format="json"
    )
    assert response.status_code == 200, response.json()
    return response.json()


def test_the_cache_is_real_redis():
    assert settings.CACHES["default"]["BACKEND"].endswith("RedisCache")
    cache.set("probe", 1)
    client = cache._cache.get_client()
    assert any(b"probe" in key for key in client.keys("*probe*"))


def test_a_repeated_check_is_answered_without_the_database(reader, django_assert_num_queries):
    email = identifiers.email()
    f.record(f.event(f.subject(email), "train_ai_system"))
    first = check(reader, email)
    # The API token (access.tokencache) and consent both come from Redis.
    with django_assert_num_queries(0):
        assert check(reader, email) == first


def test_a_cached_check_costs_two_round_trips_to_redis(reader, monkeypatch):
    """The API token (authentication), then the purpose tree, the identifier's subject, its
    token and the answer in one MGET."""
    email = identifiers.email()
    f.record(f.event(f.subject(email), "train_ai_system"))
    first = check(reader, email)
    calls = []
    backend = cache._cache
    for name in ("get", "get_many", "set", "add", "set_many"):
        original = getattr(backend, name)

        def counted(*args, _name=name, _original=original, **kwargs):
            calls.append(_name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(backend, name, counted)
    assert check(reader, email) == first
    assert calls == ["get", "get_many"]


def test_a_new_event_invalidates_the_cached_answer(reader):
    email = identifiers.email()
    f.record(f.event(f.subject(email), "train_ai_system", at=timezone.now() - timedelta(hours=2)))
    assert check(reader, email)["allowed"] is True
    assert check(reader, email)["allowed"] is True  # now cached
    f.record(f.event(f.subject(email), "train_ai_system", "withdrawn"))
    answer = check(reader, email)
    assert (answer["allowed"], answer["reason"]) == (False, "withdrawn")


def test_an_event_invalidates_the_answers_cached_for_each_of_the_subjects_identifiers(reader):
    """Answers are cached per identifier: an event recorded by one identifier of a subject
    retires the answer cached for another."""
    email, other = identifiers.email(), identifiers.email()
    f.record(f.event(f.subject(email), "train_ai_system", at=timezone.now() - timedelta(hours=2)))
    subject_link(subject=f.subject(email), identifier=f.subject(other))
    assert check(reader, other)["allowed"] is True
    assert check(reader, other)["allowed"] is True  # now cached
    f.record(f.event(f.subject(email), "train_ai_system", "withdrawn"))
    answer = check(reader, other)
    assert (answer["allowed"], answer["reason"]) == (False, "withdrawn")


def test_an_event_recorded_through_the_api_invalidates_too(reader, api):
    email = identifiers.email()
    writer = api("consent:write")
    event = {
        "subject": {"id_type": "email", "value": email},
        "purpose": "train_ai_system",
        "legal_basis": "consent",
        "jurisdiction": "SG",
        "notice": {"key": "privacy", "version": 1, "language": "en"},
    }
    ago = (timezone.now() - timedelta(minutes=5)).isoformat()
    assert (
        writer.post(
            "/api/v1/consent/events", {**event, "status": "given", "event_time": ago}, format="json"
        ).status_code
        == 201
    )
    assert check(reader, email)["allowed"] is True
    assert (
        writer.post(
            "/api/v1/consent/events", {**event, "status": "withdrawn"}, format="json"
        ).status_code
        == 201
    )
    assert check(reader, email)["allowed"] is False


def test_a_cached_grant_is_not_served_past_its_expiry(reader, monkeypatch):
    email = identifiers.email()
    now = timezone.now()
    f.record(
        f.event(
            f.subject(email),
            "train_ai_system",
            at=now - timedelta(days=1),
            expires_at=now + timedelta(hours=1),
        )
    )
    assert check(reader, email)["allowed"] is True
    monkeypatch.setattr(clock, "now", lambda: now + timedelta(hours=2))
    answer = check(reader, email)
    assert (answer["allowed"], answer["reason"]) == (False, "expired")


def test_check_by_key_and_unknown_subjects(reader):
    email = identifiers.email()
    f.record(f.event(f.subject(email), "marketing"))
    response = reader.post(
        URL, {"subject": {"key": f.subject(email).key}, "purpose": "marketing"}, format="json"
    )
    assert response.json()["allowed"] is True
    stranger = check(reader, identifiers.email(), "marketing")
    assert stranger == {
        "allowed": False,
        "purpose": "marketing",
        "reason": "no_consent",
        "decided_by": None,
    }


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        (
            {"subject": {"id_type": "email", "value": "x"}, "purpose": "marketing"},
            400,
            "invalid_email",
        ),
        ({"subject": {"key": "xyz"}, "purpose": "marketing"}, 400, "invalid_key"),
        ({"subject": {"key": "a" * 64}, "purpose": "no.such"}, 404, "unknown_purpose"),
        ({"subject": {"key": "a" * 64}}, 400, "missing_purpose"),
        ({"purpose": "marketing"}, 400, "invalid_subject"),
    ],
)
def test_bad_checks(reader, payload, status, code):
    response = reader.post(URL, payload, format="json")
    assert response.status_code == status
    assert response.json()["code"] == code
