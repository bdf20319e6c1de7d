from datetime import timedelta

import structlog
from django.conf import settings
from django.db.models import Exists, Max, OuterRef, Q
from django.utils import timezone

from erasure import closing, dispatch, shards
from erasure.models import ErasureRequest, State, TargetRun
from erasure.runs import sharded_pass_end

log = structlog.get_logger(__name__)

Status = TargetRun.Status


def erasure_sweep(*, now=None) -> int:
    """Enqueue again every unfinished run not touched for `LUP_SWEEP_AFTER_SECONDS`, give back
    the claims of workers that died holding them, and close the requests whose runs have all
    ended but which were never closed.

    Postgres says what is unfinished; Redis may have lost the message. A run that was only slow
    is harmless to enqueue twice: the task checks the run's state before it works, and erasing
    what is already erased finds nothing."""
    now = now or timezone.now()
    before = now - timedelta(seconds=settings.LUP_SWEEP_AFTER_SECONDS)
    stale = TargetRun.objects.filter(request__state=State.EXECUTING).filter(
        Q(status__in=[Status.PENDING, Status.ERASED], enqueued_at__lt=before)
        | Q(status=Status.CLAIMED, claimed_at__lt=before)
        # Failed attempts due again, when tasks run in-process (no broker holds a countdown).
        | Q(status__in=[Status.PENDING, Status.ERASED], retry_at__lte=now)
    )
    count = 0
    for run in stale.select_related("target", "request"):
        given_back = (
            {"status": Status.PENDING, "claimed_by": ""} if run.status == Status.CLAIMED else {}
        )
        # Only if nobody moved it meanwhile.
        if TargetRun.objects.filter(pk=run.pk, status=run.status).update(
            enqueued_at=now, retry_at=None, **given_back
        ):
            run.status = given_back.get("status", run.status)
            dispatch.target_run_enqueue(run=run, now=now)
            count += 1
    count += _sweep_shards(now)
    count += _sweep_verified(now)
    count += _sweep_unclosed(now)
    if count:
        log.info("erasure.swept", runs=count)
    return count


def _sweep_shards(now) -> int:
    """Shards of sharded targets, as runs: claims of dead workers given back, lost tasks
    enqueued again; and the passes whose last shard ended without ending the pass (a worker
    killed in between) are ended."""
    count, unended = shards.shards_sweep(now=now)
    for lead_id in unended:
        sharded_pass_end(lead_id=lead_id)
    return count + len(unended)


def _sweep_verified(now) -> int:
    """Requests filed on the subject pages are planned by a task; plan again those it missed
    (message lost, or waiting for an earlier request of the same subject)."""
    stale = ErasureRequest.objects.filter(
        state=State.VERIFIED,
        channel="portal",
        verified_at__lt=now - timedelta(seconds=settings.LUP_SWEEP_AFTER_SECONDS),
    ).values_list("pk", flat=True)
    for pk in stale:
        dispatch.erasure_request_proceed_enqueue(request_id=pk)
    return len(stale)


def _sweep_unclosed(now) -> int:
    """Close executing requests whose runs have all ended. A run that ends with its receipt
    closes its request in the same transaction; but one whose retries are spent, and a sharded
    pass's requests, are closed after that commit (the latter by tasks of their own): a worker
    killed, or cut off from the database or the broker, in between leaves a request that no
    run would ever close."""
    unended = TargetRun.objects.filter(request=OuterRef("pk")).exclude(
        status__in=[Status.DONE, Status.FAILED]
    )
    stale = (
        ErasureRequest.objects.filter(state=State.EXECUTING)
        .annotate(last_run=Max("runs__updated_at"))
        .filter(
            ~Exists(unended), last_run__lt=now - timedelta(seconds=settings.LUP_SWEEP_AFTER_SECONDS)
        )
        .values_list("pk", flat=True)
    )
    closed = 0
    for pk in stale:
        closing.erasure_request_close_if_done(request_id=pk)
        closed += 1
    return closed
