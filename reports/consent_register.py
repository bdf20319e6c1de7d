"""The register of consent events a regulator asks for: one row an event. The subject appears
as its pseudonymous id (a random UUID), never as an identifier or an identifier's key."""

from collections.abc import Iterator
from datetime import date, timedelta

from django.db.models import QuerySet

from consent.models import ConsentEvent
from core.days import day_start
from ledger.services import utc_time

CONSENT_REGISTER_COLUMNS = (
    "event_id",
    "subject_id",
    "purpose",
    "status",
    "legal_basis",
    "jurisdiction",
    "notice_key",
    "notice_version",
    "notice_language",
    "method",
    "event_time",
    "recorded_at",
    "receipt_id",
)
CHUNK = 2000


def consent_register(
    *,
    event_from: date | None = None,
    event_to: date | None = None,
    jurisdiction: str = "",
    purpose: str = "",
    status: str = "",
) -> QuerySet[ConsentEvent]:
    """Events whose event time falls between the two dates (both included), in record order.

    `purpose` is one purpose's key exactly: a register lists what was recorded, not what the
    purpose tree implies."""
    found = ConsentEvent.objects.order_by("id")
    if event_from:
        found = found.filter(event_time__gte=day_start(event_from))
    if event_to:
        found = found.filter(event_time__lt=day_start(event_to + timedelta(days=1)))
    if jurisdiction:
        found = found.filter(jurisdiction=jurisdiction.upper())
    if purpose:
        found = found.filter(purpose__key=purpose)
    if status:
        found = found.filter(status=status)
    return found


def consent_register_rows(events: QuerySet[ConsentEvent]) -> Iterator[tuple[str, ...]]:
    """The rows (CONSENT_REGISTER_COLUMNS) of `consent_register`'s events, read in chunks so
    memory stays flat."""
    rows = events.values_list(
        "id",
        "subject_id",
        "purpose__key",
        "status",
        "legal_basis",
        "jurisdiction",
        "notice__key",
        "notice__version",
        "notice__language",
        "method",
        "event_time",
        "recorded_at",
        "receipt_id",
    )
    for (
        event_id,
        subject_id,
        purpose,
        status,
        basis,
        jurisdiction,
        notice_key,
        notice_version,
        notice_language,
        method,
        event_time,
        recorded_at,
        receipt_id,
    ) in rows.iterator(chunk_size=CHUNK):
        yield (
            str(event_id),
            str(subject_id),
            purpose,
            status,
            basis,
            jurisdiction,
            notice_key or "",
            "" if notice_version is None else str(notice_version),
            notice_language or "",
            method,
            utc_time(event_time),
            utc_time(recorded_at),
            str(receipt_id or ""),
        )
