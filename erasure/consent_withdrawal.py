"""After an erasure, the subject's consent is withdrawn for every purpose it was given for, so
nothing re-collects what was just deleted; each withdrawal is a consent event with a receipt."""

from django.conf import settings
from django.utils import timezone

from consent.inputs import EventInput, subject_from_key
from consent.models import ConsentState, Status, SubjectIdentifier
from consent.services import consent_events_record
from erasure.models import ErasureRequest


def withdraw_all_consent(*, request: ErasureRequest) -> int:
    keys = list(request.subject_keys.values_list("key", flat=True))
    identifiers = SubjectIdentifier.objects.filter(key__in=keys).select_related("subject")
    by_subject = {i.subject_id: i.key for i in identifiers}
    given = ConsentState.objects.filter(
        subject_id__in=by_subject, status=Status.GIVEN
    ).select_related("purpose")
    now = timezone.now()
    jurisdiction = request.subject_country or settings.LUP_MARKETS[0]
    events = [
        EventInput(
            subject=subject_from_key(by_subject[state.subject_id]),
            purpose_key=state.purpose.key,
            status=Status.WITHDRAWN,
            legal_basis="consent",
            jurisdiction=jurisdiction,
            notice=None,
            method="erasure",
            event_time=now,
            expires_at=None,
            data_categories=(),
        )
        for state in given
    ]
    if events:
        consent_events_record(events=events)
    return len(events)
