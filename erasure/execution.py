"""Running a planned request: the approval gate, one task per (request, target), post-checks,
receipts, and the closing receipt.

A run's state change and its receipt commit together, and a run that already has a receipt is
never run again, so a task delivered twice (a worker killed, a broker that redelivers) neither
erases twice nor receipts twice, and never skips the post-check.
"""

import base64
from collections import defaultdict
from dataclasses import asdict
from datetime import datetime

import structlog
from django.conf import settings
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from connectors import (
    CONNECTORS,
    Awaiting,
    Connector,
    Erased,
    Handover,
    Reported,
    Verified,
    connector_for,
)
from core.errors import ApplicationError, Conflict, NotFound
from erasure.bundle_links import send_bundle_link
from erasure.consent_withdrawal import withdraw_all_consent
from erasure.models import (
    AffectedModel,
    ErasureRequest,
    LegalHold,
    State,
    TargetRun,
)
from erasure.services import erasure_request_identifiers, erasure_request_transition
from ledger import verify
from ledger.models import Receipt
from ledger.services import checkpoint_for, receipts_issue, utc_time

log = structlog.get_logger(__name__)


# --- the gate ---------------------------------------------------------------------------------


def approval_reasons(request: ErasureRequest) -> list[str]:
    entries = list(request.plan.all())
    reasons = []
    if any(entry.requires_approval for entry in entries):
        reasons.append("a target requires approval")
    if len(entries) > settings.LUP_APPROVAL_MAX_TARGETS:
        reasons.append(f"more than {settings.LUP_APPROVAL_MAX_TARGETS} targets")
    if request.affected_models.exists():
        reasons.append("models were trained or evaluated on the subject's data")
    return reasons


def erasure_request_gate(*, request: ErasureRequest, actor: str) -> ErasureRequest:
    """After planning: wait for a human where policy says so, or start."""
    reasons = approval_reasons(request)
    if reasons:
        return erasure_request_transition(
            request=request,
            to_state=State.AWAITING_APPROVAL,
            actor=actor,
            reason="; ".join(reasons),
        )
    return _start(request=request, actor=actor, reason="no approval needed")


def erasure_request_proceed(*, request_id, actor: str) -> ErasureRequest:
    """A verified request's next steps without a human: plan it, then the gate (which starts it
    or leaves it for approval). Anything past `verified` is left as it is, so a retried or
    duplicated call is harmless."""
    from erasure.planning import erasure_request_plan

    with transaction.atomic():
        request = ErasureRequest.objects.select_for_update().get(pk=request_id)
        if request.state != State.VERIFIED:
            return request
        planned = erasure_request_plan(request=request, actor=actor)
        return erasure_request_gate(request=planned, actor=actor)


def erasure_request_proceed_later(*, request: ErasureRequest) -> None:
    """Plan and start in a worker once the caller's transaction commits (planning asks lineage
    and identity sources, which may be slow; the subject's page must not wait for it)."""
    from erasure.tasks import erasure_proceed

    transaction.on_commit(lambda: erasure_proceed.delay(str(request.pk)))


def affected_model_decide(
    *, request: ErasureRequest, model_version_id, decision: str, justification: str, actor: str
) -> AffectedModel:
    if decision not in {
        AffectedModel.Decision.RETRAIN,
        AffectedModel.Decision.UNLEARN,
        AffectedModel.Decision.KEEP,
    }:
        raise ApplicationError("decision is retrain, unlearn or keep.", code="invalid_decision")
    if decision == AffectedModel.Decision.KEEP and not justification.strip():
        raise ApplicationError(
            "Keeping a model needs a written justification.", code="justification_required"
        )
    affected = AffectedModel.objects.filter(
        request=request, model_version_id=model_version_id
    ).first()
    if affected is None:
        raise ApplicationError(
            "That model is not affected by this request.", code="unknown_model_version"
        )
    affected.decision = decision
    affected.justification = justification.strip()
    affected.decided_by = actor
    affected.decided_at = timezone.now()
    affected.save()
    return affected


