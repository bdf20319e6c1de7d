"""Reads of the consent registry. Nothing here writes, except to the answer cache."""

import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.cache import cache as django_cache
from django.db import connection
from django.db.models import QuerySet

from consent import cache as answer_cache
from consent import clock
from consent.decisions import Decision, StateRow, decide
from consent.inputs import SubjectRef
from consent.models import (
    ConsentEvent,
    ConsentState,
    Notice,
    Purpose,
    Status,
    SubjectIdentifier,
)
from core.errors import ApplicationError, NotFound
from ledger import selectors as ledger_selectors

# Keys decided per query. Large batches amortize PostgreSQL's hash join over the identifier
# table (bench/consent.py); SQLite takes them in slices under its bound-parameter limit.
FILTER_BATCH = 100_000
SQLITE_SLICE = 5000


@dataclass(frozen=True)
class PurposeTree:
    ids: dict[str, int]
    parents: dict[int, int | None]
    keys: dict[int, str]

    def chain(self, purpose_key: str) -> list[int]:
        """The purpose's id, then its ancestors' ids, nearest first."""
        purpose_id = self.ids.get(purpose_key)
        if purpose_id is None:
            raise NotFound(
                "No such purpose.", code="unknown_purpose", fields={"purpose": "unknown"}
            )
        chain = [purpose_id]
        while (parent := self.parents.get(chain[-1])) is not None:
            chain.append(parent)
        return chain


def purpose_tree(rows: list | None = None) -> PurposeTree:
    """The purpose tree, from `rows` when the caller fetched them from the cache already."""
    if rows is None:
        rows = django_cache.get(answer_cache.PURPOSE_TREE)
    if rows is None:
        rows = list(Purpose.objects.values_list("id", "key", "parent_id"))
        django_cache.set(answer_cache.PURPOSE_TREE, rows, timeout=None)
    return PurposeTree(
        ids={key: pid for pid, key, _ in rows},
        parents={pid: parent for pid, _, parent in rows},
        keys={pid: key for pid, key, _ in rows},
    )


# --- subjects -------------------------------------------------------------------------------


def access_subject_id(*, key: str) -> uuid.UUID:
    """The subject holding this identifier key. One answer for "no such key" whatever the
    reason, so the API cannot be used to learn more than that."""
    cached = django_cache.get(answer_cache.identifier_subject_key(key))
    if cached is not None:
        return uuid.UUID(cached)
    return _stored_subject_id(key)


def _stored_subject_id(key: str) -> uuid.UUID:
    """access_subject_id's answer from the database, for a key the cache does not hold."""
    subject_id = SubjectIdentifier.objects.filter(key=key).values_list("subject_id", flat=True)
    subject_id = subject_id.first()
    if subject_id is None:
        raise NotFound("No such subject.", code="unknown_subject")
    django_cache.set(answer_cache.identifier_subject_key(key), str(subject_id), timeout=None)
    return subject_id


def subject_identifiers(*, subject_id: uuid.UUID) -> list[dict[str, str]]:
    return [
        {"id_type": id_type, "key": key}
        for id_type, key in SubjectIdentifier.objects.filter(subject_id=subject_id)
        .order_by("created_at", "id")
        .values_list("id_type", "key")
    ]


def subject_states(*, subject_id: uuid.UUID) -> list[ConsentState]:
    return list(
        ConsentState.objects.filter(subject_id=subject_id)
        .select_related("purpose", "event", "event__notice")
        .order_by("purpose__key")
    )


def subject_history(*, subject_id: uuid.UUID) -> list[ConsentEvent]:
    return list(
        ConsentEvent.objects.filter(subject_id=subject_id)
        .select_related("purpose", "notice")
        .order_by("event_time", "id")
    )


# --- checks ---------------------------------------------------------------------------------


def _event_summary(event: ConsentEvent, purpose_key: str) -> dict[str, Any]:
    notice = event.notice
    return {
        "event_id": event.id,
        "purpose": purpose_key,
        "status": event.status,
        "legal_basis": event.legal_basis,
        "jurisdiction": event.jurisdiction,
        "method": event.method,
        "event_time": event.event_time.isoformat(),
        "expires_at": event.expires_at.isoformat() if event.expires_at else None,
        "notice": (
            {
                "key": notice.key,
                "version": notice.version,
                "language": notice.language,
                "digest": notice.digest,
            }
            if notice
            else None
        ),
    }


