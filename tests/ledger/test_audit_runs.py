"""Every `ledger_audit` leaves a record of its outcome, pass or fail, that nobody can rewrite."""

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from ledger.models import AuditRun
from ledger.selectors import latest_audit_run
from ledger.services import checkpoint_create, log_audit_run
from tests.ledger.factories import issue

pytestmark = pytest.mark.django_db


def test_a_passing_audit_is_recorded_with_its_counts():
    issue(4)
    checkpoint_create()
    issue(2)
    assert latest_audit_run() is None
    call_command("ledger_audit")
    run = latest_audit_run()
    assert (run.ok, run.leaves, run.checkpoints, run.receipts, run.problems, run.problem) == (
        True,
        6,
        1,
        6,
        0,
        "",
    )
    assert run.started_at <= run.finished_at


def test_a_failing_audit_is_recorded_with_its_first_problem():
    issue(8)
    checkpoint_create()
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE ledger_logleaf DISABLE TRIGGER ledger_logleaf_append_only")
        cursor.execute(
            "UPDATE ledger_logleaf SET leaf = %s WHERE index = 5",
            [b"lup-receipt-leaf/v1\n" + bytes(32)],
        )
        cursor.execute("ALTER TABLE ledger_logleaf ENABLE TRIGGER ledger_logleaf_append_only")
    with pytest.raises(CommandError):
        call_command("ledger_audit")
    run = latest_audit_run()
    assert not run.ok and run.problems >= 2
    assert run.problem == "index 5: leaf does not match its stored hash"


def test_an_audit_that_crashes_is_recorded_as_failed(monkeypatch):
    def broken():
        raise RuntimeError("disk gone")

    monkeypatch.setattr("ledger.services.audit_log", broken)
    with pytest.raises(RuntimeError):
        log_audit_run()
    run = latest_audit_run()
    assert (run.ok, run.problem) == (False, "error: RuntimeError")


def test_the_latest_run_is_the_one_shown():
    call_command("ledger_audit")
    first = latest_audit_run()
    call_command("ledger_audit")
    assert latest_audit_run().pk != first.pk
    assert AuditRun.objects.count() == 2


@pytest.mark.parametrize(
    "statement", ["UPDATE ledger_auditrun SET ok = false", "DELETE FROM ledger_auditrun"]
)
def test_postgres_refuses_to_rewrite_an_audit_run(statement):
    call_command("ledger_audit")
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement)
    assert AuditRun.objects.get().ok


def test_auditors_read_audit_runs_in_the_admin_and_nobody_edits_them(client):
    call_command("ledger_audit")
    run = latest_audit_run()
    auditor = User.objects.create_user("auditor-runs", is_staff=True)
    auditor.groups.add(Group.objects.get(name="auditor"))
    client.force_login(auditor)
    assert client.get("/admin/ledger/auditrun/").status_code == 200
    assert client.get(f"/admin/ledger/auditrun/{run.pk}/change/").status_code == 200
    client.force_login(User.objects.create_superuser("root-runs"))
    assert client.get("/admin/ledger/auditrun/add/").status_code == 403
    assert (
        client.post(f"/admin/ledger/auditrun/{run.pk}/delete/", {"post": "yes"}).status_code == 403
    )
