"""Never stuck, never a 500 after a state change: whatever goes wrong inside a run (a missing
file, a foreign key in a SQL target, a timeout) is recorded on the run by a stable code, tried
again, and ends `failed`; the request closes `partially_completed` with its receipts.

Here tasks run in the calling process, as in the embedded mode (no broker: Celery's eager
mode, on PostgreSQL with real commits, so a run executes inside the HTTP request that started
it, as it does there); tests/config/test_embedded.py does the same on SQLite with the
in-process sweeper, and test_never_stuck_worker.py with a real worker."""

import fcntl
import json
import os
from contextlib import contextmanager, nullcontext

import pytest
from django.db import connections

from erasure.models import ErasureRequest, TargetRun
from erasure.sweeper import erasure_sweep
from targets.services import target_save
from tests import identifiers
from tests.aliases import extra_alias, sqlite_database
from tests.erasure.approvals import approve_proposed_targets

URL = "/api/v1/erasure-requests"
LITE_ALIAS = "lup_stuck_lite"


@pytest.fixture
def in_process(settings, transactional_db, tmp_path):
    """Tasks run where they are sent, retries are due at once, and three attempts are all."""
    from config.celery import app

    was = app.conf.task_always_eager
    app.conf.task_always_eager = True
    settings.LUP_RUN_MAX_ATTEMPTS = 3
    settings.LUP_RUN_RETRY_BACKOFF_SECONDS = 0
    settings.LUP_FILE_ROOTS = [str(tmp_path)]
    yield tmp_path
    app.conf.task_always_eager = was


@pytest.fixture
def staff(api):
    return api("erasure:write", "erasure:read")


@pytest.fixture
def lite_alias(tmp_path):
    """A SQLite database added as an alias for this test only (a CRM on another database)."""
    with extra_alias(LITE_ALIAS, sqlite_database(tmp_path / "crm.sqlite3")) as alias:
        yield alias


@contextmanager
def file_locked(path):
    """Another process's rewrite in progress: the file connectors' lock on the file."""
    fd = os.open(path, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        os.close(fd)


def missing_file(root, email, alias):
    return (
        "file_not_found",
        nullcontext(),
        {
            "kind": "jsonl_file",
            "config": {"path": "gone.jsonl", "match": {"email": "email"}},
        },
    )


def foreign_key(root, email, alias):
    with connections[alias].cursor() as cursor:
        cursor.execute("CREATE TABLE crm_accounts (id integer PRIMARY KEY, email text)")
        cursor.execute(
            "CREATE TABLE crm_orders (n integer PRIMARY KEY, "
            "account integer NOT NULL REFERENCES crm_accounts (id))"
        )
        cursor.execute("INSERT INTO crm_accounts VALUES (1, %s)", [email])
        cursor.execute("INSERT INTO crm_orders VALUES (1, 1)")
    return (
        "target_constraint_violation",
        nullcontext(),
        {
            "kind": "sql_table",
            "config": {"alias": alias, "table": "crm_accounts", "match": {"email": "email"}},
        },
    )


def timeout(root, email, alias):
    (root / "chats.jsonl").write_text(json.dumps({"email": email}) + "\n")
    return (
        "connector_timeout",
        file_locked(root / "chats.jsonl"),
        {
            "kind": "jsonl_file",
            "config": {"path": "chats.jsonl", "match": {"email": "email"}, "timeout_seconds": 0.3},
        },
    )


@pytest.mark.parametrize("case", [missing_file, foreign_key, timeout])
def test_a_failing_target_ends_failed_and_the_request_closes(case, in_process, staff, lite_alias):
    email = identifiers.email().lower()
    code, trouble, spec = case(in_process, email, lite_alias)
    # Registered without the look that would refuse a missing file: the run must meet it.
    target_save(name="failing", country="KH", always=True, check=False, **spec)
    approve_proposed_targets()
    request_id = staff.post(
        URL, {"identifiers": [{"id_type": "email", "value": email}]}, format="json"
    ).json()["id"]
    staff.post(f"{URL}/{request_id}/verified-manually", {"reason": "checked"}, format="json")

    with trouble:
        # The run fails inside this request; the answer says what changed, not a 500.
        planned = staff.post(f"{URL}/{request_id}/plan")
        assert planned.status_code == 201, planned.content
        assert planned.json()["state"] == "executing"
        run = TargetRun.objects.get(request_id=request_id)
        assert (run.status, run.attempts, run.last_error) == ("pending", 1, code)
        # The in-process sweeper tries it again when due, until the attempts are spent.
        erasure_sweep()
        erasure_sweep()
    run.refresh_from_db()
    assert (run.status, run.outcome, run.attempts, run.last_error) == ("failed", "failed", 3, code)
    request = ErasureRequest.objects.get(pk=request_id)
    assert request.state == "partially_completed" and request.closing_receipt_id
    assert staff.get(f"{URL}/{request_id}").status_code == 200
    bundle = staff.get(f"{URL}/{request_id}/bundle")
    assert bundle.status_code == 200
    assert bundle.json()["receipts"]
    # Nothing is left for the sweeper.
    assert erasure_sweep() == 0