def erasure_request_approve(*, request: ErasureRequest, actor: str, reason: str) -> ErasureRequest:
    if not reason.strip():
        raise ApplicationError("Say why it is approved.", code="reason_required")
    if request.affected_models.filter(decision=AffectedModel.Decision.PENDING).exists():
        raise Conflict("Decide on every affected model first.", code="models_undecided")
    if request.state != State.AWAITING_APPROVAL:
        raise Conflict("This request is not awaiting approval.", code="invalid_transition")
    return _start(request=request, actor=actor, reason=reason.strip())


def erasure_request_deny(*, request: ErasureRequest, actor: str, reason: str) -> ErasureRequest:
    if not reason.strip():
        raise ApplicationError("Say why it is denied.", code="reason_required")
    with transaction.atomic():
        denied = erasure_request_transition(
            request=request, to_state=State.DENIED, actor=actor, reason=reason.strip()
        )
        _close(denied, outcome="denied")
    return denied


def _start(*, request: ErasureRequest, actor: str, reason: str) -> ErasureRequest:
    with transaction.atomic():
        started = erasure_request_transition(
            request=request, to_state=State.EXECUTING, actor=actor, reason=reason
        )
        runs = TargetRun.objects.bulk_create(
            [
                TargetRun(request=started, target_id=entry.target_id, enqueued_at=timezone.now())
                for entry in started.plan.all()
            ]
        )
        if not runs:
            _close_if_done(started.pk)
        for run in runs:
            transaction.on_commit(lambda r=run: target_run_enqueue(run=r))
    return started


def erasure_request_retry_failed(
    *, request: ErasureRequest, actor: str, reason: str, now: datetime | None = None
) -> ErasureRequest:
    """Run the failed targets of a partial or failed request again, with who and why.

    Each failed run goes back to pending with its outcome, error, counts and receipt link
    cleared; its attempts are kept, and a failed receipt stays in the ledger as history. The
    request is open again until its runs end, when it closes with a new closing receipt.
    """
    if not reason.strip():
        raise ApplicationError("Say why the failed targets are run again.", code="reason_required")
    now = now or timezone.now()
    with transaction.atomic():
        locked = ErasureRequest.objects.select_for_update().get(pk=request.pk)
        if locked.shredded_at is not None:
            raise ApplicationError(
                "This request's identifiers were shredded.", code="identifiers_shredded"
            )
        failed = list(
            TargetRun.objects.select_for_update()
            .filter(request=locked, status=TargetRun.Status.FAILED)
            .select_related("target", "request")
        )
        if not failed:
            raise Conflict("No target of this request has failed.", code="no_failed_targets")
        reopened = erasure_request_transition(
            request=locked, to_state=State.EXECUTING, actor=actor, reason=reason.strip(), now=now
        )
        # Open again: the earlier closing receipt stays in the ledger, and the retention
        # clock starts anew when the request closes again.
        reopened.closed_at = reopened.retention_until = reopened.closing_receipt_id = None
        reopened.save(update_fields=["closed_at", "retention_until", "closing_receipt_id"])
        for run in failed:
            run.status = TargetRun.Status.PENDING
            run.outcome = run.last_error = ""
            run.erased = {}
            run.receipt_id = None
            run.enqueued_at = now
            run.save(
                update_fields=[
                    "status",
                    "outcome",
                    "last_error",
                    "erased",
                    "receipt_id",
                    "enqueued_at",
                    "updated_at",
                ]
            )
            transaction.on_commit(lambda r=run: target_run_enqueue(run=r))
    log.info("erasure.failed_targets_retried", request=str(reopened.pk), runs=len(failed))
    return reopened


def target_run_enqueue(*, run: TargetRun, now: datetime | None = None) -> None:
    from erasure.tasks import erasure_run_target

    # A queue per connector kind, so slow targets do not starve fast ones.
    erasure_run_target.apply_async(
        args=[run.pk],
        queue=f"erasure.{run.target.kind}",
        countdown=batch_delay(run=run, now=now or timezone.now()),
    )


