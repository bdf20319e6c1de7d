"""on_consent_withdrawn tells subscribers (erasure, receipts) after a withdrawal commits."""

import pytest
from django.db import transaction

from consent.signals import consent_withdrawn
from tests.consent import factories as f

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def received():
    calls: list[dict] = []

    def receiver(sender, **kwargs):
        calls.append(kwargs)

    consent_withdrawn.connect(receiver, weak=False)
    yield calls
    consent_withdrawn.disconnect(receiver)


def test_a_withdrawal_is_announced_once_committed_with_its_purposes(received):
    f.notice()
    ref = f.subject()
    f.record(f.event(ref, "marketing"), f.event(ref, "train_ai_system"))
    assert received == []  # grants are not withdrawals
    result = f.record(
        f.event(ref, "train_ai_system", "withdrawn"), f.event(ref, "marketing", "refused")
    )
    assert len(received) == 1
    assert received[0]["subject_id"] == result.events[0].subject_id
    assert received[0]["purpose_keys"] == ["marketing", "train_ai_system"]
    assert sorted(received[0]["event_ids"]) == sorted(e.id for e in result.events)


def test_nothing_is_announced_when_the_transaction_rolls_back(received):
    f.notice()
    ref = f.subject()

    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        f.record(f.event(ref, "train_ai_system", "withdrawn"))
        raise Abort
    assert received == []
