"""Identifier resolution: a target keyed by user_id is reached for a request that gave only an
e-mail address, through an identity source (a users table), before anything is erased."""

import json

import pytest
from django.db import connection

from erasure.models import ErasureRequest, RequestSubjectKey, TargetRun
from erasure.runs import target_run_execute
from erasure.services import erasure_request_identifiers, erasure_request_transition
from tests import identifiers
from tests.erasure.approvals import approve_proposed_targets

URL = "/api/v1/erasure-requests"


@pytest.fixture
def setup(api, tmp_path, monkeypatch, settings, transactional_db):
    settings.LUP_FILE_ROOTS = [str(tmp_path)]
    db = settings.DATABASES["default"]
    monkeypatch.setenv(
        "USERS_DSN", f"postgresql://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    )
    return api("erasure:write", "erasure:read")


def test_user_id_is_resolved_from_the_users_table(
    setup, tmp_path, django_capture_on_commit_callbacks
):
    staff = setup
    email, uid = identifiers.email(), identifiers.user_id()
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE app_users (email text, uid text)")
        cursor.execute(
            "INSERT INTO app_users VALUES (%s, %s), ('x@example.org', 'u-other')",
            [email.lower(), uid],
        )
    (tmp_path / "events.jsonl").write_text(
        json.dumps({"uid": uid, "e": 1}) + "\n" + json.dumps({"uid": "u-other", "e": 2}) + "\n"
    )
    for body in (
        {
            "name": "app-users",
            "kind": "postgres_table",
            "country": "SG",
            "identity_source": True,
            "config": {
                "dsn_env": "USERS_DSN",
                "table": "app_users",
                "match": {"email": "email"},
                "resolve": {"user_id": "uid"},
            },
        },
        {
            "name": "events",
            "kind": "jsonl_file",
            "country": "SG",
            "always": True,
            "config": {"path": "events.jsonl", "match": {"user_id": "uid"}},
        },
    ):
        assert staff.post("/api/v1/erasure/targets", body, format="json").status_code == 201
    approve_proposed_targets()
    created = staff.post(
        URL, {"identifiers": [{"id_type": "email", "value": email}]}, format="json"
    ).json()
    request = ErasureRequest.objects.get(pk=created["id"])
    erasure_request_transition(
        request=request, to_state="verified", actor="staff:t", reason="checked"
    )
    with django_capture_on_commit_callbacks(execute=False):
        plan = staff.post(f"{URL}/{request.pk}/plan").json()
    entry = next(e for e in plan["targets"] if e["target"] == "events")
    assert (entry["id_types"], entry["needs_resolution"]) == (["user_id"], False)
    request.refresh_from_db()
    assert {"id_type": "user_id", "value": uid} in erasure_request_identifiers(request=request)
    assert RequestSubjectKey.objects.filter(request=request, id_type="user_id").exists()
    run = TargetRun.objects.get(request=request, target__name="events")
    assert target_run_execute(run_id=run.pk).outcome == "erased"
    assert uid not in (tmp_path / "events.jsonl").read_text()
    assert "u-other" in (tmp_path / "events.jsonl").read_text()