def batch_delay(*, run: TargetRun, now: datetime) -> float:
    """Seconds a run waits for others on its target so that one pass serves them all: the
    batch window, unless the batch is already full, and never so long that less than a window
    is left before the request's deadline."""
    window = settings.LUP_BATCH_WINDOW_SECONDS
    if window <= 0 or run.status != TargetRun.Status.PENDING:
        return 0
    if not CONNECTORS.get(run.target.kind, Connector).batches:
        return 0
    pending = TargetRun.objects.filter(
        target_id=run.target_id, status=TargetRun.Status.PENDING
    ).count()
    if pending >= settings.LUP_BATCH_MAX:
        return 0
    deadline = run.request.deadline
    left = (deadline - now).total_seconds() if deadline else window * 2
    return max(0.0, min(float(window), left - window))


# --- one target -----------------------------------------------------------------------------


def _holds(run: TargetRun, now: datetime) -> LegalHold | None:
    keys = list(run.request.subject_keys.values_list("key", flat=True))
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
    wanted = set(run.target.id_types)
    values: dict[str, list[str]] = defaultdict(list)
    for identifier in erasure_request_identifiers(request=run.request):
        if identifier["id_type"] in wanted:
            values[identifier["id_type"]].append(identifier["value"])
    return dict(values)


def target_run_execute(*, run_id: int) -> TargetRun:
    """Erase, look again, and receipt one target of one request (idempotent)."""
    run = TargetRun.objects.select_related("request", "target").get(pk=run_id)
    if run.status in (
        TargetRun.Status.DONE,
        TargetRun.Status.FAILED,
        TargetRun.Status.AWAITING_PERSON,
        TargetRun.Status.AWAITING_CALLBACK,
    ):
        return run
    now = timezone.now()
    connector = connector_for(run.target.kind, run.target.config)
    values = _values(run)
    hold = _holds(run, now)
    if hold is not None:
        found = connector.locate(values).count if values else 0
        action = {
            "op": "none",
            "method": "legal-hold",
            "count": "0",
            "started_at": utc_time(now),
            "completed_at": utc_time(now),
        }
        postcheck = {"method": "locate", "remaining": str(found), "at": utc_time(now)}
        return _finish(
            run,
            outcome="held",
            action=action,
            postcheck=postcheck,
            exception={"basis": hold.basis, "until": utc_time(hold.until)},
        )
    if not values:
        action = {
            "op": "none",
            "method": "no-usable-identifier",
            "count": "0",
            "started_at": utc_time(now),
            "completed_at": utc_time(now),
        }
        postcheck = {"method": "none", "remaining": "0", "at": utc_time(now)}
        return _finish(run, outcome="nothing_found", action=action, postcheck=postcheck)
    if connector.hands_over:
        return _handed_over(run, connector, values)
    if run.status == TargetRun.Status.PENDING and connector.batches:
        _erase_batch(run, connector, values)
        # Done here, or by another worker's batch that holds this run (the sweeper enqueues
        # it again should that worker die before its receipt).
        run.refresh_from_db()
        return run
    if run.status == TargetRun.Status.PENDING:
        erased = connector.erase(values)
        # Recorded before the post-check: a crash after this point re-runs only the check.
        TargetRun.objects.filter(pk=run.pk).update(
            status=TargetRun.Status.ERASED,
            erased=_recorded(erased),
            attempts=run.attempts + 1,
        )
        run.refresh_from_db()
    return _checked(run, connector.verify(values))


def _handed_over(run: TargetRun, connector: Connector, values: dict[str, list[str]]) -> TargetRun:
    """A person or another system erases: the run waits for their report, or ends on the
    report they gave at once."""
    handover = Handover(
        request_id=str(run.request_id),
        run_id=run.pk,
        callback_url=f"{settings.LUP_PUBLIC_URL}/api/v1/erasure/callbacks/{run.pk}",
    )
    started = connector.start(values, handover=handover)
    if isinstance(started, Awaiting):
        TargetRun.objects.filter(pk=run.pk, status=TargetRun.Status.PENDING).update(
            status=started.value
        )
        run.refresh_from_db()
        return run
    return _reported(run, started)


def _recorded(erased: Erased) -> dict:
    return {k: (utc_time(v) if isinstance(v, datetime) else v) for k, v in asdict(erased).items()}


