"""One target of one request: claim it, erase, look again, and receipt it.

A run is claimed in a short transaction (pending → claimed, `SKIP LOCKED`); the connector's
I/O runs with no transaction open and no row lock held; its result, and then the receipt, are
written in transactions of their own. A run's end and its receipt commit together (with its
request's closing, when it was the request's last run), and a run with a receipt is never run
again, so a task delivered twice neither erases twice nor receipts twice. A worker that dies
holding a claim leaves the run to the sweeper, which gives it back.

A sharded target's pass fans out one task per shard (`erasure.shards`); its runs wait in
`sharded` until the last shard ends, and then get their receipts together (`sharded_pass_end`).
"""

import os
import socket
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict
from datetime import datetime, timedelta

import structlog
from django.conf import settings
from django.db import models, transaction
from django.db.models import Case, Exists, Q, When
from django.utils import timezone

from connectors import (
    CONNECTORS,
    Awaiting,
    Connector,
    Erased,
    Handover,
    HeldByStore,
    History,
    Reported,
    Verified,
    connector_for,
)
from core.errors import Conflict, NotFound
from erasure import closing, dispatch, failures, shards
from erasure.models import LegalHold, RequestSubjectKey, State, Target, TargetRun
from erasure.services import target_run_identifiers
from ledger import bodies
from ledger.services import receipts_appended_together, receipts_issue, utc_time

log = structlog.get_logger(__name__)

Status, Outcome = TargetRun.Status, TargetRun.Outcome
# A run in one of these states waits for nobody but its own task.
WORKABLE = (Status.PENDING, Status.ERASED)
# Runs in these states are in a pass on their target: no other pass starts meanwhile.
IN_A_PASS = (Status.CLAIMED, Status.SHARDED)


def target_run_execute(*, run_id: int) -> TargetRun:
    """Erase, look again, and receipt one target of one request (idempotent). A run that has
    ended, waits for a person or a callback, or is claimed by another worker is left as is."""
    # The request's data key with it: what to look for is opened from its sealed identifiers.
    run = TargetRun.objects.select_related("request__key", "target").get(pk=run_id)
    if run.status not in WORKABLE:
        return run
    connector = connector_for(run.target.kind, run.target.config)
    values = _values(run)
    settled = _settled(run, connector, values, timezone.now())
    if settled is not None:
        if connector.batches:  # it may have been handed the next pass: it passes it on
            _pass_hand_on(run)
        return settled
    if connector.hands_over:
        return _handed_over(run, connector, values)
    if run.status == Status.PENDING and connector.sharded:
        _sharded_pass(run, connector, values)
        run.refresh_from_db()  # receipted, or sharded (its shards' tasks end it), or pending
        return run
    if run.status == Status.PENDING and connector.batches:
        ended = _erase_batch(run, connector, values)
        if ended is None:  # left to the pass running on its target, or pending for the next
            run.refresh_from_db()
        return ended or run
    if run.status == Status.PENDING:
        if not _claim([run.pk]):
            run.refresh_from_db()
            return run
        try:
            with _released_on_error([run.pk]):
                erased = connector.erase(values, op=run.target.operation)
        except HeldByStore as held:
            return _held_by_store([run], held)[0]
        # Recorded before the post-check: a crash after this point re-runs only the check.
        _record({run.pk: erased})
        run.refresh_from_db()
    return _checked(run, connector.verify(values))


def _settled(
    run: TargetRun, connector: Connector, values: dict[str, list[str]], now: datetime
) -> TargetRun | None:
    """End a run that erases nothing: its subject is held, or the target is keyed by no
    identifier the request has. None when there is erasing to do."""
    hold = _hold(run, now)
    if hold is not None:
        found = connector.locate(values).count if values else 0
        return _finish(
            run,
            outcome=Outcome.HELD,
            action=_none("legal-hold", now),
            postcheck=bodies.check(method="locate", remaining=found, at=utc_time(now)),
            exception={"basis": hold.basis, "until": utc_time(hold.until)},
        )
    if not values:
        return _finish(
            run,
            outcome=Outcome.NOTHING_FOUND,
            action=_none("no-usable-identifier", now),
            postcheck=bodies.check(method="none", remaining=0, at=utc_time(now)),
        )
    return None


