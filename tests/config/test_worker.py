"""A real Celery worker process runs Lup's tasks against the real broker and database."""

import time

import pytest
from django.db import connection

from consent.models import ConsentState
from consent.tasks import consent_rebuild_state
from ledger.models import Checkpoint, LogHead
from ledger.tasks import ledger_checkpoint
from tests.consent import factories as f
from tests.ledger.factories import issue


@pytest.mark.django_db(transaction=True)
def test_a_worker_rebuilds_the_consent_projection(celery_worker_process):
    f.notice()
    ref = f.subject()
    f.record(f.event(ref, "marketing"), f.event(ref, "train_ai_system"))
    ConsentState.objects.all().delete()  # the projection is lost; the events are not

    consent_rebuild_state.delay()  # through Redis to the worker process
    deadline = time.monotonic() + 30
    while ConsentState.objects.count() < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert ConsentState.objects.count() == 2
    assert celery_worker_process.poll() is None


def _worker_backends() -> set[int]:
    """The server processes of every other connection to the test database: the worker's."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return {pid for (pid,) in cursor.fetchall()}


def _checkpoint_signed_by_the_worker() -> None:
    issue(1)
    size = LogHead.objects.get().size
    ledger_checkpoint.delay()
    deadline = time.monotonic() + 30
    while not Checkpoint.objects.filter(size=size).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert Checkpoint.objects.filter(size=size).exists()


@pytest.mark.django_db(transaction=True)
def test_a_worker_keeps_its_database_connection_and_replaces_one_the_server_ended(
    celery_worker_process,
):
    """Tasks reuse the worker's connection (DATABASE_CONN_MAX_AGE), as web requests do: no
    connection set up for every task. One the server has ended is replaced before the next task
    uses it, and that task succeeds."""
    _checkpoint_signed_by_the_worker()
    (first,) = _worker_backends()
    for _ in range(4):
        _checkpoint_signed_by_the_worker()
        assert _worker_backends() == {first}

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [first])
    _checkpoint_signed_by_the_worker()
    (second,) = _worker_backends()
    assert second != first
    assert celery_worker_process.poll() is None
