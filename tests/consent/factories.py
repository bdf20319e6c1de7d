from datetime import datetime, timedelta

from django.utils import timezone

from consent.inputs import EventInput, NoticeRef, SubjectRef, subject_from_identifier
from consent.models import Notice
from consent.services import consent_events_record, notice_publish
from core.subject_keys import normalize
from tests import identifiers

NOTICE = NoticeRef("privacy", 1, "en")


def notice(language: str = "en", version: int = 1):
    """The test notice (published once per test database)."""
    existing = Notice.objects.filter(key="privacy", language=language, version=version).first()
    return existing or notice_publish(
        key="privacy",
        language=language,
        version=version,
        title="Notice",
        text=f"How we use your data, v{version} ({language}).",
    )


def api_event(**overrides) -> dict:
    """A consent event as `POST /api/v1/consent/events` takes it, for a new subject."""
    data = {
        "subject": {"id_type": "email", "value": identifiers.email()},
        "purpose": "train_ai_system.evaluation",
        "status": "given",
        "legal_basis": "consent",
        "jurisdiction": "KH",
        "notice": {"key": "privacy", "version": 1, "language": "en"},
        "method": "web",
        "event_time": "2026-01-15T08:30:00Z",
    }
    return {**data, **overrides}


def subject(email: str | None = None) -> SubjectRef:
    value = email or identifiers.email()
    return subject_from_identifier(normalize("email", value))


def event(
    ref: SubjectRef,
    purpose: str,
    status: str = "given",
    *,
    at: datetime | None = None,
    expires_at: datetime | None = None,
    legal_basis: str = "consent",
    jurisdiction: str = "KH",
) -> EventInput:
    return EventInput(
        subject=ref,
        purpose_key=purpose,
        status=status,
        legal_basis=legal_basis,
        jurisdiction=jurisdiction,
        notice=NOTICE,
        method="api",
        event_time=at or timezone.now() - timedelta(minutes=1),
        expires_at=expires_at,
        data_categories=(),
    )


def record(*events: EventInput):
    return consent_events_record(events=list(events))
