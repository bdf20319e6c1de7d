"""Writes of erasure requests: intake, the state machine with its audit trail, and shredding."""

import hashlib
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from datetime import datetime, timedelta
from typing import Any

import structlog
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from core import bulk, subject_keys
from core.errors import ApplicationError, Conflict
from erasure import sealing
from erasure.models import (
    CLOSED_STATES,
    ErasureRequest,
    LegalHold,
    RequestKey,
    RequestSubjectKey,
    State,
    TargetRun,
    Transition,
)
from identity.codes import NoPendingCode, OneTimeCodes
from identity.senders import can_send
from identity.stores import DatabaseCodeStore
from jurisdictions.composer import effective_rules
from ledger import receipts
from ledger.services import subject_commitment
from lineage.services import country_code

log = structlog.get_logger(__name__)

# Which state may follow which. Closed states are final, except that staff may run the failed
# targets of a partial or failed request again (`erasure_request_retry_failed`).
TRANSITIONS: dict[str, frozenset[str]] = {
    State.RECEIVED: frozenset({State.VERIFYING, State.VERIFIED, State.DENIED}),
    State.VERIFYING: frozenset({State.VERIFIED, State.DENIED}),
    State.VERIFIED: frozenset({State.PLANNED, State.DENIED}),
    State.PLANNED: frozenset({State.AWAITING_APPROVAL, State.EXECUTING, State.DENIED}),
    State.AWAITING_APPROVAL: frozenset({State.EXECUTING, State.DENIED}),
    State.EXECUTING: frozenset({State.COMPLETED, State.PARTIALLY_COMPLETED, State.FAILED}),
    State.PARTIALLY_COMPLETED: frozenset({State.EXECUTING}),
    State.FAILED: frozenset({State.EXECUTING}),
}
MAX_IDENTIFIERS = 10