def _held_by_store(runs: list[TargetRun], held: HeldByStore) -> list[TargetRun]:
    """End runs the store itself will not let erase (an object lock): `held`, with the lock as
    the exception, and what the look before the refusal found as the post-check."""
    now = timezone.now()
    at = utc_time(now)
    # A batch's counts are by run; a single run's (`Connector.erase`) by None.
    found = [held.found.get(run.pk, held.found.get(None, 0)) for run in runs]
    return _finish_all(
        [
            (
                run,
                Outcome.HELD,
                {
                    "action": _none("store-lock", now),
                    "postcheck": bodies.check(method="locate", remaining=remaining, at=at),
                    "exception": {"basis": held.basis, "until": utc_time(held.until)},
                },
            )
            for run, remaining in zip(runs, found, strict=True)
        ]
    )


# --- claims -----------------------------------------------------------------------------------


def _worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:64]


def _claim(pks: Iterable[int]) -> list[int]:
    """Claim those of `pks` still pending and not locked by another claim: the short first
    transaction. Returns the claimed ones."""
    with transaction.atomic(savepoint=False):  # nothing in it is caught and carried on from
        free = list(
            TargetRun.objects.select_for_update(skip_locked=True)
            .filter(pk__in=list(pks), status=Status.PENDING)
            .values_list("pk", flat=True)
        )
        TargetRun.objects.filter(pk__in=free).update(
            status=Status.CLAIMED, claimed_at=timezone.now(), claimed_by=_worker()
        )
    return free


def _release(pks: Iterable[int]) -> None:
    """Give claimed runs back (pending), as when the connector failed and the task retries."""
    TargetRun.objects.filter(pk__in=list(pks), status=Status.CLAIMED).update(
        status=Status.PENDING, claimed_by=""
    )


@contextmanager
def _released_on_error(pks: Iterable[int]) -> Iterator[None]:
    """Give the claims back when the connector raises, so the retried task finds them pending."""
    try:
        yield
    except BaseException:
        _release(pks)
        raise


def _record(results: dict[int, Erased]) -> None:
    """The second transaction: what the connector did, before anything is checked. A claim the
    sweeper gave back meanwhile is recorded all the same; what follows is only the check."""
    # One run's is one statement, which commits on its own: no transaction to begin and end.
    with transaction.atomic() if len(results) > 1 else nullcontext():
        for pk, erased in results.items():
            TargetRun.objects.filter(pk=pk, status__in=[Status.CLAIMED, Status.PENDING]).update(
                status=Status.ERASED,
                erased=_recorded(erased),
                attempts=models.F("attempts") + 1,
                claimed_by="",
            )


# --- what to look for -------------------------------------------------------------------------


def _hold(run: TargetRun, now: datetime) -> LegalHold | None:
    keys = RequestSubjectKey.objects.filter(request_id=run.request_id).values("key")
    return (
        LegalHold.objects.filter(released_at=None, until__gt=now)
        .filter(
            Q(target=run.target, subject_key="")
            | Q(target=None, subject_key__in=keys)
            | Q(target=run.target, subject_key__in=keys)
        )
        .order_by("-until")
        .first()
    )


def _values(run: TargetRun) -> dict[str, list[str]]:
    return target_run_identifiers(run=run)


# --- erasing ----------------------------------------------------------------------------------


def _erase_batch(
    run: TargetRun, connector: Connector, values: dict[str, list[str]]
) -> TargetRun | None:
    """Group commit: one pass at a time on a target, each serving every run pending on it.

    A run whose target is idle starts a pass at once, taking along the target's other pending
    runs (up to `LUP_BATCH_MAX`). A run that arrives while a pass erases is left pending: the
    pass's task hands it on once the erase is recorded, so it joins the next pass, which may
    start while this one is post-checked. The erase is one pass (a file rewritten once, one
    scan of a keyspace, one statement per batch of values), then one post-check pass, and each
    run its own receipt: its own count, the shared digests. Returns the run as this pass ended
    it; None when it did not."""
    claimed = _pass_claim(run)
    if not claimed:
        return None
    try:
        with _released_on_error(claimed):
            groups = _pass_erase(run, connector, values, claimed)
    except BaseException:
        # A pass that failed before erasing gave the run back: its task retries, with every
        # run then pending on the target; otherwise the next pass is handed on here.
        if not TargetRun.objects.filter(pk=run.pk, status=Status.PENDING).exists():
            _pass_hand_on(run)
        raise
    _pass_hand_on(run)
    if not groups:
        return None
    checks = connector.verify_groups(groups)

    def checked(member: TargetRun) -> tuple[str, dict] | None:
        # Erased, as recorded: one the sweeper gave to another pass may have ended there.
        return _checked_end(member, checks[member.pk]) if member.status == Status.ERASED else None

    # The pass's receipts in one append, its requests closed together.
    ended = _finish_locked(list(groups), checked)
    return next((member for member in ended if member.pk == run.pk), None)