def _checked(run: TargetRun, checked: Verified) -> TargetRun:
    """Receipt an erased run with its post-check."""
    erased = run.erased
    action = {
        "op": erased["op"],
        "method": erased["method"],
        "count": str(erased["count"]),
        "started_at": erased["started_at"],
        "completed_at": erased["completed_at"],
    }
    postcheck = {
        "method": checked.method,
        "remaining": str(checked.remaining),
        "at": utc_time(checked.at),
    }
    outcome = _outcome(remaining=checked.remaining, count=erased["count"])
    extra = {k: erased[k] for k in ("before", "after") if erased.get(k)}
    return _finish(run, outcome=outcome, action=action, postcheck=postcheck, **extra)


def _erase_batch(run: TargetRun, connector: Connector, values: dict[str, list[str]]) -> None:
    """Erase every pending run of this run's target in one pass (a file rewritten once, one
    scan of a keyspace, one statement per batch of values), then post-check them in one pass
    and receipt each: every run gets its own count, with the shared before/after digests.
    Nothing happens when another worker's batch holds this run."""
    with transaction.atomic():
        batch = list(
            TargetRun.objects.select_for_update(skip_locked=True)
            .filter(
                target_id=run.target_id,
                status=TargetRun.Status.PENDING,
                request__state=State.EXECUTING,
            )
            .select_related("request", "target")
            .order_by("pk")[: settings.LUP_BATCH_MAX]
        )
        if not any(member.pk == run.pk for member in batch):
            return
        now = timezone.now()
        # The others' holds and identifiers are checked here; held runs and runs with nothing
        # to look for are left to their own tasks.
        groups = {run.pk: values}
        for member in batch:
            if member.pk != run.pk and (found := _values(member)) and not _holds(member, now):
                groups[member.pk] = found
        results = connector.erase_groups(groups)
        for pk, erased in results.items():
            TargetRun.objects.filter(pk=pk).update(
                status=TargetRun.Status.ERASED,
                erased=_recorded(erased),
                attempts=models.F("attempts") + 1,
            )
    log.info("erasure.batch_erased", target=run.target.name, runs=len(results))
    checks = connector.verify_groups(groups)
    for member in TargetRun.objects.filter(pk__in=list(groups)).select_related("request", "target"):
        _checked(member, checks[member.pk])


def _outcome(*, remaining: int, count: int) -> str:
    """A post-check that still finds the subject means the erasure failed, whatever it did."""
    if remaining:
        return "failed"
    return "erased" if count else "nothing_found"


def _finish(
    run: TargetRun,
    *,
    outcome: str,
    action: dict,
    postcheck: dict,
    exception: dict | None = None,
    before: str = "",
    after: str = "",
) -> TargetRun:
    with transaction.atomic():
        locked = (
            TargetRun.objects.select_for_update().select_related("request", "target").get(pk=run.pk)
        )
        if locked.receipt_id:  # another delivery of this task finished first
            return locked
        target = locked.target
        body = {
            "type": "erasure.target",
            "subject": {"commit": locked.request.subject_commit},
            "request": {"id": str(locked.request_id)},
            "target": {
                "id": str(target.pk),
                "kind": target.kind,
                "name": target.name,
                "location": target.country,
            },
            "outcome": outcome,
            "action": action,
            "postcheck": postcheck,
        }
        if before and after:
            body["before"], body["after"] = before, after
        if exception:
            body["exception"] = exception
        (receipt,) = receipts_issue(bodies=[body])
        locked.receipt_id = receipt.receipt_id
        locked.outcome = outcome
        locked.status = TargetRun.Status.DONE if outcome != "failed" else TargetRun.Status.FAILED
        locked.save(update_fields=["receipt_id", "outcome", "status", "updated_at"])
        request_id = locked.request_id
        transaction.on_commit(lambda: _close_if_done(request_id))
    log.info("erasure.target_done", request=str(request_id), target=target.name, outcome=outcome)
    return locked


def target_run_attest(*, run: TargetRun, erased: int, remaining: int, actor: str) -> TargetRun:
    """A person did a manual target's erasure and says what they found: the receipt attests
    their statement (the kind's method, `manual-attestation`), naming no more than that."""
    if run.status != TargetRun.Status.AWAITING_PERSON:
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
    if run.status != TargetRun.Status.AWAITING_CALLBACK:
        raise Conflict("This run is not waiting for a callback.", code="invalid_transition")
    return _reported(run, report)


