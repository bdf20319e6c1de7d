"""Writes of the consent registry: subjects, purposes, notices and consent events."""

import hashlib
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from django.db import IntegrityError, connection, transaction
from django.db.models import Max
from django.utils import timezone

from consent import cache as answer_cache
from consent.inputs import EventInput, InvalidEvent, NoticeRef, SubjectRef, subject_from_key
from consent.models import (
    ConsentEvent,
    ConsentState,
    LegalBasis,
    Notice,
    Purpose,
    Status,
    Subject,
    SubjectIdentifier,
)
from consent.signals import consent_withdrawn
from consent.taxonomy import AI_PURPOSES, data_uses
from core import bulk
from core.errors import ApplicationError, Conflict, NotFound
from ledger import selectors as ledger_selectors
from ledger.models import Receipt
from ledger.services import checkpoint_for, receipts_issue, subject_commitment, utc_time

log = structlog.get_logger(__name__)

BATCH = 5000


@dataclass
class LineError:
    line: int
    field: str
    code: str


class EventsRejected(ApplicationError):
    """Some events were invalid, so none was written. The report names lines, never values."""

    code = "import_rejected"
    max_reported = 100

    def __init__(self, errors: list[LineError]):
        errors = sorted(errors, key=lambda e: e.line)
        shown = errors[: self.max_reported]
        super().__init__(
            f"{len(errors)} line(s) are invalid; nothing was imported.",
            fields={
                "error_count": len(errors),
                "lines": [{"line": e.line, "field": e.field, "code": e.code} for e in shown],
            },
        )


@dataclass
class RecordResult:
    events: list[ConsentEvent]
    receipts: list[Receipt] = field(default_factory=list)  # one per event, same order
    subjects_created: int = 0
    withdrawn: dict[uuid.UUID, list[ConsentEvent]] = field(default_factory=dict)


# --- purposes and notices -------------------------------------------------------------------


def purposes_sync_taxonomy() -> int:
    """Load fideslang's data uses and Lup's AI purposes (idempotent); returns how many were
    added. Migration 0003 loads the same on a new database."""
    added = 0
    with transaction.atomic():
        for key, parent_key, name, description in data_uses():
            parent = Purpose.objects.get(key=parent_key) if parent_key else None
            _, created = Purpose.objects.get_or_create(
                key=key, defaults={"parent": parent, "name": name, "description": description}
            )
            added += created
        for key, parent_key, name, description in AI_PURPOSES:
            _, created = Purpose.objects.get_or_create(
                key=key,
                defaults={
                    "parent": Purpose.objects.get(key=parent_key),
                    "name": name,
                    "description": description,
                    "is_custom": True,
                },
            )
            added += created
        transaction.on_commit(answer_cache.forget_purpose_tree)
    return added


def purpose_create(*, key: str, parent_key: str, name: str, description: str = "") -> Purpose:
    """A custom purpose below an existing one, e.g. `train_ai_system.evaluation`."""
    parent = Purpose.objects.filter(key=parent_key).first()
    if parent is None:
        raise NotFound("No such parent purpose.", code="unknown_purpose")
    segment = key.removeprefix(parent_key + ".")
    if (
        segment == key
        or not segment
        or not all(c.islower() or c.isdigit() or c == "_" for c in segment)
    ):
        raise ApplicationError(
            "A custom purpose key is its parent's key, a dot, and one lower-case word.",
            code="invalid_purpose_key",
            fields={"key": "invalid_purpose_key"},
        )
    try:
        with transaction.atomic():
            purpose = Purpose.objects.create(
                key=key,
                parent=parent,
                name=name or segment,
                description=description,
                is_custom=True,
            )
    except IntegrityError:
        raise Conflict("That purpose exists.", code="purpose_exists") from None
    transaction.on_commit(answer_cache.forget_purpose_tree)
    return purpose


