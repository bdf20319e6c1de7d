from celery import shared_task

from erasure.services import erasure_requests_shred_due


@shared_task(name="erasure.shred_due")
def erasure_shred_due() -> int:
    """Destroy the data keys of closed requests past their retention (run by Celery beat)."""
    return erasure_requests_shred_due()
