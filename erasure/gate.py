"""The approval gate: after planning, a request waits for a person where policy says so, or
starts; staff decide on affected models, approve, deny, or run failed targets again."""

from datetime import datetime

import structlog
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.errors import ApplicationError, Conflict, Forbidden
from erasure import closing, dispatch
from erasure.models import AffectedModel, ErasureRequest, PlanEntry, State, TargetRun
from erasure.planning import erasure_request_plan
from erasure.services import (
    erasure_request_create,
    erasure_request_mark_verified,
    erasure_request_steps_together,
    erasure_request_steps_write,
    erasure_request_transition,
    hold_related,
)

log = structlog.get_logger(__name__)


def approval_reasons(request: ErasureRequest, entries: list[PlanEntry] | None = None) -> list[str]:
    """Why a planned request waits for a person (none: it starts). `entries`: its plan, when
    the caller has read it."""
    entries = list(request.plan.all()) if entries is None else entries
    reasons = []
    if any(entry.requires_approval for entry in entries):
        reasons.append("a target requires approval")
    if len(entries) > settings.LUP_APPROVAL_MAX_TARGETS:
        reasons.append(f"more than {settings.LUP_APPROVAL_MAX_TARGETS} targets")
    if request.affected_models.exists():
        reasons.append("models were trained or evaluated on the subject's data")
    return reasons


def erasure_request_gate(
    *, request: ErasureRequest, actor: str, locked: bool = False
) -> ErasureRequest:
    """After planning: wait for a human where policy says so, or start. `locked`: the caller
    holds `request` under its row lock, in the transaction this runs in."""
    entries = _plan_of(request)
    reasons = approval_reasons(request, entries)
    if reasons:
        return erasure_request_transition(
            request=request,
            to_state=State.AWAITING_APPROVAL,
            actor=actor,
            reason="; ".join(reasons),
            locked=locked,
        )
    return _start(
        request=request, actor=actor, reason="no approval needed", entries=entries, locked=locked
    )


def _plan_of(request: ErasureRequest) -> list[PlanEntry]:
    """Its plan, each entry with its target: as planning left it on the request, else read."""
    if "plan" in getattr(request, "_prefetched_objects_cache", {}):
        return list(request.plan.all())
    return list(request.plan.select_related("target"))


def erasure_request_proceed(*, request_id, actor: str) -> ErasureRequest:
    """A verified request's next steps without a human: plan it, then the gate (which starts it
    or leaves it for approval). Anything past `verified` is left as it is, so a retried or
    duplicated call is harmless."""
    with transaction.atomic():
        request = ErasureRequest.objects.select_for_update().get(pk=request_id)
        if request.state != State.VERIFIED:
            return request
        planned = erasure_request_plan(request=request, actor=actor, locked=True)
        return erasure_request_gate(request=planned, actor=actor, locked=True)


def erasure_request_create_verified(
    *,
    identifiers,
    country: str | None,
    actor: str,
    method: str,
    reason: str,
    plan: bool,
    idempotency_key: str | None = None,
    digest: str = "",
) -> tuple[ErasureRequest, bool]:
    """File a request whose subject the caller has verified by its own `method`, and with
    `plan`, plan it and pass it through the gate: one call for a trusted caller. Returns the
    request and whether it is new.

    Filing, verifying and planning commit together, so a refused verification or plan files
    nothing. A request linked to an earlier open one of the same subject stays verified until
    that one closes (planned then on `…/plan`); a replay of the call (same idempotency key)
    plans a request an earlier attempt could not."""
    method, reason = (method or "").strip(), (reason or "").strip()
    if not method or not reason:
        raise ApplicationError(
            "Say how the identity was verified: a method and a reason.", code="reason_required"
        )
    with transaction.atomic():
        request, created = erasure_request_create(
            identifiers=identifiers,
            country=country,
            channel="api",
            actor=actor,
            idempotency_key=idempotency_key,
            digest=digest,
        )
        if created:
            # A row this transaction inserted is seen by no one else: as good as locked. Its
            # steps (verified, and planned and started or held for approval) are written
            # together.
            with erasure_request_steps_together(request):
                erasure_request_mark_verified(
                    request=request, actor=actor, reason=f"{method}: {reason}", locked=True
                )
                if plan and request.linked_to_id is None:
                    # Filed in this transaction: no plan and no affected models to replace.
                    hold_related(request, "plan", [])
                    hold_related(request, "affected_models", [])
                    erasure_request_plan(request=request, actor=actor, locked=True)
                    erasure_request_gate(request=request, actor=actor, locked=True)
            if plan and request.linked_to_id is None:
                return request, created
    if plan:
        try:
            request = erasure_request_proceed(request_id=request.pk, actor=actor)
        except Conflict as exc:
            if exc.code != "linked_to_open_request":
                raise
    return request, created


