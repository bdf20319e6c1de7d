"""A second person's approvals, for tests whose subject is not four eyes itself."""

from django.db.models import Q

from erasure.models import Target
from targets.services import target_approve

SECOND_OFFICER = "staff:second-officer"


def approve_proposed_targets(*, actor: str = SECOND_OFFICER) -> int:
    """Approve every proposed target and proposed change, as a compliance officer who proposed
    none of them would; returns how many."""
    waiting = Target.objects.filter(Q(state=Target.State.PROPOSED) | Q(proposal__isnull=False))
    for target in waiting:
        target_approve(target=target, actor=actor, reason="reviewed by a second officer")
    return len(waiting)
