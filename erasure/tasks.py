from smtplib import SMTPException

from celery import shared_task

from core.actors import SYSTEM
from erasure import closing, failures
from erasure.bundle_links import bundle_link_send
from erasure.gate import erasure_request_proceed
from erasure.runs import (
    sharded_pass_end,
    target_run_attempt_failed,
    target_run_execute,
    target_run_fail,
)
from erasure.services import erasure_requests_shred_due
from erasure.shards import (
    pass_ended,
    pass_forget,
    shard_run_attempt_failed,
    shard_run_execute,
    shard_run_fail,
)
from erasure.sweeper import erasure_sweep


# `max_retries=None`: the run's own attempt count, kept across redeliveries and sweeps, decides
# when to stop (LUP_RUN_MAX_ATTEMPTS), not the count of this one message's retries.
@shared_task(
    name="erasure.run_target",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=None,
)
def erasure_run_target(self, run_id: int) -> str:
    """One (request, target): fetch by id, and let the service decide whether work is left.

    Any failure is recorded on the run and tried again after a backoff until the attempts are
    spent; then the run ends `failed` and its request can close. Nothing escapes: when tasks
    run in the calling process (no broker), that caller may be an HTTP request whose state
    change is committed, and a `Retry` raised there would answer 500 for work that was done;
    there the in-process sweeper tries the run again (its `retry_at`)."""
    try:
        return target_run_execute(run_id=run_id).status
    except Exception as exc:  # every failure ends on the run, by its code
        code = failures.error_code(exc)
    in_process = bool(self.request.is_eager)
    attempts = target_run_attempt_failed(run_id=run_id, code=code, in_process=in_process)
    if attempts is None:  # ended meanwhile (another delivery finished it)
        return "ended"
    if failures.retryable(code, attempts=attempts):
        if in_process:
            return "pending"
        raise self.retry(countdown=failures.backoff_seconds(attempts)) from None
    target_run_fail(run_id=run_id, code=code)
    return "failed"


@shared_task(
    name="erasure.run_shard",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=None,
)
def erasure_run_shard(self, shard_ids: list[int]) -> str:
    """Shards of a sharded target's pass (one, or a group of small ones), each on its own: a
    failure is recorded on its shard and only the failed ones are tried again after a backoff,
    until their attempts are spent. The task that ends a pass's last shard ends the pass."""
    in_process = bool(self.request.is_eager)
    again: list[int] = []
    wait = 0
    for shard_id in shard_ids:
        try:
            shard = shard_run_execute(shard_id=shard_id)
        except Exception as exc:  # every failure ends on the shard, by its code
            code = failures.error_code(exc)
            attempts = shard_run_attempt_failed(shard_id=shard_id, code=code, in_process=in_process)
            if attempts is None:
                continue
            if failures.retryable(code, attempts=attempts):
                if not in_process:
                    again.append(shard_id)
                    wait = max(wait, failures.backoff_seconds(attempts))
                continue
            shard = shard_run_fail(shard_id=shard_id, code=code)
        if shard is not None and pass_ended(lead_id=shard.run_id):
            pass_forget(lead_id=shard.run_id)
            sharded_pass_end(lead_id=shard.run_id)
    if again:
        raise self.retry(args=[again], countdown=wait)
    return "done"


@shared_task(name="erasure.close_requests", acks_late=True, reject_on_worker_lost=True)
def erasure_close_requests(request_ids: list[str]) -> int:
    """Close requests whose runs have all ended (a sharded pass's, handed out in chunks so that
    every worker takes a share): together, their receipts in one append; a closed one is left
    as it is."""
    return closing.erasure_requests_close_if_done(request_ids=request_ids)


@shared_task(
    name="erasure.send_bundle_link",
    acks_late=True,
    autoretry_for=(OSError, SMTPException),
    retry_backoff=30,
    max_retries=6,
)
def erasure_send_bundle_link(request_id: str) -> bool:
    """Mail a closed request's subject the link to their bundle. A task of its own: a slow or
    unreachable mail server holds up no erasure, and the mail is tried again with a backoff."""
    return bundle_link_send(request_id=request_id)


@shared_task(name="erasure.proceed", acks_late=True, reject_on_worker_lost=True)
def erasure_proceed(request_id: str) -> str:
    """Plan a verified request and pass it through the gate. A request that waits for an
    earlier one of the same subject, or whose planning failed (an identity source down), stays
    verified; the sweeper tries it again later."""
    try:
        return erasure_request_proceed(request_id=request_id, actor=SYSTEM).state
    except Exception as exc:  # the caller (a subject's page, in-process) already answered
        return failures.error_code(exc)


@shared_task(name="erasure.sweep")
def erasure_sweep_task() -> int:
    """Re-enqueue runs whose task is gone (Redis flushed, worker killed)."""
    return erasure_sweep()


@shared_task(name="erasure.shred_due")
def erasure_shred_due() -> int:
    """Destroy the data keys of closed requests past their retention (run by Celery beat)."""
    return erasure_requests_shred_due()