def notice_digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def notice_publish(
    *, key: str, language: str, title: str, text: str, version: int | None = None
) -> Notice:
    """Publish a notice text. Versions are immutable: a change is a new version."""
    with transaction.atomic():
        if version is None:
            latest = Notice.objects.filter(key=key).aggregate(v=Max("version"))["v"]
            version = (latest or 0) + 1
            # A version may be given up to the column's bound; the next one does not exist.
            field = Notice._meta.get_field("version").get_internal_type()
            if version > connection.ops.integer_field_range(field)[1]:
                raise Conflict(
                    "The latest version of this notice is the last number there is; publish "
                    "the new text under a new key.",
                    code="notice_versions_exhausted",
                )
        if Notice.objects.filter(key=key, version=version, language=language).exists():
            raise Conflict(
                "That notice version exists in that language; publish a new version.",
                code="notice_exists",
            )
        return Notice.objects.create(
            key=key,
            version=version,
            language=language,
            title=title,
            text=text,
            digest=notice_digest(text),
        )


# --- subjects -------------------------------------------------------------------------------


def subject_link(*, subject: SubjectRef, identifier: SubjectRef) -> Subject:
    """Add `identifier` to the subject known by `subject`.

    Events are append-only and name their subject, so two subjects that both exist are never
    merged: linking an identifier that already belongs to another subject is refused.
    """
    with transaction.atomic():
        owner = SubjectIdentifier.objects.filter(key=subject.key).select_related("subject").first()
        if owner is None:
            raise NotFound("No such subject.", code="unknown_subject")
        existing = SubjectIdentifier.objects.filter(key=identifier.key).first()
        if existing is not None:
            if existing.subject_id == owner.subject_id:
                return owner.subject
            raise Conflict("That identifier belongs to another subject.", code="identifier_in_use")
        if identifier.id_type is None:
            raise ApplicationError(
                "Link an identifier by type and value, not by key.", code="identifier_required"
            )
        SubjectIdentifier.objects.create(
            key=identifier.key, id_type=identifier.id_type, subject=owner.subject
        )
    return owner.subject


def _subject_ids(keys: Sequence[str]) -> dict[str, uuid.UUID]:
    found: dict[str, uuid.UUID] = {}
    for start in range(0, len(keys), BATCH):
        found.update(
            SubjectIdentifier.objects.filter(key__in=keys[start : start + BATCH]).values_list(
                "key", "subject_id"
            )
        )
    return found


def _subjects_for(refs: Iterable[SubjectRef], *, create: bool) -> tuple[dict[str, uuid.UUID], int]:
    """Map subject keys to subject ids, creating subjects for new identifiers."""
    wanted = {ref.key: ref for ref in refs}
    found = _subject_ids(list(wanted))
    missing = [wanted[k] for k in wanted if k not in found and wanted[k].id_type is not None]
    if not create or not missing:
        return found, 0
    subjects = [Subject() for _ in missing]
    bulk.insert(Subject, subjects)
    new_identifiers = [
        SubjectIdentifier(key=ref.key, id_type=ref.id_type, subject=subject)
        for ref, subject in zip(missing, subjects, strict=True)
    ]
    try:
        with transaction.atomic():
            bulk.insert(SubjectIdentifier, new_identifiers)
    except IntegrityError:
        pass
    else:
        found.update((ref.key, subject.id) for ref, subject in zip(missing, subjects, strict=True))
        return found, len(subjects)
    # A concurrent call created some of the same identifiers: theirs win, and the subjects
    # made here for them are removed.
    for identifier in new_identifiers:
        identifier.pk = None
    SubjectIdentifier.objects.bulk_create(new_identifiers, batch_size=BATCH, ignore_conflicts=True)
    created_ids = {subject.id for subject in subjects}
    found.update(_subject_ids([ref.key for ref in missing]))
    orphans = created_ids - set(found.values())
    if orphans:
        Subject.objects.filter(id__in=orphans).delete()
    return found, len(created_ids) - len(orphans)


# --- consent events -------------------------------------------------------------------------