def _pass_claim(run: TargetRun) -> list[int]:
    """Start a pass on the run's target, unless one is running: claim the run and the oldest
    other pending runs of the target, up to `LUP_BATCH_MAX`. Returns the claimed runs, none
    when a pass is running. The target's row lock makes "is a pass running?" and the claim one
    step for everyone starting a pass on it; it is held for this short transaction only."""
    on_target = TargetRun.objects.filter(target_id=run.target_id)
    with transaction.atomic():
        list(Target.objects.select_for_update(no_key=True).filter(pk=run.target_id))
        # Read once the lock is held (a statement of its own, so that it sees a pass claimed
        # by whoever held the lock before): the run and the oldest others pending, unless a
        # pass is running.
        free = list(
            on_target.select_for_update(skip_locked=True, of=("self",))
            .filter(
                Q(pk=run.pk) | Q(request__state=State.EXECUTING),
                ~Exists(on_target.filter(status__in=IN_A_PASS)),
                status=Status.PENDING,
            )
            .order_by(Case(When(pk=run.pk, then=0), default=1), "pk")
            .values_list("pk", flat=True)[: max(settings.LUP_BATCH_MAX, 1)]
        )
        TargetRun.objects.filter(pk__in=free).update(
            status=Status.CLAIMED, claimed_at=timezone.now(), claimed_by=_worker()
        )
        return free


def _pass_erase(
    run: TargetRun, connector: Connector, values: dict[str, list[str]], claimed: list[int]
) -> dict[int, dict[str, list[str]]]:
    """The erase of a pass over the claimed runs; returns what each erased run looked for. The
    others' holds and identifiers are looked up after the claim's commit; a held run, or one
    with nothing to look for, ends here unerased."""
    groups = _pass_members(run, connector, values, claimed)
    if not groups:
        return groups
    # The target says what erasing is: delete the items, or mask them and keep the rest.
    try:
        results = connector.erase_groups(groups, op=run.target.operation)
    except HeldByStore as held:
        members = TargetRun.objects.filter(pk__in=list(groups)).select_related("request", "target")
        _held_by_store(list(members), held)
        return {}
    _record(results)
    log.info("erasure.batch_erased", target=run.target.name, runs=len(results))
    return groups


def _pass_members(
    run: TargetRun, connector: Connector, values: dict[str, list[str]], claimed: list[int]
) -> dict[int, dict[str, list[str]]]:
    """What each claimed run of a pass looks for; a held run, or one with nothing to look for,
    ends here (the pass's own run was settled before it started)."""
    now = timezone.now()
    groups: dict[int, dict[str, list[str]]] = {}
    members = (
        [run]  # a pass of one: nothing to read
        if claimed == [run.pk]
        else TargetRun.objects.filter(pk__in=claimed).select_related("request__key", "target")
    )
    for member in members:
        found = values if member.pk == run.pk else _values(member)
        if member.pk == run.pk or _settled(member, connector, found, now) is None:
            groups[member.pk] = found
    return groups


def _pass_hand_on(run: TargetRun) -> None:
    """Once a pass has erased, hand the runs that arrived meanwhile to the next one: enqueue
    the oldest, whose task starts it, unless another pass runs already (its task hands on)."""
    on_target = TargetRun.objects.filter(target_id=run.target_id)
    following = (
        on_target.filter(status=Status.PENDING, request__state=State.EXECUTING)
        .select_related("request", "target")
        .order_by("pk")
        .first()
    )
    # Mostly none follows (one read, then); else, a pass running meanwhile hands on itself.
    if following is not None and not on_target.filter(status__in=IN_A_PASS).exists():
        dispatch.target_run_enqueue(run=following)


# --- sharded targets ---------------------------------------------------------------------------


