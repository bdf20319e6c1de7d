from celery import shared_task

from targets.indexing import target_index_build, target_index_due

# A scan reads a whole target, so it may take far longer than an erasure run's pass: its own
# limits, below the broker's visibility timeout (LUP_VISIBILITY_TIMEOUT, 3600 s by default) so a
# running build is never handed to a second worker.
INDEX_SOFT_TIME_LIMIT = 3000
INDEX_TIME_LIMIT = 3060


@shared_task(
    name="targets.index",
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=INDEX_SOFT_TIME_LIMIT,
    time_limit=INDEX_TIME_LIMIT,
)
def targets_index(target_id: int, run: str) -> str:
    """Build one target's subject index; the service checks the build is still wanted."""
    return target_index_build(target_id=target_id, run=run)


@shared_task(name="targets.index_due")
def targets_index_due() -> int:
    """Start the scheduled builds that are due and those whose worker was lost (beat)."""
    return target_index_due()
