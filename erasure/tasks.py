from celery import shared_task

from core.actors import SYSTEM
from core.errors import ApplicationError
from erasure.gate import erasure_request_proceed
from erasure.runs import target_run_execute, target_run_fail
from erasure.services import erasure_requests_shred_due
from erasure.sweeper import erasure_sweep

RETRYABLE = {"target_unavailable", "connector_timeout"}


@shared_task(
    name="erasure.run_target", bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=5
)
def erasure_run_target(self, run_id: int) -> str:
    """One (request, target): fetch by id, and let the service decide whether work is left."""
    try:
        return target_run_execute(run_id=run_id).status
    except ApplicationError as exc:
        if exc.code in RETRYABLE and self.request.retries < self.max_retries:
            raise self.retry(countdown=2**self.request.retries) from None
        target_run_fail(run_id=run_id, code=exc.code)
        return "failed"


@shared_task(name="erasure.proceed", acks_late=True, reject_on_worker_lost=True)
def erasure_proceed(request_id: str) -> str:
    """Plan a verified request and pass it through the gate. A request that waits for an
    earlier one of the same subject stays verified; the sweeper tries it again later."""
    try:
        return erasure_request_proceed(request_id=request_id, actor=SYSTEM).state
    except ApplicationError as exc:
        return exc.code


@shared_task(name="erasure.sweep")
def erasure_sweep_task() -> int:
    """Re-enqueue runs whose task is gone (Redis flushed, worker killed)."""
    return erasure_sweep()


@shared_task(name="erasure.shred_due")
def erasure_shred_due() -> int:
    """Destroy the data keys of closed requests past their retention (run by Celery beat)."""
    return erasure_requests_shred_due()
