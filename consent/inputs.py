"""Validation of consent events as they arrive, one at a time or a million in an import.

Plain functions rather than serializers: an import validates every line before it writes any,
and this path is the import's cost. Errors carry a stable code and a field name, never the
offending value (it may be an identifier).
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pycountry
from django.utils.dateparse import parse_datetime

from consent.models import LegalBasis, Status
from consent.taxonomy import data_categories
from core import subject_keys as keys
from core.errors import ApplicationError
from ledger.services import Opening, subject_commitment

METHOD = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
# Clocks differ; an event a little ahead of ours is accepted, one from tomorrow is not.
FUTURE_TOLERANCE = timedelta(minutes=5)
STATUSES = frozenset(Status.values)
LEGAL_BASES = frozenset(LegalBasis.values)


class InvalidEvent(ApplicationError):
    def __init__(self, field: str, code: str, detail: str):
        super().__init__(detail, fields={field: code}, code=code)
        self.field = field


@dataclass(frozen=True, slots=True)
class SubjectRef:
    """A subject as the caller named it: by identifier (hashed here) or by key.

    `commit` is the receipts' hiding commitment to the identifier as given, and `opening`
    what opens it; the opening is handed to the caller once and never stored.
    """

    key: str
    id_type: str | None  # None when the caller gave a key
    commit: str
    opening: Opening


def subject_from_identifier(identifier: keys.Identifier) -> SubjectRef:
    commit, opening = subject_commitment(
        id_type=identifier.id_type, normalized=identifier.normalized
    )
    return SubjectRef(keys.subject_key(identifier), identifier.id_type, commit, opening)


def subject_from_key(key: str) -> SubjectRef:
    """A subject named only by its key: the commitment is to `key:<subject key>`, which the
    operator can give the subject, since nobody holds the identifier here."""
    commit, opening = subject_commitment(id_type="key", normalized=key)
    return SubjectRef(key, None, commit, opening)


@dataclass(frozen=True, slots=True)
class NoticeRef:
    key: str
    version: int
    language: str


@dataclass(frozen=True, slots=True)
class EventInput:
    subject: SubjectRef
    purpose_key: str
    status: str
    legal_basis: str
    jurisdiction: str
    notice: NoticeRef | None
    method: str
    event_time: datetime
    expires_at: datetime | None
    data_categories: tuple[str, ...]


def subject_ref(data: Any) -> SubjectRef:
    """`{"id_type": "email", "value": "…"}` or `{"key": "<64 hex>"}`."""
    if not isinstance(data, dict):
        raise InvalidEvent("subject", "invalid_subject", "subject must be an object.")
    try:
        if "key" in data:
            return subject_from_key(keys.validate_subject_key(data["key"]))
        identifier = keys.normalize(data.get("id_type"), data.get("value"))
    except keys.InvalidIdentifier as exc:
        raise InvalidEvent("subject", exc.code, exc.detail) from None
    return subject_from_identifier(identifier)


def _choice(data: dict, field: str, allowed: frozenset[str]) -> str:
    value = data.get(field)
    if not isinstance(value, str) or value not in allowed:
        raise InvalidEvent(field, f"invalid_{field}", f"{field} must be one of {sorted(allowed)}.")
    return value


def _time(data: dict, field: str, *, required: bool) -> datetime | None:
    value = data.get(field)
    if value in (None, ""):
        if required:
            raise InvalidEvent(field, f"missing_{field}", f"{field} is required.")
        return None
    parsed = parse_datetime(value) if isinstance(value, str) else None
    if parsed is None or parsed.tzinfo is None or not _in_utc_range(parsed):
        raise InvalidEvent(
            field, f"invalid_{field}", f"{field} must be an RFC 3339 time with a time zone."
        )
    return parsed


def _in_utc_range(moment: datetime) -> bool:
    """Whether the time is in years 1 to 9999 in UTC too (0001-01-01T00:00+14:00 is not), as
    receipts and the database write it."""
    try:
        moment.astimezone(UTC)
    except OverflowError:
        return False
    return True


def jurisdiction_code(value: Any) -> str:
    if not isinstance(value, str) or len(value) != 2 or not value.isupper():
        raise InvalidEvent(
            "jurisdiction", "invalid_jurisdiction", "jurisdiction is an ISO 3166-1 alpha-2 code."
        )
    if pycountry.countries.get(alpha_2=value) is None:
        raise InvalidEvent(
            "jurisdiction", "invalid_jurisdiction", "jurisdiction is an ISO 3166-1 alpha-2 code."
        )
    return value


def _notice(data: dict) -> NoticeRef | None:
    value = data.get("notice")
    if value in (None, ""):
        return None
    if not isinstance(value, dict):
        raise InvalidEvent("notice", "invalid_notice", "notice is {key, version, language}.")
    version = value.get("version")
    if isinstance(version, str) and version.isdigit():
        version = int(version)
    if (
        not isinstance(value.get("key"), str)
        or not isinstance(version, int)
        or isinstance(version, bool)
        or not isinstance(value.get("language"), str)
    ):
        raise InvalidEvent("notice", "invalid_notice", "notice is {key, version, language}.")
    return NoticeRef(key=value["key"], version=version, language=value["language"])


def _categories(data: dict) -> tuple[str, ...]:
    value = data.get("data_categories") or []
    known = data_categories()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidEvent(
            "data_categories", "invalid_data_categories", "data_categories is a list of keys."
        )
    unknown = [item for item in value if item not in known]
    if unknown:
        raise InvalidEvent(
            "data_categories",
            "unknown_data_category",
            "data_categories holds keys that are not fideslang data categories.",
        )
    return tuple(sorted(set(value)))


def event_input(data: Any, *, now: datetime, default_method: str) -> EventInput:
    """Validate one event's shape and values; references (purpose, notice) are checked later."""
    if not isinstance(data, dict):
        raise InvalidEvent("event", "invalid_event", "An event is a JSON object.")
    subject = subject_ref(data.get("subject"))
    purpose = data.get("purpose")
    if not isinstance(purpose, str) or not purpose:
        raise InvalidEvent("purpose", "missing_purpose", "purpose is required.")
    status = _choice(data, "status", STATUSES)
    legal_basis = _choice(data, "legal_basis", LEGAL_BASES)
    jurisdiction = jurisdiction_code(data.get("jurisdiction"))
    notice = _notice(data)
    if notice is None and status == Status.GIVEN and legal_basis == LegalBasis.CONSENT:
        raise InvalidEvent(
            "notice", "notice_required", "Consent given must name the notice the subject saw."
        )
    method = data.get("method") or default_method
    if not isinstance(method, str) or not METHOD.match(method):
        raise InvalidEvent("method", "invalid_method", "method is a short lower-case word.")
    event_time = _time(data, "event_time", required=False) or now
    if event_time > now + FUTURE_TOLERANCE:
        raise InvalidEvent("event_time", "event_in_future", "event_time is in the future.")
    expires_at = _time(data, "expires_at", required=False)
    if expires_at is not None and expires_at <= event_time:
        raise InvalidEvent("expires_at", "invalid_expires_at", "expires_at must follow event_time.")
    return EventInput(
        subject=subject,
        purpose_key=purpose,
        status=status,
        legal_basis=legal_basis,
        jurisdiction=jurisdiction,
        notice=notice,
        method=method,
        event_time=event_time,
        expires_at=expires_at,
        data_categories=_categories(data),
    )