def consent_check(*, subject: SubjectRef, purpose_key: str) -> dict[str, Any]:
    """May this subject's data be used for this purpose now? With the deciding event."""
    cached = answer_cache.cached_check(subject.key, purpose_key)
    tree = purpose_tree(cached.tree)
    chain = tree.chain(purpose_key)
    now = clock.now()
    if cached.answer is not None and _still_valid(cached.answer, now):
        return cached.answer
    try:
        # The cache was read for the subject already: a miss goes to the database.
        subject_id = (
            uuid.UUID(cached.subject_id) if cached.subject_id else _stored_subject_id(subject.key)
        )
    except NotFound:
        return {
            "allowed": False,
            "purpose": purpose_key,
            "reason": "no_consent",
            "decided_by": None,
        }
    # Read before the states: an event committed after this replaced it, so an answer
    # computed from the states before that event is cached under a token nobody uses.
    token = cached.token or answer_cache.new_token(subject.key)

    states = {
        state.purpose_id: state
        for state in ConsentState.objects.filter(
            subject_id=subject_id, purpose_id__in=chain
        ).select_related("event", "event__notice")
    }
    decision = decide(chain, {pid: _row(state) for pid, state in states.items()}, now)
    answer: dict[str, Any] = {
        "allowed": decision.allowed,
        "purpose": purpose_key,
        "reason": decision.reason,
        "decided_by": (
            _event_summary(
                states[decision.state.purpose_id].event, tree.keys[decision.state.purpose_id]
            )
            if decision.state
            else None
        ),
    }
    expiry = decision.state.expires_at if decision.allowed and decision.state else None
    answer_cache.put(
        subject.key,
        token,
        purpose_key,
        answer,
        max_seconds=(expiry - now).total_seconds() if expiry else None,
    )
    return answer


def _still_valid(answer: dict[str, Any], now: datetime) -> bool:
    expires = (answer.get("decided_by") or {}).get("expires_at")
    return not (answer["allowed"] and expires and datetime.fromisoformat(expires) <= now)


def _row(state: ConsentState) -> StateRow:
    return StateRow(
        purpose_id=state.purpose_id,
        event_id=state.event_id,
        status=state.status,
        event_time=state.event_time,
        expires_at=state.expires_at,
    )


def consent_filter_keys(*, keys: Iterable[str], purpose_key: str) -> Iterator[tuple[str, Decision]]:
    """Decide a batch of subject keys; yields (key, decision) for keys that have any state.

    One query per batch: the keys' states for the purpose and its ancestors, joined through
    the identifier table, so a million keys cost a few hundred queries, not a million.
    """
    chain = purpose_tree().chain(purpose_key)
    now = clock.now()
    key_list = list(keys)
    for start in range(0, len(key_list), FILTER_BATCH):
        batch = key_list[start : start + FILTER_BATCH]
        per_key: dict[str, dict[int, StateRow]] = {}
        for key, purpose_id, event_id, status, event_time, expires_at in _states_of_keys(
            batch, chain
        ):
            per_key.setdefault(key, {})[purpose_id] = StateRow(
                purpose_id, event_id, status, event_time, expires_at
            )
        for key, states in per_key.items():
            yield key, decide(chain, states, now)


def _states_of_keys(batch: list[str], chain: list[int]) -> Iterable[tuple]:
    if connection.vendor != "postgresql":
        return [
            row
            for start in range(0, len(batch), SQLITE_SLICE)
            for row in ConsentState.objects.filter(
                subject__identifiers__key__in=batch[start : start + SQLITE_SLICE],
                purpose_id__in=chain,
            ).values_list(
                "subject__identifiers__key",
                "purpose_id",
                "event_id",
                "status",
                "event_time",
                "expires_at",
            )
        ]
    # On PostgreSQL the batch travels as one array parameter, not thousands of placeholders.
    with connection.cursor() as cursor:
        cursor.execute(_STATES_OF_KEYS_SQL, [batch, chain])
        return cursor.fetchall()


