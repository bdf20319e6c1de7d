import uuid
from typing import Any

from django.db.models import QuerySet

from config.errors import Conflict, NotFound
from erasure.models import ErasureRequest
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