def _sharded_pass(run: TargetRun, connector: Connector, values: dict[str, list[str]]) -> None:
    """Start a pass on a sharded target, as group commit starts any pass (`_pass_claim`): list
    its shards once, and leave them to their tasks (`erasure.shards`). A pass with no shard at
    all ends here."""
    claimed = _pass_claim(run)
    if not claimed:
        return
    with _released_on_error(claimed):
        groups = _pass_members(run, connector, values, claimed)
        listed = connector.shards() if groups else []
    if not groups:
        _pass_hand_on(run)
        return
    if shards.shard_pass_start(lead=run, members=groups, listed=listed):
        sharded_pass_end(lead_id=run.pk)


def sharded_pass_end(*, lead_id: int) -> None:
    """Every shard of the pass led by `lead_id` has ended: each run of the pass gets its one
    receipt (its own count and remaining, the pass's shards examined, the shards it changed and
    their manifest's digest), or fails with the code of a shard that failed for good. Safe to
    call twice: the lead's row lock serializes callers, and a receipted run is not touched."""
    with transaction.atomic():
        lead = (
            TargetRun.objects.select_for_update(of=("self",))
            .select_related("target")
            .filter(pk=lead_id)
            .first()
        )
        if lead is None or not shards.pass_ended(lead_id=lead_id):
            return
        members = list(
            TargetRun.objects.filter(shard_pass=lead_id, status=Status.SHARDED).select_related(
                "request", "target"
            )
        )
        if not members:
            return
        connector = connector_for(lead.target.kind, lead.target.config)
        summary = shards.pass_summary(lead_id=lead_id, members=[m.pk for m in members])
        for member in members:
            if summary.failed:
                _sharded_fail(member, summary.failed)
            else:
                _sharded_finish(member, connector, summary)
        # Closing a request signs its receipt and a checkpoint and writes to the subject: for
        # a pass of many requests, work for every worker rather than this one alone.
        ids = [member.request_id for member in members]
        transaction.on_commit(lambda: dispatch.requests_close_enqueue(request_ids=ids), robust=True)
    log.info("erasure.shards_ended", target=lead.target.name, runs=len(members))
    _pass_hand_on(lead)


def _sharded_finish(run: TargetRun, connector: Connector, summary: "shards.PassSummary") -> None:
    mine = summary.runs[run.pk]
    started, completed = utc_time(summary.started_at), utc_time(summary.completed_at)
    action = bodies.step(
        op=mine.op,
        method=connector.erase_method,
        count=mine.count,
        started_at=started,
        completed_at=completed,
    )
    run.erased = {**action, "count": mine.count}
    run.manifest = mine.manifest
    run.save(update_fields=["erased", "manifest", "updated_at"])
    postcheck = bodies.check(
        method=connector.verify_method,
        remaining=mine.remaining,
        at=utc_time(summary.checked_at),
    )
    # A shard the store's lock kept from erasing still holds the subject: held, as a target
    # whose lock refused it is (the other shards erased all the same).
    held = {"basis": mine.held[0], "until": utc_time(mine.held[1])} if mine.held else None
    _finish(
        run,
        outcome=Outcome.HELD if held else _outcome(remaining=mine.remaining, count=mine.count),
        close=False,  # the pass closes its requests together (`sharded_pass_end`)
        action=action,
        postcheck=postcheck,
        shards=summary.shards(run.pk),
        history=_history(summary.history),
        **({"exception": held} if held else {}),
    )


def _sharded_fail(run: TargetRun, code: str) -> None:
    """A shard failed for good: so does every run of its pass, as a run whose retries are spent."""
    TargetRun.objects.filter(pk=run.pk, receipt_id=None).update(
        status=Status.FAILED, outcome=Outcome.FAILED, last_error=code, claimed_by=""
    )


def _handed_over(run: TargetRun, connector: Connector, values: dict[str, list[str]]) -> TargetRun:
    """A person or another system erases: the run waits for their report, or ends on the
    report they gave at once."""
    if not _claim([run.pk]):
        run.refresh_from_db()
        return run
    handover = Handover(
        request_id=str(run.request_id),
        run_id=run.pk,
        callback_url=f"{settings.LUP_PUBLIC_URL}/api/v1/erasure/callbacks/{run.pk}",
    )
    with _released_on_error([run.pk]):
        started = connector.start(values, handover=handover)
    if isinstance(started, Awaiting):
        TargetRun.objects.filter(pk=run.pk, status=Status.CLAIMED).update(
            status=started.value, claimed_by=""
        )
        run.refresh_from_db()
        return run
    return _reported(run, started)