def _notices(refs: set[NoticeRef]) -> dict[NoticeRef, Notice]:
    if not refs:
        return {}
    keys = {ref.key for ref in refs}
    found: dict[NoticeRef, Notice] = {}
    for notice in Notice.objects.filter(key__in=keys).only(
        "id", "key", "version", "language", "digest"
    ):
        ref = NoticeRef(notice.key, notice.version, notice.language)
        if ref in refs:
            found[ref] = notice
    return found


@dataclass
class References:
    purposes: dict[str, int]
    notices: dict[NoticeRef, Notice]
    errors: list[LineError]


def consent_references_check(*, events: Sequence[EventInput], lines: Sequence[int]) -> References:
    """Resolve the purposes and notices events name, and find references to nothing (including
    subject keys nobody has registered). Writes nothing."""
    purposes = dict(
        Purpose.objects.filter(key__in={e.purpose_key for e in events}).values_list("key", "id")
    )
    notices = _notices({e.notice for e in events if e.notice is not None})
    by_key = [e.subject for e in events if e.subject.id_type is None]
    known_keys, _ = _subjects_for(by_key, create=False)
    errors: list[LineError] = []
    for line, event in zip(lines, events, strict=True):
        if event.purpose_key not in purposes:
            errors.append(LineError(line, "purpose", "unknown_purpose"))
        if event.notice is not None and event.notice not in notices:
            errors.append(LineError(line, "notice", "unknown_notice"))
        if event.subject.id_type is None and event.subject.key not in known_keys:
            errors.append(LineError(line, "subject", "unknown_subject"))
    return References(purposes=purposes, notices=notices, errors=errors)


def consent_events_record(
    *, events: Sequence[EventInput], lines: Sequence[int] | None = None
) -> RecordResult:
    """Record consent events, all or none, and bring the current state up to date.

    Every reference is checked before anything is written; a rejection raises `EventsRejected`
    (or, for a single event, the `InvalidEvent` that names its field).
    """
    lines = lines or list(range(1, len(events) + 1))
    with transaction.atomic():
        refs = consent_references_check(events=events, lines=lines)
        if refs.errors:
            if len(events) == 1:
                only = refs.errors[0]
                raise InvalidEvent(only.field, only.code, f"The {only.field} is not known.")
            raise EventsRejected(refs.errors)
        purposes, notices = refs.purposes, refs.notices
        subject_ids, created = _subjects_for((e.subject for e in events), create=True)
        receipts = receipts_issue(
            bodies=[_receipt_body(e, notices.get(e.notice) if e.notice else None) for e in events]
        )

        rows = [
            ConsentEvent(
                subject_id=subject_ids[e.subject.key],
                purpose_id=purposes[e.purpose_key],
                status=e.status,
                legal_basis=e.legal_basis,
                jurisdiction=e.jurisdiction,
                notice_id=notices[e.notice].id if e.notice else None,
                method=e.method,
                event_time=e.event_time,
                expires_at=e.expires_at,
                data_categories=list(e.data_categories),
                receipt_id=receipt.receipt_id,
            )
            for e, receipt in zip(events, receipts, strict=True)
        ]
        bulk.insert(ConsentEvent, rows)
        _project(rows)

        touched = {row.subject_id for row in rows}
        withdrawn: dict[uuid.UUID, list[ConsentEvent]] = defaultdict(list)
        for row in rows:
            if row.status != Status.GIVEN:
                withdrawn[row.subject_id].append(row)
        purpose_keys = {pid: key for key, pid in purposes.items()}
        transaction.on_commit(lambda: answer_cache.invalidate_subjects(touched))
        for subject_id, subject_rows in withdrawn.items():
            transaction.on_commit(
                lambda s=subject_id, r=subject_rows: on_consent_withdrawn(
                    subject_id=s,
                    purpose_keys=sorted({purpose_keys[x.purpose_id] for x in r}),
                    event_ids=[x.id for x in r],
                )
            )
    log.info("consent.events_recorded", count=len(rows), subjects_created=created)
    return RecordResult(
        events=rows, receipts=receipts, subjects_created=created, withdrawn=dict(withdrawn)
    )


