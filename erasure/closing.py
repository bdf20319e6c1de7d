"""Closing a request once its runs have ended: the closing `erasure.request` receipt, the
checkpoint that covers it, consent withdrawn, and the subject's bundle link sent."""

import structlog
from django.conf import settings
from django.db import transaction

from consent.services import consent_withdraw_all
from core.actors import SYSTEM
from erasure.bundle_links import send_bundle_link
from erasure.models import ErasureRequest, State, TargetRun
from erasure.services import erasure_request_identifiers, erasure_request_transition
from ledger import bodies
from ledger.selectors import receipt_leaves
from ledger.services import checkpoint_for, receipts_issue

log = structlog.get_logger(__name__)

ENDED = (TargetRun.Status.DONE, TargetRun.Status.FAILED)
COMPLETE = (TargetRun.Outcome.ERASED, TargetRun.Outcome.NOTHING_FOUND)


def erasure_request_close_if_done(*, request_id) -> None:
    """Close an executing request whose runs have all ended (a no-op otherwise). Called after
    the commit that ends a run, and by the sweeper for a request whose closing was lost."""
    with transaction.atomic():
        request = ErasureRequest.objects.select_for_update().get(pk=request_id)
        if request.state != State.EXECUTING:
            return
        runs = list(request.runs.all())
        if any(run.status not in ENDED for run in runs):
            return
        complete = all(run.outcome in COMPLETE for run in runs)
        closed = erasure_request_transition(
            request=request,
            to_state=State.COMPLETED if complete else State.PARTIALLY_COMPLETED,
            actor=SYSTEM,
            reason=f"{len(runs)} target(s) done",
            locked=True,
        )
        outcome = "completed" if complete else "partially_completed"
        erasure_request_close(closed, outcome=outcome, runs=runs)


def erasure_request_close(
    request: ErasureRequest, *, outcome: str, runs: list[TargetRun] | None = None
) -> None:
    """The closing receipt (inside the caller's transaction); for an erasure, consent is
    withdrawn too, and the subject is sent the link to their bundle. `runs`: the request's
    runs, when the caller has read them in this transaction."""
    runs = [run for run in (request.runs.all() if runs is None else runs) if run.receipt_id]
    leaves = receipt_leaves(run.receipt_id for run in runs)
    body = bodies.erasure_request(
        request=request,
        outcome=outcome,
        target_leaves={str(run.target_id): leaves[run.receipt_id] for run in runs},
        affected_models=list(
            request.affected_models.order_by("model_version_id").values_list(
                "model_version_id", "decision"
            )
        ),
    )
    (receipt,) = receipts_issue(bodies=[body])
    ErasureRequest.objects.filter(pk=request.pk).update(closing_receipt_id=receipt.receipt_id)
    # Signed with the closing, so the subject's bundle has its proofs as soon as it is sent.
    checkpoint_for(index=receipt.leaf_index)
    log.info("erasure.request_closed", request=str(request.pk), outcome=outcome)
    if outcome == "denied":
        return
    consent_withdraw_all(
        keys=list(request.subject_keys.values_list("key", flat=True)),
        jurisdiction=request.subject_country or settings.LUP_MARKETS[0],
        method="erasure",
    )
    emails = [
        i["value"] for i in erasure_request_identifiers(request=request) if i["id_type"] == "email"
    ]
    if emails:
        # Robust: a mail server down must not undo, or fail, the closing that committed.
        transaction.on_commit(
            lambda: send_bundle_link(request=request, address=emails[0]), robust=True
        )
