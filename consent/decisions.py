"""How a subject's consent states along a purpose's ancestry decide one question.

The rules, in order:
1. The most specific purpose with a recorded state decides: consent for `train_ai_system`
   covers `train_ai_system.evaluation` unless an event for `train_ai_system.evaluation` says
   otherwise.
2. A withdrawal or refusal of an ancestor that is later than that state overrides it: withdrawing
   `train_ai_system` withdraws every narrower purpose granted before it.
3. A grant past its expiry does not allow; it is not replaced by a broader grant, because the
   subject agreed to the narrower use only until then.
4. No state anywhere along the ancestry: not allowed.
"""

from dataclasses import dataclass
from datetime import datetime

from consent.models import Status


@dataclass(frozen=True, slots=True)
class StateRow:
    purpose_id: int
    event_id: int
    status: str
    event_time: datetime
    expires_at: datetime | None

    @property
    def order(self) -> tuple[datetime, int]:
        return (self.event_time, self.event_id)


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: str  # given | withdrawn | refused | expired | no_consent
    state: StateRow | None


NO_CONSENT = Decision(allowed=False, reason="no_consent", state=None)


def decide(chain: list[int], states: dict[int, StateRow], now: datetime) -> Decision:
    """`chain` is the purpose's id followed by its ancestors' ids, nearest first."""
    depth = next((i for i, purpose_id in enumerate(chain) if purpose_id in states), None)
    if depth is None:
        return NO_CONSENT
    deciding = states[chain[depth]]
    for ancestor_id in chain[depth + 1 :]:
        state = states.get(ancestor_id)
        if state and state.status != Status.GIVEN and state.order > deciding.order:
            deciding = state
    if deciding.status != Status.GIVEN:
        return Decision(allowed=False, reason=deciding.status, state=deciding)
    if deciding.expires_at is not None and deciding.expires_at <= now:
        return Decision(allowed=False, reason="expired", state=deciding)
    return Decision(allowed=True, reason="given", state=deciding)