def _recorded(erased: Erased) -> dict:
    return {k: (utc_time(v) if isinstance(v, datetime) else v) for k, v in asdict(erased).items()}


def _none(method: str, now: datetime) -> dict[str, str]:
    at = utc_time(now)
    return bodies.step(op="none", method=method, count=0, started_at=at, completed_at=at)


def _outcome(*, remaining: int, count: int) -> str:
    """A post-check that still finds the subject means the erasure failed, whatever it did."""
    if remaining:
        return Outcome.FAILED
    return Outcome.ERASED if count else Outcome.NOTHING_FOUND


def _checked(run: TargetRun, checked: Verified) -> TargetRun:
    """Receipt an erased run with its post-check."""
    return _finish_all([(run, *_checked_end(run, checked))])[0]


def _checked_end(run: TargetRun, checked: Verified) -> tuple[str, dict]:
    """An erased run's outcome and receipt fields, from what it erased and its post-check."""
    erased = run.erased
    action = bodies.step(
        op=erased["op"],
        method=erased["method"],
        count=erased["count"],
        started_at=erased["started_at"],
        completed_at=erased["completed_at"],
    )
    postcheck = bodies.check(
        method=checked.method, remaining=checked.remaining, at=utc_time(checked.at)
    )
    receipt = {
        "action": action,
        "postcheck": postcheck,
        "before": erased.get("before") or "",
        "after": erased.get("after") or "",
        "history": _history(checked.history),
    }
    return _outcome(remaining=checked.remaining, count=erased["count"]), receipt


def _history(history: History | None) -> dict[str, str] | None:
    if history is None:
        return None
    until = history.retained_until
    return bodies.kept_history(
        policy=history.policy,
        versions_checked=history.versions_checked,
        retained_until=utc_time(until) if until else "",
    )


def _finish(run: TargetRun, *, outcome: str, close: bool = True, **receipt) -> TargetRun:
    """End a run with its receipt and, unless the caller closes it (`close`), its request if
    this was its last run: in one transaction."""
    return _finish_all([(run, outcome, receipt)], close=close)[0]


def _finish_all(ended: list[tuple[TargetRun, str, dict]], *, close: bool = True) -> list[TargetRun]:
    """`_finish` for many runs (each with its outcome and receipt fields) in one transaction:
    their receipts signed and appended together, and the requests whose last run this was
    closed together. A closing that fails takes the runs' ends with it: the task's retry, which
    finds them erased, checks and ends them again."""
    fields = {run.pk: (outcome, receipt) for run, outcome, receipt in ended}
    return _finish_locked(list(fields), lambda run: fields[run.pk], close=close)


def _finish_locked(
    pks: list[int], end: Callable[[TargetRun], tuple[str, dict] | None], *, close: bool = True
) -> list[TargetRun]:
    """`_finish_all`, with each run's outcome and receipt fields from `end` on the run as read
    under its lock (None: leave it as it is)."""
    # One transaction; the runs' receipts and their requests' closing receipts one append.
    with transaction.atomic(), receipts_appended_together():
        # The runs' rows only, in key order: locking their target too would hold up the next
        # pass's claim (and every other run's end) on that target while receipts are signed.
        locked = (
            TargetRun.objects.select_for_update(of=("self",))
            .select_related("request", "target")
            .filter(pk__in=pks)
            .order_by("pk")
            .in_bulk()
        )
        # Another delivery of a run's task may have finished it first.
        todo = [
            (locked[pk], *ending)
            for pk in pks
            if not locked[pk].receipt_id and (ending := end(locked[pk])) is not None
        ]
        # Their requests next (runs, then requests, then the log: the order every closing
        # takes), so the last run of each to end closes it in this same transaction.
        requests = closing.executing_locked({run.request_id for run, _, _ in todo}) if close else []
        issued = receipts_issue(
            bodies=[
                bodies.erasure_target(
                    subject_commit=run.request.subject_commit,
                    request_id=run.request_id,
                    target=run.target,
                    outcome=outcome,
                    **receipt,
                )
                for run, outcome, receipt in todo
            ]
        )
        for (run, outcome, _), receipt in zip(todo, issued, strict=True):
            run.receipt_id = receipt.receipt_id
            run.outcome = outcome
            run.status = Status.FAILED if outcome == Outcome.FAILED else Status.DONE
            run.claimed_by = ""
            run.save(update_fields=["receipt_id", "outcome", "status", "claimed_by", "updated_at"])
        closing.erasure_requests_close_ended(requests, issued=issued)
    for run, outcome, _ in todo:
        log.info(
            "erasure.target_done",
            request=str(run.request_id),
            target=run.target.name,
            outcome=outcome,
        )
    return [locked[pk] for pk in pks]


