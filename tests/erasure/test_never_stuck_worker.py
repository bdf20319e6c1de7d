"""Never stuck, with a real worker: a missing file, a foreign key that refuses the delete and a
timeout each end `failed` after the worker's retries, with their codes and attempts, and the
request closes `partially_completed` with its receipts."""

import fcntl
import json
import os
import time

import pytest
from django.db import connection

from erasure.models import ErasureRequest, TargetRun
from tests import identifiers
from tests.erasure.approvals import approve_proposed_targets

URL = "/api/v1/erasure-requests"


@pytest.fixture
def world(tmp_path, monkeypatch, settings, transactional_db):
    """Set before the worker starts: it reads the environment. Two attempts, due at once."""
    monkeypatch.setenv("LUP_FILE_ROOTS", str(tmp_path))
    monkeypatch.setenv("LUP_RUN_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("LUP_RUN_RETRY_BACKOFF_SECONDS", "0")
    settings.LUP_FILE_ROOTS = [str(tmp_path)]
    db = settings.DATABASES["default"]
    monkeypatch.setenv(
        "CRM_DSN", f"postgresql://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    )
    return tmp_path


def wait_for(predicate, seconds=90):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.3)
    return False


def test_failing_targets_end_failed_and_the_request_closes(world, api, celery_worker_process):
    email = identifiers.email().lower()
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE crm_people (id integer PRIMARY KEY, email text)")
        cursor.execute(
            "CREATE TABLE crm_invoices (n integer PRIMARY KEY, "
            "person integer NOT NULL REFERENCES crm_people (id))"
        )
        cursor.execute("INSERT INTO crm_people VALUES (1, %s)", [email])
        cursor.execute("INSERT INTO crm_invoices VALUES (1, 1)")
    (world / "busy").mkdir()
    (world / "busy" / "chats.jsonl").write_text(json.dumps({"email": email}) + "\n")
    from targets.services import target_save

    for name, kind, config in (
        ("gone", "jsonl_file", {"path": "gone.jsonl", "match": {"email": "email"}}),
        (
            "crm-people",
            "postgres_table",
            {"dsn_env": "CRM_DSN", "table": "crm_people", "match": {"email": "email"}},
        ),
        (
            "busy-chats",
            "jsonl_file",
            {"path": "busy/chats.jsonl", "match": {"email": "email"}, "timeout_seconds": 0.5},
        ),
    ):
        # Registered without looking: each is to fail when its run meets it.
        target_save(name=name, kind=kind, country="KH", config=config, always=True, check=False)
    approve_proposed_targets()

    staff = api("erasure:write", "erasure:read")
    request_id = staff.post(
        URL, {"identifiers": [{"id_type": "email", "value": email}]}, format="json"
    ).json()["id"]
    staff.post(f"{URL}/{request_id}/verified-manually", {"reason": "checked"}, format="json")
    # Another process rewriting busy/chats.jsonl: the file connector's lock stays taken.
    fd = os.open(world / "busy" / "chats.jsonl", os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        planned = staff.post(f"{URL}/{request_id}/plan")
        assert planned.status_code == 201 and planned.json()["state"] == "executing"
        closed = wait_for(lambda: ErasureRequest.objects.get(pk=request_id).state != "executing")
    finally:
        os.close(fd)
    runs = {
        run.target.name: (run.status, run.attempts, run.last_error)
        for run in TargetRun.objects.filter(request_id=request_id).select_related("target")
    }
    assert closed, runs
    assert runs == {
        "gone": ("failed", 2, "file_not_found"),
        # The driver's refusal is mapped by the connector, never repeated (it names values).
        "crm-people": ("failed", 2, "target_unavailable"),
        "busy-chats": ("failed", 2, "connector_timeout"),
    }
    assert ErasureRequest.objects.get(pk=request_id).state == "partially_completed"
    assert staff.get(f"{URL}/{request_id}/bundle").status_code == 200
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM crm_people")
        assert cursor.fetchone() == (1,)  # the refused delete was rolled back
