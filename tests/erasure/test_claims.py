"""Runs are claimed in a short transaction and erased with no transaction open and no row lock
held; a claim whose worker died is given back by the sweeper; a connector that fails gives its
claim back at once, so the retried task finds the run pending."""

import json
from datetime import timedelta

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from connectors.jsonl_file import JsonlFile
from core.errors import ApplicationError
from erasure.models import TargetRun
from erasure.runs import target_run_execute
from erasure.sweeper import erasure_sweep
from ledger.models import Receipt
from tests import identifiers
from tests.erasure.test_batching import eval_target, file_request

pytestmark = pytest.mark.django_db(transaction=True)


def _other_connection_can_lock(run_id: int) -> bool:
    """Whether a second session could lock the run's row right now (NOWAIT)."""
    params = connection.get_connection_params()
    dsn = {k: params[k] for k in ("host", "port", "user", "dbname") if k in params}
    with psycopg.connect(**dsn, autocommit=False) as other:
        try:
            other.execute(
                "SELECT id FROM erasure_targetrun WHERE id = %s FOR UPDATE NOWAIT", [run_id]
            )
        except psycopg.errors.LockNotAvailable:
            return False
        finally:
            other.rollback()
    return True


@pytest.fixture
def one_run(api, tmp_path, settings, enqueued):
    settings.LUP_FILE_ROOTS = [str(tmp_path)]
    email = identifiers.email().lower()
    (tmp_path / "eval.jsonl").write_text(json.dumps({"email": email}) + "\n")
    eval_target(api)
    return file_request(email).runs.get()


def test_the_connector_erases_with_no_transaction_and_no_lock_on_the_run(one_run, monkeypatch):
    seen = []
    real = JsonlFile.erase_groups

    def spy(self, groups, *, op):
        run = TargetRun.objects.get(pk=one_run.pk)
        seen.append((connection.in_atomic_block, run.status, _other_connection_can_lock(run.pk)))
        return real(self, groups, op=op)

    monkeypatch.setattr(JsonlFile, "erase_groups", spy)
    assert target_run_execute(run_id=one_run.pk).status == "done"
    assert seen == [(False, "claimed", True)]


def test_a_claim_whose_worker_died_is_given_back_by_the_sweeper(one_run, settings, enqueued):
    TargetRun.objects.filter(pk=one_run.pk).update(
        status="claimed", claimed_at=timezone.now(), claimed_by="gone:1"
    )
    # Redelivered while claimed: left alone, since the claimer may still be working.
    assert target_run_execute(run_id=one_run.pk).status == "claimed"
    assert erasure_sweep() == 0  # too soon to give it back
    later = timezone.now() + timedelta(seconds=settings.LUP_SWEEP_AFTER_SECONDS + 1)
    assert erasure_sweep(now=later) == 1
    assert enqueued[-1] == one_run.pk
    assert TargetRun.objects.get(pk=one_run.pk).status == "pending"
    assert target_run_execute(run_id=one_run.pk).outcome == "erased"
    assert Receipt.objects.filter(type="erasure.target").count() == 1


def test_a_connector_that_fails_gives_its_claim_back(one_run, monkeypatch):
    def unavailable(self, groups, *, op):
        raise ApplicationError("The file cannot be read.", code="target_unavailable")

    with monkeypatch.context() as patch:
        patch.setattr(JsonlFile, "erase_groups", unavailable)
        with pytest.raises(ApplicationError):
            target_run_execute(run_id=one_run.pk)
    run = TargetRun.objects.get(pk=one_run.pk)
    assert (run.status, run.claimed_by, run.receipt_id) == ("pending", "", None)
    assert target_run_execute(run_id=one_run.pk).outcome == "erased"