# --- reports from people and other systems --------------------------------------------------


def target_run_attest(*, run: TargetRun, erased: int, remaining: int, actor: str) -> TargetRun:
    """A person did a manual target's erasure and says what they found: the receipt attests
    their statement (the kind's method, `manual-attestation`), naming no more than that."""
    if run.status != Status.AWAITING_PERSON:
        raise Conflict("This task is not waiting for a person.", code="invalid_transition")
    report = connector_for(run.target.kind, run.target.config).report(
        erased=erased, remaining=remaining
    )
    log.info("erasure.manual_attested", request=str(run.request_id), actor=actor)
    return _reported(run, report)


def target_run_callback(*, run_id: int, body: bytes, timestamp: str, signature: str) -> TargetRun:
    """A target that answered "later" reports on its signed callback. The signature is checked
    before anything about the run is told."""
    run = TargetRun.objects.select_related("target", "request").filter(pk=run_id).first()
    connector = run and connector_for(run.target.kind, run.target.config)
    if run is None or not connector.hands_over:
        raise NotFound("No such webhook run.", code="unknown_run")
    report = connector.callback(body=body, timestamp=timestamp, signature=signature)
    if run.status != Status.AWAITING_CALLBACK:
        raise Conflict("This run is not waiting for a callback.", code="invalid_transition")
    return _reported(run, report)


def _reported(run: TargetRun, report: Reported) -> TargetRun:
    """Finish a run on counts someone else reported; the receipt names who: its method."""
    now = utc_time(timezone.now())
    action = bodies.step(
        op="delete" if report.erased else "none",
        method=report.method,
        count=report.erased,
        started_at=now,
        completed_at=now,
    )
    postcheck = bodies.check(method=report.method, remaining=report.remaining, at=now)
    outcome = _outcome(remaining=report.remaining, count=report.erased)
    return _finish(run, outcome=outcome, action=action, postcheck=postcheck)


def target_run_attempt_failed(*, run_id: int, code: str, in_process: bool) -> int | None:
    """Record a failed attempt: its code and one attempt more, the claim given back (a run that
    erased stays erased: only its post-check is left to do). `in_process` (no broker to hold a
    countdown): the run is given a `retry_at` for the in-process sweeper, when it is to be
    tried again. Returns the attempts so far, or None when the run has ended meanwhile."""
    now = timezone.now()
    with transaction.atomic():
        run = TargetRun.objects.select_for_update().filter(pk=run_id, receipt_id=None).first()
        if run is None or run.status in (Status.DONE, Status.FAILED):
            return None
        run.attempts += 1
        run.last_error = code
        if run.status == Status.CLAIMED:
            run.status = Status.PENDING
        run.claimed_by = ""
        again = in_process and failures.retryable(code, attempts=run.attempts)
        run.retry_at = (
            now + timedelta(seconds=failures.backoff_seconds(run.attempts)) if again else None
        )
        run.enqueued_at = now
        run.save(
            update_fields=[
                "attempts",
                "last_error",
                "status",
                "claimed_by",
                "retry_at",
                "enqueued_at",
                "updated_at",
            ]
        )
    log.warning("erasure.attempt_failed", run=run_id, code=code, attempts=run.attempts)
    return run.attempts


def target_run_fail(*, run_id: int, code: str) -> None:
    """Retries are spent: the target failed, and staff see why (by code)."""
    with transaction.atomic():
        TargetRun.objects.filter(pk=run_id, receipt_id=None).update(
            status=Status.FAILED,
            outcome=Outcome.FAILED,
            last_error=code,
            claimed_by="",
            retry_at=None,
        )
        run = TargetRun.objects.select_related("target").get(pk=run_id)
        request_id = run.request_id
        transaction.on_commit(
            lambda: closing.erasure_request_close_if_done(request_id=request_id), robust=True
        )
    if CONNECTORS.get(run.target.kind, Connector).batches:
        # Its retries took along the runs pending on its target; now a pass of their own does.
        _pass_hand_on(run)
