import uuid

from django.db.models import QuerySet

from config.errors import NotFound
from erasure.models import ErasureRequest


def erasure_requests() -> QuerySet[ErasureRequest]:
    return ErasureRequest.objects.prefetch_related("transitions")


def erasure_request_get(*, request_id: uuid.UUID) -> ErasureRequest:
    found = erasure_requests().filter(pk=request_id).first()
    if found is None:
        raise NotFound("No such erasure request.", code="unknown_request")
    return found