def consent_withdraw_all(*, keys: Sequence[str], jurisdiction: str, method: str) -> int:
    """Withdraw every consent the subjects of `keys` have given, each withdrawal a consent event
    with its receipt (after an erasure, so nothing re-collects what was just deleted)."""
    by_subject = dict(
        SubjectIdentifier.objects.filter(key__in=list(keys)).values_list("subject_id", "key")
    )
    given = ConsentState.objects.filter(
        subject_id__in=by_subject, status=Status.GIVEN
    ).select_related("purpose")
    now = timezone.now()
    events = [
        EventInput(
            subject=subject_from_key(by_subject[state.subject_id]),
            purpose_key=state.purpose.key,
            status=Status.WITHDRAWN,
            legal_basis="consent",
            jurisdiction=jurisdiction,
            notice=None,
            method=method,
            event_time=now,
            expires_at=None,
            data_categories=(),
        )
        for state in given
    ]
    if events:
        consent_events_record(events=events)
    return len(events)


def _receipt_body(event: EventInput, notice: Notice | None) -> dict:
    """The consent receipt of an event: what, under which rule and notice; never who."""
    consent = {
        "purpose": event.purpose_key,
        "status": event.status,
        "legal_basis": event.legal_basis,
        "jurisdiction": event.jurisdiction,
        "method": event.method,
        "event_time": utc_time(event.event_time),
    }
    if notice is not None:
        consent["notice"] = {
            "id": f"{notice.key}/{notice.language}",
            "version": str(notice.version),
            "digest": notice.digest,
        }
    return {"type": "consent", "subject": {"commit": event.subject.commit}, "consent": consent}


def on_consent_withdrawn(*, subject_id: uuid.UUID, purpose_keys: list[str], event_ids: list[int]):
    """Tell subscribers (erasure, receipts) that a subject withdrew or refused purposes.

    Called after the events committed; subscribers connect to `consent.signals.consent_withdrawn`.
    """
    log.debug("consent.withdrawn", purposes=purpose_keys, events=len(event_ids))
    consent_withdrawn.send(
        sender=ConsentEvent, subject_id=subject_id, purpose_keys=purpose_keys, event_ids=event_ids
    )


def _latest_per_pair(rows: Iterable[ConsentEvent]) -> list[ConsentEvent]:
    latest: dict[tuple, ConsentEvent] = {}
    for row in rows:
        pair = (row.subject_id, row.purpose_id)
        current = latest.get(pair)
        if current is None or (row.event_time, row.id) > (current.event_time, current.id):
            latest[pair] = row
    return list(latest.values())


def _project(rows: Iterable[ConsentEvent]) -> None:
    """Move each (subject, purpose) state to the newest of its events, in one statement per
    batch. The WHERE makes it safe under concurrent writers and with events that arrive late:
    an older event never replaces a newer state."""
    state = ConsentState._meta
    table = connection.ops.quote_name(state.db_table)
    latest = _latest_per_pair(rows)
    postgres = connection.vendor == "postgresql"
    # PostgreSQL takes a whole batch as arrays in one statement; SQLite, one row at a time.
    source = (
        "SELECT * FROM unnest(%s::uuid[], %s::bigint[], %s::bigint[], %s::varchar[], "
        "%s::timestamptz[], %s::timestamptz[])"
        if postgres
        else "VALUES (%s, %s, %s, %s, %s, %s)"
    )
    # Only the table name is interpolated, from the model's own metadata; values are bound.
    sql = (
        f"INSERT INTO {table} (subject_id, purpose_id, event_id, status, event_time, expires_at) "
        f"{source} "
        "ON CONFLICT (subject_id, purpose_id) DO UPDATE SET "
        "event_id = excluded.event_id, status = excluded.status, "
        "event_time = excluded.event_time, expires_at = excluded.expires_at "
        f"WHERE excluded.event_time > {table}.event_time OR "
        f"(excluded.event_time = {table}.event_time AND excluded.event_id > {table}.event_id)"
    )
    if postgres:
        with connection.cursor() as cursor:
            for start in range(0, len(latest), BATCH * 10):
                batch = latest[start : start + BATCH * 10]
                cursor.execute(
                    sql,
                    [
                        [row.subject_id for row in batch],
                        [row.purpose_id for row in batch],
                        [row.id for row in batch],
                        [row.status for row in batch],
                        [row.event_time for row in batch],
                        [row.expires_at for row in batch],
                    ],
                )
        return
    subject_field = state.get_field("subject").target_field
    time_field = state.get_field("event_time")
    params = [
        (
            subject_field.get_db_prep_value(row.subject_id, connection),
            row.purpose_id,
            row.id,
            row.status,
            time_field.get_db_prep_value(row.event_time, connection),
            time_field.get_db_prep_value(row.expires_at, connection),
        )
        for row in latest
    ]
    with connection.cursor() as cursor:
        for start in range(0, len(params), BATCH):
            cursor.executemany(sql, params[start : start + BATCH])