_STATES_OF_KEYS_SQL = """
SELECT si.key, cs.purpose_id, cs.event_id, cs.status, cs.event_time, cs.expires_at
FROM unnest(%s::varchar[]) AS wanted(key)
JOIN consent_subjectidentifier si ON si.key = wanted.key
JOIN consent_consentstate cs ON cs.subject_id = si.subject_id
WHERE cs.purpose_id = ANY(%s)
"""


def validate_purpose(purpose_key: Any) -> str:
    if not isinstance(purpose_key, str) or not purpose_key:
        raise ApplicationError("purpose is required.", code="missing_purpose")
    purpose_tree().chain(purpose_key)
    return purpose_key


# --- the subject pages ------------------------------------------------------------------------


def notice_for_language(*, key: str, language: str) -> Notice | None:
    """The latest version of a notice in `language`, else in English, else any language."""
    versions = Notice.objects.filter(key=key).order_by("-version")
    latest = versions.first()
    if latest is None:
        return None
    same = versions.filter(version=latest.version)
    return same.filter(language=language).first() or same.filter(language="en").first() or latest


def consent_portal_view(
    *, subject_key: str, purpose_keys: list[str], notice_key: str, language: str
) -> dict[str, Any]:
    """What a verified subject sees: the notice in their language and, for each purpose the
    operator offers, its current state (None when the subject never chose)."""
    purposes = {p.key: p for p in Purpose.objects.filter(key__in=purpose_keys)}
    states: dict[str, ConsentState] = {}
    found = (
        SubjectIdentifier.objects.filter(key=subject_key)
        .values_list("subject_id", flat=True)
        .first()
    )
    if found is not None:
        states = {s.purpose.key: s for s in subject_states(subject_id=found)}
    return {
        "notice": notice_for_language(key=notice_key, language=language),
        "purposes": [
            {
                "key": key,
                "name": purposes[key].name,
                "status": states[key].status if key in states else None,
                "since": states[key].event_time if key in states else None,
                "receipt_id": states[key].event.receipt_id if key in states else None,
            }
            for key in purpose_keys
            if key in purposes
        ],
    }


def subject_receipt_document(*, subject_key: str, receipt_id) -> dict[str, Any] | None:
    """The receipt of one of this subject's consent events, with its proof; None otherwise."""
    event = ConsentEvent.objects.filter(
        receipt_id=receipt_id, subject__identifiers__key=subject_key
    ).first()
    if event is None:
        return None
    receipt = ledger_selectors.receipt_get(receipt_id=event.receipt_id)
    return ledger_selectors.receipt_document(receipt)


def subject_jurisdictions(*, keys: Iterable[str]) -> dict[str, str]:
    """The jurisdiction of each key's latest consent event (any purpose); keys whose subject
    has no event are left out."""
    key_list = list(dict.fromkeys(keys))
    if connection.vendor == "postgresql":
        # One query, the keys as one array parameter (as consent_filter_keys does).
        with connection.cursor() as cursor:
            cursor.execute(_LATEST_JURISDICTION_SQL, [key_list])
            return dict(cursor.fetchall())
    latest: dict[str, tuple] = {}
    for start in range(0, len(key_list), SQLITE_SLICE):
        rows = ConsentEvent.objects.filter(
            subject__identifiers__key__in=key_list[start : start + SQLITE_SLICE]
        ).values_list("subject__identifiers__key", "event_time", "id", "jurisdiction")
        for key, event_time, event_id, jurisdiction in rows:
            if key not in latest or (event_time, event_id) > latest[key][:2]:
                latest[key] = (event_time, event_id, jurisdiction)
    return {key: found[2] for key, found in latest.items()}


_LATEST_JURISDICTION_SQL = """
SELECT DISTINCT ON (wanted.key) wanted.key, ce.jurisdiction
FROM unnest(%s::varchar[]) AS wanted(key)
JOIN consent_subjectidentifier si ON si.key = wanted.key
JOIN consent_consentevent ce ON ce.subject_id = si.subject_id
ORDER BY wanted.key, ce.event_time DESC, ce.id DESC
"""


def consent_withdrawals_since(*, since: datetime) -> QuerySet[ConsentEvent]:
    return ConsentEvent.objects.filter(status=Status.WITHDRAWN, recorded_at__gte=since)