def _reported(run: TargetRun, report: Reported) -> TargetRun:
    """Finish a run on counts someone else reported; the receipt names who: its method."""
    now = utc_time(timezone.now())
    action = {
        "op": "delete" if report.erased else "none",
        "method": report.method,
        "count": str(report.erased),
        "started_at": now,
        "completed_at": now,
    }
    postcheck = {"method": report.method, "remaining": str(report.remaining), "at": now}
    outcome = _outcome(remaining=report.remaining, count=report.erased)
    return _finish(run, outcome=outcome, action=action, postcheck=postcheck)


def target_run_fail(*, run_id: int, code: str) -> None:
    """Retries are spent: the target failed, and staff see why (by code)."""
    with transaction.atomic():
        TargetRun.objects.filter(pk=run_id, receipt_id=None).update(
            status=TargetRun.Status.FAILED, outcome="failed", last_error=code
        )
        request_id = TargetRun.objects.filter(pk=run_id).values_list("request_id", flat=True)[0]
        transaction.on_commit(lambda: _close_if_done(request_id))


# --- closing ----------------------------------------------------------------------------------


def erasure_request_close_if_done(*, request_id) -> None:
    """Close an executing request whose runs have all ended (a no-op otherwise). The sweeper's
    way in: the task that ends the last run closes its request only after its own commit."""
    _close_if_done(request_id)


def _close_if_done(request_id) -> None:
    with transaction.atomic():
        request = ErasureRequest.objects.select_for_update().get(pk=request_id)
        if request.state != State.EXECUTING:
            return
        runs = list(request.runs.all())
        if any(run.status not in (TargetRun.Status.DONE, TargetRun.Status.FAILED) for run in runs):
            return
        complete = all(run.outcome in ("erased", "nothing_found") for run in runs)
        outcome = "completed" if complete else "partially_completed"
        closed = erasure_request_transition(
            request=request,
            to_state=State.COMPLETED if complete else State.PARTIALLY_COMPLETED,
            actor="system",
            reason=f"{len(runs)} target(s) done",
        )
        _close(closed, outcome=outcome)


def _leaf_b64(receipt: Receipt) -> str:
    return base64.b64encode(verify.leaf_hash(verify.leaf_input(bytes(receipt.payload)))).decode()


def _close(request: ErasureRequest, *, outcome: str) -> None:
    """The closing `erasure.request` receipt; for an erasure, consent is withdrawn too."""
    runs = list(request.runs.exclude(receipt_id=None))
    receipts = Receipt.objects.in_bulk([run.receipt_id for run in runs])
    considered = (request.rules or {}).get("considered") or []
    body = {
        "type": "erasure.request",
        "subject": {"commit": request.subject_commit},
        "request": {
            "id": str(request.pk),
            "received_at": utc_time(request.received_at),
            "verified_at": utc_time(request.verified_at or request.received_at),
            "deadline": utc_time(request.deadline or request.received_at),
            "jurisdictions": sorted(considered),
        },
        "outcome": outcome,
        "targets": sorted(
            (
                {"target_id": str(run.target_id), "leaf": _leaf_b64(receipts[run.receipt_id])}
                for run in runs
            ),
            key=lambda t: t["target_id"],
        ),
        "affected_models": [
            {"id": str(model.model_version_id), "decision": model.decision}
            for model in request.affected_models.order_by("model_version_id")
        ],
    }
    (receipt,) = receipts_issue(bodies=[body])
    ErasureRequest.objects.filter(pk=request.pk).update(closing_receipt_id=receipt.receipt_id)
    # Signed with the closing, so the subject's bundle has its proofs as soon as it is sent.
    checkpoint_for(index=receipt.leaf_index)
    if outcome != "denied":
        withdraw_all_consent(request=request)
        emails = [
            i["value"]
            for i in erasure_request_identifiers(request=request)
            if i["id_type"] == "email"
        ]
        if emails:
            transaction.on_commit(lambda: send_bundle_link(request=request, address=emails[0]))
