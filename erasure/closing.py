"""Closing a request once its runs have ended: the closing `erasure.request` receipt, the
checkpoint that covers it, consent withdrawn, and the subject's bundle link mailed (by a task
of its own, `erasure.send_bundle_link`)."""

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import structlog
from django.conf import settings
from django.db import transaction

from consent.services import consent_withdraw_all
from core.actors import SYSTEM
from erasure import dispatch
from erasure.models import AffectedModel, ErasureRequest, RequestSubjectKey, State, TargetRun
from erasure.services import (
    erasure_request_fields_changed,
    erasure_request_steps_together,
    erasure_request_transition,
)
from ledger import bodies
from ledger.selectors import receipt_leaves
from ledger.services import receipts_issue

log = structlog.get_logger(__name__)

ENDED = (TargetRun.Status.DONE, TargetRun.Status.FAILED)
COMPLETE = (TargetRun.Outcome.ERASED, TargetRun.Outcome.NOTHING_FOUND)


def erasure_request_close_if_done(*, request_id) -> None:
    """Close an executing request whose runs have all ended (a no-op otherwise). Called after
    the commit that fails a run for good, and by the sweeper for a request whose closing was
    lost; a run that ends with its receipt closes its request itself (`erasure.runs`)."""
    erasure_requests_close_if_done(request_ids=[request_id])


def erasure_requests_close_if_done(*, request_ids: list) -> int:
    """Close those of these requests that are executing and whose runs have all ended, together:
    one transaction, their closing receipts signed and appended at once, one checkpoint for all.
    Returns how many closed."""
    with transaction.atomic(savepoint=False):  # nothing in it is caught and carried on from
        return erasure_requests_close_ended(executing_locked(request_ids))


def executing_locked(request_ids: Iterable) -> list[ErasureRequest]:
    """Those of these requests still executing, under their row locks (in the caller's
    transaction), in key order: two callers with overlapping requests never deadlock."""
    return list(
        ErasureRequest.objects.select_for_update()
        .filter(pk__in=list(request_ids), state=State.EXECUTING)
        .order_by("pk")
    )


def erasure_requests_close_ended(requests: list[ErasureRequest], *, issued: Iterable = ()) -> int:
    """Close those of these executing requests, locked by the caller (`executing_locked`), whose
    runs have all ended. The row lock is what makes "all ended" hold: whoever ends a request's
    last run takes it after the other runs' ends committed, and so sees them. `issued`: their
    runs' receipts the caller has just issued (not read again)."""
    runs_of: dict = {request.pk: [] for request in requests}
    for run in TargetRun.objects.filter(request__in=requests):
        runs_of[run.request_id].append(run)
    closing = []
    # Each request's closing step and its closing receipt's id are written together: for a
    # pass of many requests, one INSERT and one UPDATE in all.
    with erasure_request_steps_together(*requests):
        for request in requests:
            runs = runs_of[request.pk]
            if any(run.status not in ENDED for run in runs):
                continue
            complete = all(run.outcome in COMPLETE for run in runs)
            closed = erasure_request_transition(
                request=request,
                to_state=State.COMPLETED if complete else State.PARTIALLY_COMPLETED,
                actor=SYSTEM,
                reason=f"{len(runs)} target(s) done",
                locked=True,
            )
            outcome = "completed" if complete else "partially_completed"
            closing.append((closed, outcome, runs))
        erasure_requests_close(closing, issued=issued)
    return len(closing)


def erasure_request_close(request: ErasureRequest, *, outcome: str) -> None:
    """The closing receipt (inside the caller's transaction); for an erasure, consent is
    withdrawn too, and the subject is sent the link to their bundle."""
    erasure_requests_close([(request, outcome, list(request.runs.all()))])


def erasure_requests_close(
    closing: list[tuple[ErasureRequest, str, list[TargetRun]]], *, issued: Iterable = ()
) -> None:
    """`erasure_request_close` for many requests (each with its outcome and its runs), inside
    the caller's transaction: the closing receipts in one append, one checkpoint covering all.
    `issued`: receipts of their runs the caller holds (not read again)."""
    if not closing:
        return
    leaves = receipt_leaves(
        (run.receipt_id for _, _, runs in closing for run in runs if run.receipt_id), known=issued
    )
    decisions: dict = {request.pk: [] for request, _, _ in closing}
    for request_id, model_version_id, decision in (
        AffectedModel.objects.filter(request__in=list(decisions))
        .order_by("model_version_id")
        .values_list("request_id", "model_version_id", "decision")
    ):
        decisions[request_id].append((model_version_id, decision))
    issued = receipts_issue(
        bodies=[
            bodies.erasure_request(
                request=request,
                outcome=outcome,
                target_leaves={
                    str(run.target_id): leaves[run.receipt_id] for run in runs if run.receipt_id
                },
                affected_models=decisions[request.pk],
            )
            for request, outcome, runs in closing
        ],
        # Signed with the closing, so each subject's bundle has its proofs as soon as it is sent.
        checkpoint=True,
    )
    for (request, outcome, _), receipt in zip(closing, issued, strict=True):
        request.closing_receipt_id = receipt.receipt_id
        log.info("erasure.request_closed", request=str(request.pk), outcome=outcome)
    erasure_request_fields_changed([r for r, _, _ in closing], ["closing_receipt_id"])
    erased = [request for request, outcome, _ in closing if outcome != "denied"]
    subject_keys = list(
        RequestSubjectKey.objects.filter(request__in=erased).values_list(
            "request_id", "key", "id_type"
        )
    )
    _withdraw_consent(erased, subject_keys)
    for request_id in sorted({pk for pk, _, id_type in subject_keys if id_type == "email"}):
        # Once this commits, by a task of its own: the mail server is not this one's to wait
        # for, nor can its failure undo the closing.
        transaction.on_commit(
            lambda r=request_id: dispatch.bundle_link_enqueue(request_id=r), robust=True
        )


def _withdraw_consent(
    requests: list[ErasureRequest], subject_keys: list[tuple[Any, str, str]]
) -> None:
    """After an erasure, every consent its subject gave is withdrawn, under the jurisdiction of
    the request's subject (one call for the requests of each). `subject_keys`: the requests'
    (request id, key, identifier type)."""
    jurisdiction = {r.pk: r.subject_country or settings.LUP_MARKETS[0] for r in requests}
    keys: dict[str, list[str]] = defaultdict(list)
    for request_id, key, _ in subject_keys:
        keys[jurisdiction[request_id]].append(key)
    for where, keys_there in sorted(keys.items()):
        consent_withdraw_all(keys=keys_there, jurisdiction=where, method="erasure")
