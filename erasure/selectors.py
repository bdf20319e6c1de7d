import uuid
from typing import Any

from django.db.models import QuerySet

from config.errors import Conflict, NotFound
from erasure.models import CLOSED_STATES, ErasureRequest, State
from erasure.services import erasure_request_opening
from ledger.keys import signer
from ledger.models import Receipt
from ledger.selectors import bundle
from ledger.services import checkpoint_covering


def erasure_requests() -> QuerySet[ErasureRequest]:
    return ErasureRequest.objects.prefetch_related("transitions")


def erasure_request_get(*, request_id: uuid.UUID) -> ErasureRequest:
    found = erasure_requests().filter(pk=request_id).first()
    if found is None:
        raise NotFound("No such erasure request.", code="unknown_request")
    return found


def erasure_request_bundle(*, request: ErasureRequest) -> dict[str, Any]:
    """Every receipt of a closed request with proofs against one checkpoint, and the opening of
    the subject commitment (gone once the identifiers are shredded)."""
    if request.closing_receipt_id is None:
        raise Conflict("The request is not closed yet.", code="not_closed")
    ids = [*request.runs.exclude(receipt_id=None).values_list("receipt_id", flat=True),
           request.closing_receipt_id]
    receipts = list(Receipt.objects.filter(receipt_id__in=ids).order_by("leaf_index"))
    checkpoint = checkpoint_covering(receipts[-1].leaf_index)
    return bundle(receipts=receipts, checkpoint=checkpoint, verifier_key=signer().verifier_key,
                  opening=erasure_request_opening(request=request))


# The steps a subject sees on their status page, in order.
SUBJECT_STEPS = (State.RECEIVED, State.VERIFIED, State.EXECUTING, State.COMPLETED)


def erasure_request_progress(*, request: ErasureRequest) -> dict[str, Any]:
    """What the subject's status page shows: each step with when it happened, the deadline,
    targets done of planned. No identifiers, no target names, no reasons written by staff."""
    reached = {t.to_state: t.at for t in request.transitions.order_by("at")}
    closed = request.state in CLOSED_STATES
    steps = [{"state": state, "at": reached.get(state)} for state in SUBJECT_STEPS]
    if closed:
        steps[-1] = {"state": request.state, "at": request.closed_at}
    runs = request.runs.all()
    return {
        "state": request.state,
        "closed": closed,
        "awaiting_approval": request.state == State.AWAITING_APPROVAL,
        "received_at": request.received_at,
        "deadline": request.deadline,
        "steps": steps,
        "targets_total": request.plan.count(),
        "targets_done": runs.filter(receipt_id__isnull=False).count(),
        "has_bundle": closed and request.closing_receipt_id is not None,
    }