def body_digest(body: Any) -> str:
    """What an idempotency key is bound to: the request's canonical JSON."""
    return hashlib.sha256(
        json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()


def _identifiers(raw: Any) -> list[subject_keys.Identifier]:
    if not isinstance(raw, list) or not raw or len(raw) > MAX_IDENTIFIERS:
        raise ApplicationError(
            f"identifiers is a list of 1 to {MAX_IDENTIFIERS} {{id_type, value}} objects.",
            code="invalid_identifiers",
        )
    found = []
    for position, item in enumerate(raw):
        if not isinstance(item, dict):
            raise ApplicationError(
                "Each identifier is {id_type, value}.",
                code="invalid_identifiers",
                fields={str(position): "invalid"},
            )
        try:
            found.append(subject_keys.normalize(item.get("id_type"), item.get("value")))
        except subject_keys.InvalidIdentifier as exc:
            raise ApplicationError(
                exc.detail, code=exc.code, fields={f"identifiers.{position}": exc.code}
            ) from None
    return list(dict.fromkeys(found))


def _country(value: Any) -> str:
    """The subject's country is optional on a request; when given, it is checked."""
    return "" if value in (None, "") else country_code(value)


def erasure_request_create(
    *,
    identifiers: Sequence[dict[str, str]],
    country: str | None,
    channel: str,
    actor: str,
    idempotency_key: str | None = None,
    digest: str = "",
    now: datetime | None = None,
    note: str = "",
) -> tuple[ErasureRequest, bool]:
    """File a request; returns it and whether it is new.

    The subject's optional `note` may hold personal data: it is sealed with the identifiers
    and shredded with them.

    The same idempotency key from the same caller returns the same request; reused with another
    body, it is refused. A second open request for the same subject is linked to the first, so
    the subject is never erased twice in parallel.
    """
    parsed = _identifiers(identifiers)
    subject_country = _country(country)
    now = now or timezone.now()
    if idempotency_key is not None:
        existing = ErasureRequest.objects.filter(
            requested_by=actor, idempotency_key=idempotency_key
        ).first()
        if existing is not None:
            return _replayed(existing, digest)
    keys = {subject_keys.subject_key(i): i.id_type for i in parsed}
    open_request = (
        ErasureRequest.objects.filter(subject_keys__key__in=keys, linked_to=None)
        .exclude(state__in=CLOSED_STATES)
        .order_by("received_at")
        .only("id")  # linked by id; its sealed identifiers need not travel
        .first()
    )
    request = ErasureRequest(
        channel=channel,
        subject_country=subject_country,
        requested_by=actor,
        idempotency_key=idempotency_key,
        idempotency_digest=digest,
        received_at=now,
        linked_to=open_request,
    )
    data_key, wrapped = sealing.new_data_key()
    commit, opening = subject_commitment(id_type=parsed[0].id_type, normalized=parsed[0].normalized)
    request.subject_commit = commit
    request.sealed_identifiers = sealing.seal(
        key=data_key,
        request_id=str(request.id),
        identifiers={
            "identifiers": [{"id_type": i.id_type, "value": i.normalized} for i in parsed],
            "opening": opening.as_dict(),
            **({"note": note} if note else {}),
        },
    )
    key_rows = [RequestSubjectKey(request=request, key=k, id_type=t) for k, t in keys.items()]
    received = Transition(
        request=request,
        from_state="",
        to_state=State.RECEIVED,
        actor=actor,
        reason=f"linked to open request {open_request.id}" if open_request else "",
        at=now,
    )
    try:
        # One statement stores the request, its key, its subject keys and its first step, all
        # or none. A savepoint only where there is a race to lose inside a caller's
        # transaction: the same idempotency key, filed twice at once (the IntegrityError).
        with (
            transaction.atomic()
            if idempotency_key and connection.in_atomic_block
            else nullcontext()
        ):
            bulk.insert_together(
                [
                    (ErasureRequest, [request]),
                    (RequestKey, [RequestKey(request=request, wrapped_key=wrapped)]),
                    (RequestSubjectKey, key_rows),
                    (Transition, [received]),
                ]
            )
        # Its whole trail so far, held so the caller shows the new request without reading it
        # back; and its keys, for a caller that plans it in this transaction.
        hold_related(request, "transitions", [received])
        hold_related(request, "subject_keys", key_rows)
    except IntegrityError:
        if idempotency_key is None:
            raise
        # The same idempotency key raced in from another process: theirs stands.
        existing = ErasureRequest.objects.get(requested_by=actor, idempotency_key=idempotency_key)
        return _replayed(existing, digest)
    log.info(
        "erasure.request_received",
        request=str(request.id),
        channel=channel,
        linked=bool(open_request),
    )
    return request, True


def _replayed(existing: ErasureRequest, digest: str) -> tuple[ErasureRequest, bool]:
    if existing.idempotency_digest != digest:
        raise Conflict(
            "That Idempotency-Key was used with another request body.",
            code="idempotency_key_reused",
        )
    return existing, False


def hold_related(request: ErasureRequest, name: str, objects: list) -> None:
    """Hold `objects` as `request.<name>.all()`, as prefetch_related would (a filter on the
    relation still queries): what a service just wrote, so the next step need not read it."""
    held = getattr(request, name).model.objects.filter(request=request)
    held._result_cache, held._prefetch_done = objects, True
    request.__dict__.setdefault("_prefetched_objects_cache", {})[name] = held


def held_related(request: ErasureRequest, name: str) -> list | None:
    """What `hold_related` holds as `request.<name>`; None when nothing is held."""
    held = getattr(request, "_prefetched_objects_cache", {}).get(name)
    return None if held is None else held._result_cache


def erasure_request_transition(
    *,
    request: ErasureRequest,
    to_state: str,
    actor: str,
    reason: str = "",
    now: datetime | None = None,
    locked: bool = False,
) -> ErasureRequest:
    """Move a request to its next state, with who and why, or refuse with `invalid_transition`.

    `locked`: the caller read `request` under its row lock in the transaction this runs in, so
    it is not read again."""
    now = now or timezone.now()
    # No savepoint of its own (two round trips on every step of every request): nothing in it
    # is caught and carried on from, and a refusal is raised once the block has been left.
    with transaction.atomic(savepoint=False):
        row = request if locked else ErasureRequest.objects.select_for_update().get(pk=request.pk)
        refused = to_state not in TRANSITIONS.get(row.state, frozenset())
        if not refused:
            _transition_write(row, to_state=to_state, actor=actor, reason=reason, now=now)
    if refused:
        raise Conflict(
            f"A request cannot go from {row.state} to {to_state}.", code="invalid_transition"
        )
    return row


@contextmanager
def erasure_request_steps_together(*requests: ErasureRequest) -> Iterator[None]:
    """Inside the block, the steps `erasure_request_transition` takes on these requests (locked
    by the caller, in its transaction) and the fields `erasure_request_fields_changed` names are
    held, and written when the block ends: every transition in one INSERT and the requests'
    changed fields in one UPDATE, however many steps and requests. A block left by an exception
    writes nothing (its transaction rolls back)."""
    for request in requests:
        request._steps_held = ([], set())
    try:
        yield
        erasure_request_steps_write(*requests)
    finally:
        for request in requests:
            del request._steps_held


def erasure_request_steps_write(*requests: ErasureRequest) -> None:
    """Write the steps held on these requests so far (`erasure_request_steps_together`), for
    what reads them back from the database; nothing for a request with none held."""
    held = [(r, r._steps_held) for r in requests if getattr(r, "_steps_held", None)]
    Transition.objects.bulk_create([t for _, (transitions, _) in held for t in transitions])
    changed = [r for r, (_, fields) in held if fields]
    if changed:
        fields = sorted(set().union(*(fields for _, (_, fields) in held)))
        if len(changed) == 1:
            changed[0].save(update_fields=fields)
        else:
            ErasureRequest.objects.bulk_update(changed, fields)
    for _, (transitions, fields) in held:
        transitions.clear()
        fields.clear()


def erasure_request_fields_changed(requests: Sequence[ErasureRequest], fields: list[str]) -> None:
    """Save `fields` of these requests: held with their steps where the caller writes them
    together (`erasure_request_steps_together`), else now, in one UPDATE."""
    now = []
    for request in requests:
        held = getattr(request, "_steps_held", None)
        if held is None:
            now.append(request)
        else:
            held[1].update(fields)
    if now:
        ErasureRequest.objects.bulk_update(now, fields)


def _transition_write(
    locked: ErasureRequest, *, to_state: str, actor: str, reason: str, now: datetime
) -> None:
    transition = Transition(
        request=locked,
        from_state=locked.state,
        to_state=to_state,
        actor=actor,
        reason=reason,
        at=now,
    )
    held = getattr(locked, "_steps_held", None)
    if held is None:
        transition.save(force_insert=True)
    else:
        held[0].append(transition)
    trail = getattr(locked, "_prefetched_objects_cache", {}).get("transitions")
    if trail is not None:  # held since it was read or filed: kept whole, not read again
        trail._result_cache.append(transition)
    locked.state = to_state
    fields = ["state"]
    if to_state == State.VERIFIED:
        locked.verified_at = now
        locked.deadline, locked.rules = _deadline(locked, now)
        fields += ["verified_at", "deadline", "rules"]
    if to_state in CLOSED_STATES:
        locked.closed_at = now
        locked.retention_until = now + timedelta(days=settings.LUP_REQUEST_RETENTION_DAYS)
        fields += ["closed_at", "retention_until"]
    if held is None:
        locked.save(update_fields=fields)
    else:
        held[1].update(fields)


def _deadline(request: ErasureRequest, verified_at: datetime) -> tuple[datetime, dict]:
    """The strictest erasure deadline of the deployment's markets and the subject's country,
    counted from verification, with the rules it came from (kept on the request)."""
    rules = effective_rules(
        markets=settings.LUP_MARKETS,
        subject_country=request.subject_country or None,
        received_at=verified_at,
    )
    erasure = rules["rules"]["erasure_deadline"]
    snapshot = json.loads(
        json.dumps(
            {
                "considered": rules["considered"],
                "erasure_right": rules["rules"]["erasure_right"],
                "erasure_deadline": erasure,
            },
            default=str,
        )
    )
    return datetime.fromisoformat(str(erasure["due_at"])), snapshot


def erasure_request_identifiers(*, request: ErasureRequest) -> list[dict[str, str]]:
    """The sealed identifiers, opened in memory for a connector run; never logged or stored."""
    return _unsealed(request)["identifiers"]


def target_run_identifiers(*, run: TargetRun) -> dict[str, list[str]]:
    """The request's identifiers of the types the run's target is keyed by, by type."""
    wanted = set(run.target.id_types)
    values: dict[str, list[str]] = {}
    for identifier in erasure_request_identifiers(request=run.request):
        if identifier["id_type"] in wanted:
            values.setdefault(identifier["id_type"], []).append(identifier["value"])
    return values


def erasure_request_opening(*, request: ErasureRequest) -> dict[str, str]:
    """What opens the receipts' subject commitment: for the subject's bundle only."""
    return _unsealed(request)["opening"]


def _data_key(request: ErasureRequest) -> bytes:
    """The request's data key, unwrapped; refused once it has been shredded. Read with the
    request where the caller did (`select_related("key")`), else on its own."""
    if ErasureRequest.key.is_cached(request):
        held = getattr(request, "key", None)  # None: no key row, shredded
        wrapped = held.wrapped_key if held is not None else None
    else:
        wrapped = RequestKey.objects.filter(request=request).values_list("wrapped_key", flat=True)
        wrapped = wrapped.first()
    if wrapped is None:
        raise ApplicationError(
            "This request's identifiers were shredded.", code="identifiers_shredded"
        )
    return sealing.unwrap(bytes(wrapped))


def _unsealed(request: ErasureRequest, key: bytes | None = None) -> dict:
    return sealing.unseal(
        key=key or _data_key(request),
        request_id=str(request.pk),
        sealed=bytes(request.sealed_identifiers),
    )


def erasure_requests_shred_due(*, now: datetime | None = None) -> int:
    """Destroy the data keys of closed requests whose retention has ended."""
    now = now or timezone.now()
    with transaction.atomic():
        due = list(
            ErasureRequest.objects.select_for_update()
            .filter(state__in=CLOSED_STATES, retention_until__lte=now, shredded_at=None)
            .values_list("pk", flat=True)
        )
        RequestKey.objects.filter(request_id__in=due).delete()
        ErasureRequest.objects.filter(pk__in=due).update(shredded_at=now)
    if due:
        log.info("erasure.requests_shredded", count=len(due))
    return len(due)


# --- identity verification ------------------------------------------------------------------

# A request's codes are rows (their wrong attempts must be durable) of the scope
# erasure-request:<id>, hashed under the salt and bound to the id they had before identity/.
CODES = OneTimeCodes(DatabaseCodeStore(prefix="erasure-request", salt="lup.erasure.code"))


def erasure_verification_start(
    *, request: ErasureRequest, actor: str, now: datetime | None = None, language: str = "en"
) -> str:
    """Send a one-time code to the subject; returns the identifier type it went to."""
    now = now or timezone.now()
    if request.state not in (State.RECEIVED, State.VERIFYING):
        raise Conflict("This request is past verification.", code="invalid_transition")
    identifiers = erasure_request_identifiers(request=request)
    identifier = next((i for i in identifiers if can_send(i["id_type"])), None)
    if identifier is None:
        raise ApplicationError(
            "No identifier of this request can receive a code; staff can verify it by other means.",
            code="no_code_channel",
        )
    with transaction.atomic():
        if request.state == State.RECEIVED:
            erasure_request_transition(
                request=request,
                to_state=State.VERIFYING,
                actor=actor,
                reason=f"code sent by {identifier['id_type']}",
                now=now,
            )
        # Sent inside the transaction: if sending fails, no unusable code is left behind.
        CODES.send(
            key=str(request.pk),
            id_type=identifier["id_type"],
            address=identifier["value"],
            language=language,
            now=now,
        )
    return identifier["id_type"]


def erasure_verification_confirm(
    *, request: ErasureRequest, code: str, actor: str, now: datetime | None = None
) -> ErasureRequest:
    """Check a one-time code. The latest code counts; each wrong guess uses an attempt."""
    now = now or timezone.now()
    if request.state != State.VERIFYING:
        raise NoPendingCode("No code is pending for this request.")
    with CODES.confirm(key=str(request.pk), code=code, now=now):
        return erasure_request_transition(
            request=request,
            to_state=State.VERIFIED,
            actor=actor,
            reason="one-time code confirmed",
            now=now,
        )


def erasure_request_mark_verified(
    *,
    request: ErasureRequest,
    actor: str,
    reason: str,
    now: datetime | None = None,
    locked: bool = False,
) -> ErasureRequest:
    """Staff confirmed the subject's identity some other way; the reason is required.
    `locked`: as `erasure_request_transition` takes it."""
    if not reason or not reason.strip():
        raise ApplicationError("Say how the identity was verified.", code="reason_required")
    return erasure_request_transition(
        request=request,
        to_state=State.VERIFIED,
        actor=actor,
        reason=reason.strip(),
        now=now,
        locked=locked,
    )


def legal_hold_create(
    *, actor: str, basis: str, until: datetime, subject_key: str = "", target=None
) -> LegalHold:
    """Hold data despite requests: scoped to a target, a subject (by key), or both."""
    if not subject_key and target is None:
        raise ApplicationError(
            "A hold names a target, a subject key, or both.", code="hold_scope_required"
        )
    if not receipts.TOKEN.fullmatch(basis):
        # The basis is written into receipts, which accept a code, not free text.
        raise ApplicationError(
            "basis is a short code such as 'litigation-2026-7': letters, digits and . _ : / + -.",
            fields={"basis": "not a code"},
            code="invalid_basis",
        )
    if subject_key:
        subject_keys.validate_subject_key(subject_key)
    if until <= timezone.now():
        raise ApplicationError("until is in the future.", code="invalid_until")
    return LegalHold.objects.create(
        subject_key=subject_key, target=target, basis=basis, until=until, created_by=actor
    )


def erasure_request_add_identifiers(
    *, request: ErasureRequest, identifiers: Sequence[subject_keys.Identifier]
) -> int:
    """Seal identifiers found for the subject after intake (by identity resolution) with the
    ones given; returns how many were new."""
    key = _data_key(request)
    sealed = _unsealed(request, key)
    known = {(i["id_type"], i["value"]) for i in sealed["identifiers"]}
    new = [i for i in dict.fromkeys(identifiers) if (i.id_type, i.normalized) not in known]
    if not new:
        return 0
    sealed["identifiers"] += [{"id_type": i.id_type, "value": i.normalized} for i in new]
    request.sealed_identifiers = sealing.seal(
        key=key, request_id=str(request.pk), identifiers=sealed
    )
    request.save(update_fields=["sealed_identifiers"])
    RequestSubjectKey.objects.bulk_create(
        [
            RequestSubjectKey(request=request, key=subject_keys.subject_key(i), id_type=i.id_type)
            for i in new
        ],
        ignore_conflicts=True,
    )
    return len(new)