def affected_model_decide(
    *, request: ErasureRequest, model_version_id, decision: str, justification: str, actor: str
) -> AffectedModel:
    if decision not in AffectedModel.Decision.values or decision == AffectedModel.Decision.PENDING:
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
    _four_eyes(request, actor)
    if request.affected_models.filter(decision=AffectedModel.Decision.PENDING).exists():
        raise Conflict("Decide on every affected model first.", code="models_undecided")
    if request.state != State.AWAITING_APPROVAL:
        raise Conflict("This request is not awaiting approval.", code="invalid_transition")
    return _start(request=request, actor=actor, reason=reason.strip())


def _four_eyes(request: ErasureRequest, actor: str) -> None:
    """Whoever filed or verified a request may not also approve it, unless the operator allows
    it (`LUP_ALLOW_SELF_APPROVAL`, for a one-person operator)."""
    if settings.LUP_ALLOW_SELF_APPROVAL:
        return
    verifiers = set(
        request.transitions.filter(to_state=State.VERIFIED).values_list("actor", flat=True)
    )
    if actor == request.requested_by or actor in verifiers:
        raise Forbidden(
            "Whoever filed or verified a request cannot approve it.", code="self_approval"
        )


def erasure_request_deny(*, request: ErasureRequest, actor: str, reason: str) -> ErasureRequest:
    if not reason.strip():
        raise ApplicationError("Say why it is denied.", code="reason_required")
    with transaction.atomic():
        denied = erasure_request_transition(
            request=request, to_state=State.DENIED, actor=actor, reason=reason.strip()
        )
        closing.erasure_request_close(denied, outcome="denied")
    return denied


def _start(
    *,
    request: ErasureRequest,
    actor: str,
    reason: str,
    entries: list[PlanEntry] | None = None,
    locked: bool = False,
) -> ErasureRequest:
    """Start every target of the plan (`entries`, with their targets, when the caller has read
    them): a run each, handed to the workers once this commits. `locked`: the caller holds
    `request` under its row lock."""
    with transaction.atomic(savepoint=False):  # nothing in it is caught and carried on from
        started = erasure_request_transition(
            request=request, to_state=State.EXECUTING, actor=actor, reason=reason, locked=locked
        )
        if entries is None:
            entries = list(started.plan.select_related("target"))
        runs = TargetRun.objects.bulk_create(
            [
                TargetRun(request=started, target=entry.target, enqueued_at=timezone.now())
                for entry in entries
            ]
        )
        if not runs:
            erasure_request_steps_write(started)  # closing reads it back, executing
            closing.erasure_request_close_if_done(request_id=started.pk)
        for run in runs:
            transaction.on_commit(lambda r=run: dispatch.target_run_enqueue(run=r), robust=True)
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
            transaction.on_commit(lambda r=run: dispatch.target_run_enqueue(run=r), robust=True)
    log.info("erasure.failed_targets_retried", request=str(reopened.pk), runs=len(failed))
    return reopened
