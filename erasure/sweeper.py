from datetime import timedelta

import structlog
from django.conf import settings
from django.db.models import Exists, Max, OuterRef
from django.utils import timezone

from erasure.execution import erasure_request_close_if_done, target_run_enqueue
from erasure.models import ErasureRequest, State, TargetRun

log = structlog.get_logger(__name__)


def erasure_sweep(*, now=None) -> int:
    """Enqueue again every unfinished run not touched for `LUP_SWEEP_AFTER_SECONDS`, and close
    the requests whose runs have all ended but which were never closed.

    Postgres says what is unfinished; Redis may have lost the message. A run that was only slow
    is harmless to enqueue twice: the task checks the run's state before it works."""
    now = now or timezone.now()
    stale = TargetRun.objects.filter(
        request__state=State.EXECUTING,
        status__in=[TargetRun.Status.PENDING, TargetRun.Status.ERASED],
        enqueued_at__lt=now - timedelta(seconds=settings.LUP_SWEEP_AFTER_SECONDS),
    ).select_related("target")
    count = 0
    for run in stale:
        TargetRun.objects.filter(pk=run.pk).update(enqueued_at=now)
        target_run_enqueue(run=run)
        count += 1
    count += _sweep_verified(now)
    count += _sweep_unclosed(now)
    if count:
        log.info("erasure.swept", runs=count)
    return count


def _sweep_verified(now) -> int:
    """Requests filed on the subject pages are planned by a task; plan again those it missed
    (message lost, or waiting for an earlier request of the same subject)."""
    from erasure.tasks import erasure_proceed

    stale = ErasureRequest.objects.filter(
        state=State.VERIFIED,
        channel="portal",
        verified_at__lt=now - timedelta(seconds=settings.LUP_SWEEP_AFTER_SECONDS),
    ).values_list("pk", flat=True)
    for pk in stale:
        erasure_proceed.delay(str(pk))
    return len(stale)


def _sweep_unclosed(now) -> int:
    """Close executing requests whose runs have all ended. The task that ends a request's last
    run closes the request after its own commit; a worker killed, or cut off from the database,
    in between leaves a request that no run would ever close."""
    unended = TargetRun.objects.filter(request=OuterRef("pk")).exclude(
        status__in=[TargetRun.Status.DONE, TargetRun.Status.FAILED]
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
        erasure_request_close_if_done(request_id=pk)
        closed += 1
    return closed
