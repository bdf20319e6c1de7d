"""Handing work to Celery. Tasks are named, not imported, so the services that enqueue them and
the tasks that call those services do not import each other."""

from datetime import datetime

import structlog
from celery import current_app
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from connectors import CONNECTORS, Connector
from erasure.models import ErasureRequest, TargetRun

log = structlog.get_logger(__name__)


# Requests one closing task takes: a pass of a thousand requests closes them on every worker
# of the default queue rather than one after another on the worker that ended the pass.
CLOSE_PER_TASK = 25


def requests_close_enqueue(*, request_ids: list) -> None:
    """Close these requests once their runs have ended, in tasks of CLOSE_PER_TASK (called
    after the commit that ended the runs). A lost message loses nothing: the sweeper closes a
    request whose runs have all ended."""
    for start in range(0, len(request_ids), CLOSE_PER_TASK):
        chunk = [str(pk) for pk in request_ids[start : start + CLOSE_PER_TASK]]
        try:
            current_app.signature("erasure.close_requests", args=[chunk]).apply_async()
        except Exception as exc:
            log.warning("erasure.enqueue_failed", requests=len(chunk), error=type(exc).__name__)


def target_run_enqueue(*, run: TargetRun, now: datetime | None = None) -> None:
    """Hand a run to a worker (or, without a broker, run it here). A broker that cannot be
    reached loses nothing: the run is in the database, and the sweeper enqueues it again."""
    try:
        # A queue per connector kind, so slow targets do not starve fast ones.
        current_app.signature("erasure.run_target", args=[run.pk]).apply_async(
            queue=f"erasure.{run.target.kind}",
            countdown=batch_delay(run=run, now=now or timezone.now()),
        )
    except Exception as exc:  # called after a commit: the caller's change stands
        log.warning("erasure.enqueue_failed", run=run.pk, error=type(exc).__name__)


def shard_runs_enqueue(*, shard_ids: list[int], kind: str) -> None:
    """Hand shards of a sharded target's pass to a worker, on the target kind's queue. Lost
    messages are the sweeper's to find, as for runs."""
    try:
        current_app.signature("erasure.run_shard", args=[shard_ids]).apply_async(
            queue=f"erasure.{kind}"
        )
    except Exception as exc:  # called after a commit: the shards are in the database
        log.warning("erasure.enqueue_failed", shards=len(shard_ids), error=type(exc).__name__)


def bundle_link_enqueue(*, request_id) -> None:
    """Mail the subject of a request just closed the link to their bundle, in a task of its own
    (called after the commit that closed it)."""
    try:
        current_app.signature("erasure.send_bundle_link", args=[str(request_id)]).apply_async()
    except Exception as exc:
        log.warning("erasure.enqueue_failed", task="send_bundle_link", error=type(exc).__name__)


def erasure_request_proceed_enqueue(*, request_id) -> None:
    current_app.signature("erasure.proceed", args=[str(request_id)]).apply_async()


def erasure_request_proceed_later(*, request: ErasureRequest) -> None:
    """Plan and start in a worker once the caller's transaction commits (planning asks lineage
    and identity sources, which may be slow; the subject's page must not wait for it)."""
    transaction.on_commit(
        lambda: erasure_request_proceed_enqueue(request_id=request.pk), robust=True
    )


def batch_delay(*, run: TargetRun, now: datetime) -> float:
    """Seconds a run on a batching target waits before its task starts: the optional
    `LUP_BATCH_WINDOW_SECONDS` (0 by default: group commit alone gathers the runs that arrive
    while a pass runs), none once the batch is full, and never so long that less than a window
    is left before the request's deadline."""
    window = settings.LUP_BATCH_WINDOW_SECONDS
    if window <= 0 or run.status != TargetRun.Status.PENDING:
        return 0
    if not CONNECTORS.get(run.target.kind, Connector).batches:
        return 0
    pending = TargetRun.objects.filter(
        target_id=run.target_id, status=TargetRun.Status.PENDING
    ).count()
    if pending >= settings.LUP_BATCH_MAX:
        return 0
    deadline = run.request.deadline
    left = (deadline - now).total_seconds() if deadline else window * 2
    return max(0.0, min(float(window), left - window))
