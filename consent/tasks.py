from celery import shared_task

from consent.services import consent_state_rebuild


@shared_task(name="consent.rebuild_state")
def consent_rebuild_state(subject_ids: list[str] | None = None) -> int:
    """Recompute the consent state projection (all subjects, or the given ones)."""
    return consent_state_rebuild(subject_ids=subject_ids)
