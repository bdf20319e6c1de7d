from celery import shared_task

from ledger.services import checkpoint_create


@shared_task(name="ledger.checkpoint")
def ledger_checkpoint() -> int | None:
    """Sign a checkpoint if the log grew since the last one (run by Celery beat)."""
    checkpoint = checkpoint_create()
    return checkpoint.size if checkpoint else None
