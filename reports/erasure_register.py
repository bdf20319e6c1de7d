"""The register of erasure requests a regulator asks for: one row a request, with its dates,
outcome and deadline, and nothing that identifies the subject (no identifiers, no keys, no
commitment, no note)."""

from collections.abc import Iterator
from datetime import date, datetime, timedelta

from django.db.models import Count, QuerySet

from core.days import day_start
from erasure.models import ErasureRequest
from ledger.services import utc_time

REQUEST_REGISTER_COLUMNS = (
    "request_id",
    "channel",
    "subject_country",
    "received_at",
    "verified_at",
    "deadline",
    "closed_at",
    "state",
    "days_taken",
    "met_deadline",
    "jurisdictions_considered",
    "targets",
    "closing_receipt_id",
)
CHUNK = 2000


def erasure_request_register(
    *,
    received_from: date | None = None,
    received_to: date | None = None,
    country: str = "",
    state: str = "",
) -> QuerySet[ErasureRequest]:
    """The requests received between the two dates (both included), oldest first."""
    found = (
        # Only the register's fields: the sealed identifiers never leave the database here.
        ErasureRequest.objects.only(
            "id",
            "channel",
            "subject_country",
            "received_at",
            "verified_at",
            "deadline",
            "closed_at",
            "state",
            "rules",
            "closing_receipt_id",
        )
        .annotate(target_count=Count("plan"))
        .order_by("received_at", "id")
    )
    if received_from:
        found = found.filter(received_at__gte=day_start(received_from))
    if received_to:
        found = found.filter(received_at__lt=day_start(received_to + timedelta(days=1)))
    if country:
        found = found.filter(subject_country=country.upper())
    if state:
        found = found.filter(state=state)
    return found


def _time(moment: datetime | None) -> str:
    return utc_time(moment) if moment else ""


def days_taken(request: ErasureRequest) -> str:
    """Received to closed, in days with one decimal; empty while open."""
    if request.closed_at is None:
        return ""
    return f"{(request.closed_at - request.received_at) / timedelta(days=1):.1f}"


def met_deadline(request: ErasureRequest) -> str:
    """yes or no once closed, "open" before; "n/a" for a request closed without a deadline
    (denied before its identity was verified, when the deadline clock starts)."""
    if request.closed_at is None:
        return "open"
    if request.deadline is None:
        return "n/a"
    return "yes" if request.closed_at <= request.deadline else "no"


def erasure_request_register_rows(requests: QuerySet[ErasureRequest]) -> Iterator[tuple[str, ...]]:
    """The rows (REQUEST_REGISTER_COLUMNS) of `erasure_request_register`'s requests, read in
    chunks so memory stays flat."""
    for request in requests.iterator(chunk_size=CHUNK):
        considered = (request.rules or {}).get("considered") or []
        yield (
            str(request.id),
            request.channel,
            request.subject_country,
            _time(request.received_at),
            _time(request.verified_at),
            _time(request.deadline),
            _time(request.closed_at),
            request.state,
            days_taken(request),
            met_deadline(request),
            " ".join(sorted(considered)),
            str(request.target_count),
            str(request.closing_receipt_id or ""),
        )