def consent_state_rebuild(*, subject_ids: Iterable[uuid.UUID] | None = None) -> int:
    """Recompute the current state from the events; returns the number of state rows."""
    with transaction.atomic():
        states = ConsentState.objects.all()
        events = ConsentEvent.objects.all()
        if subject_ids is not None:
            subject_ids = list(subject_ids)
            states = states.filter(subject_id__in=subject_ids)
            events = events.filter(subject_id__in=subject_ids)
        states.delete()
        latest: dict[tuple, tuple] = {}
        fields = ("id", "subject_id", "purpose_id", "status", "event_time", "expires_at")
        for row in events.order_by("event_time", "id").values_list(*fields).iterator(10000):
            latest[(row[1], row[2])] = row
        ConsentState.objects.bulk_create(
            (
                ConsentState(
                    event_id=row[0],
                    subject_id=row[1],
                    purpose_id=row[2],
                    status=row[3],
                    event_time=row[4],
                    expires_at=row[5],
                )
                for row in latest.values()
            ),
            batch_size=BATCH,
        )
        touched = {pair[0] for pair in latest}
        transaction.on_commit(lambda: answer_cache.invalidate_subjects(touched))
    return len(latest)


# --- the subject's own changes (the subject pages) --------------------------------------------


def consent_event_record_receipted(*, event: EventInput) -> tuple[ConsentEvent, dict[str, Any]]:
    """Record one event and sign a checkpoint that includes its receipt, so the receipt is
    handed out at once with its inclusion proof (for the caller who recorded it)."""
    result = consent_events_record(events=[event])
    receipt = result.receipts[0]
    checkpoint = checkpoint_for(index=receipt.leaf_index)
    return result.events[0], ledger_selectors.receipt_document(receipt, checkpoint=checkpoint)


def consent_portal_change(
    *,
    subject_key: str,
    id_type: str,
    purpose_key: str,
    status: str,
    jurisdiction: str,
    notice_key: str,
    language: str,
    at,
) -> dict[str, str]:
    """A verified subject gives or withdraws consent on their own page, under the notice they
    were shown (in their language when published in it). Returns the receipt's id."""
    from consent.selectors import notice_for_language

    commit, opening = subject_commitment(id_type="key", normalized=subject_key)
    notice = notice_for_language(key=notice_key, language=language)
    event = EventInput(
        subject=SubjectRef(subject_key, id_type, commit, opening),
        purpose_key=purpose_key,
        status=status,
        legal_basis=LegalBasis.CONSENT,
        jurisdiction=jurisdiction,
        notice=NoticeRef(notice.key, notice.version, notice.language) if notice else None,
        method="subject_portal",
        event_time=at,
        expires_at=None,
        data_categories=(),
    )
    # Signed now: the page offers the receipt, with its proof, for download at once.
    recorded, _ = consent_event_record_receipted(event=event)
    return {
        "receipt_id": str(recorded.receipt_id),
        "purpose": purpose_key,
        "status": status,
    }
