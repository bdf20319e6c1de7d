"""The current state is a projection of the events: it always equals a rebuild from them."""

from datetime import timedelta

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consent.models import ConsentState, SubjectIdentifier
from consent.services import consent_state_rebuild
from tests.consent import factories as f

PURPOSES = ["train_ai_system", "train_ai_system.evaluation", "marketing"]
STATUSES = ["given", "withdrawn", "refused"]

event_spec = st.tuples(
    st.integers(0, 2),  # subject
    st.sampled_from(PURPOSES),
    st.sampled_from(STATUSES),
    st.integers(0, 5),  # event time, in days ago: repeats make ties, which record order breaks
)


def snapshot(refs) -> set[tuple]:
    subject_ids = SubjectIdentifier.objects.filter(key__in=[r.key for r in refs]).values(
        "subject_id"
    )
    return set(
        ConsentState.objects.filter(subject_id__in=subject_ids).values_list(
            "subject_id", "purpose_id", "event_id", "status", "event_time", "expires_at"
        )
    )


@pytest.mark.django_db
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batches=st.lists(st.lists(event_spec, min_size=1, max_size=6), min_size=1, max_size=5))
def test_projection_equals_rebuild_after_random_event_sequences(batches):
    f.notice()
    now = timezone.now()
    subjects = [f.subject() for _ in range(3)]
    for batch in batches:
        f.record(
            *(
                f.event(subjects[s], purpose, status, at=now - timedelta(days=days))
                for s, purpose, status, days in batch
            )
        )
    projected = snapshot(subjects)
    consent_state_rebuild()
    assert snapshot(subjects) == projected
    assert len(projected) == len({(s, p) for batch in batches for s, p, _, _ in batch})
