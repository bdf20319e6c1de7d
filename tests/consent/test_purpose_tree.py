"""Purpose tree semantics, through the check that training pipelines call."""

from dataclasses import replace
from datetime import timedelta

import pytest
from django.utils import timezone

from consent.inputs import SubjectRef
from consent.models import Purpose
from consent.selectors import consent_check
from tests.consent import factories as f

pytestmark = pytest.mark.django_db

TRAIN = "train_ai_system"
EVAL = "train_ai_system.evaluation"
TUNE = "train_ai_system.fine_tuning"


@pytest.fixture(autouse=True)
def _notice():
    f.notice()


def check(ref: SubjectRef, purpose: str) -> dict:
    return consent_check(subject=ref, purpose_key=purpose)


def test_fideslang_uses_and_ai_purposes_form_one_tree():
    assert Purpose.objects.get(key=EVAL).parent.key == TRAIN
    assert Purpose.objects.get(key="essential.service.inference_logging").parent.key == (
        "essential.service"
    )
    assert Purpose.objects.filter(is_custom=False).count() >= 56


def test_nobody_is_allowed_without_an_event():
    ref = f.subject()
    assert check(ref, TRAIN) == {
        "allowed": False,
        "purpose": TRAIN,
        "reason": "no_consent",
        "decided_by": None,
    }


def test_consent_for_a_purpose_covers_its_descendants_and_names_the_deciding_event():
    ref = f.subject()
    result = f.record(f.event(ref, TRAIN))
    answer = check(ref, EVAL)
    assert answer["allowed"] is True
    assert answer["decided_by"]["event_id"] == result.events[0].id
    assert answer["decided_by"]["purpose"] == TRAIN
    assert answer["decided_by"]["legal_basis"] == "consent"
    assert answer["decided_by"]["notice"]["version"] == 1
    assert answer["decided_by"]["notice"]["digest"].startswith("sha256:")


def test_consent_for_a_narrow_purpose_does_not_cover_its_parent_or_siblings():
    ref = f.subject()
    f.record(f.event(ref, EVAL))
    assert check(ref, EVAL)["allowed"] is True
    assert check(ref, TRAIN)["allowed"] is False
    assert check(ref, TUNE)["allowed"] is False


def test_a_more_specific_refusal_overrides_a_broad_grant():
    ref = f.subject()
    now = timezone.now()
    f.record(f.event(ref, EVAL, "refused", at=now - timedelta(days=2)))
    f.record(f.event(ref, TRAIN, "given", at=now - timedelta(days=1)))
    assert check(ref, TUNE)["allowed"] is True
    answer = check(ref, EVAL)
    assert answer["allowed"] is False
    assert answer["reason"] == "refused"


def test_withdrawing_a_purpose_withdraws_its_descendants():
    ref = f.subject()
    now = timezone.now()
    f.record(f.event(ref, EVAL, at=now - timedelta(days=3)))
    f.record(f.event(ref, TRAIN, at=now - timedelta(days=2)))
    withdrawal = f.record(f.event(ref, TRAIN, "withdrawn", at=now - timedelta(days=1)))
    for purpose in (TRAIN, EVAL, TUNE):
        answer = check(ref, purpose)
        assert answer["allowed"] is False, purpose
        assert answer["decided_by"]["event_id"] == withdrawal.events[0].id


def test_a_narrow_grant_after_a_broad_withdrawal_allows_only_the_narrow_purpose():
    ref = f.subject()
    now = timezone.now()
    f.record(f.event(ref, TRAIN, "withdrawn", at=now - timedelta(days=2)))
    f.record(f.event(ref, EVAL, "given", at=now - timedelta(days=1)))
    assert check(ref, EVAL)["allowed"] is True
    assert check(ref, TUNE)["allowed"] is False


def test_an_expired_grant_no_longer_allows():
    ref = f.subject()
    now = timezone.now()
    f.record(f.event(ref, TRAIN, at=now - timedelta(days=10), expires_at=now - timedelta(days=1)))
    answer = check(ref, EVAL)
    assert (answer["allowed"], answer["reason"]) == (False, "expired")


def test_a_late_arriving_older_event_does_not_replace_a_newer_state():
    ref = f.subject()
    now = timezone.now()
    f.record(f.event(ref, TRAIN, "withdrawn", at=now - timedelta(hours=1)))
    f.record(f.event(ref, TRAIN, "given", at=now - timedelta(days=30)))  # imported late
    assert check(ref, TRAIN)["reason"] == "withdrawn"


def test_other_legal_bases_allow_without_a_notice():
    ref = f.subject()
    event = f.event(ref, "essential.service.inference_logging", legal_basis="contract")
    f.record(replace(event, notice=None))
    answer = check(ref, "essential.service.inference_logging")
    assert answer["allowed"] is True
    assert answer["decided_by"]["legal_basis"] == "contract"
