"""The log's public endpoints (RECEIPTS.md §8) and receipts for `ledger:read` holders.

The log holds hashes only and exists to be checked by outsiders, so checkpoints, keys, proofs
and leaves are public; receipts themselves need a token.
"""

import uuid

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from access import scopes
from core.errors import ApplicationError, NotFound
from core.openapi import ERROR
from ledger import selectors
from ledger.api.serializers import (
    CHECKPOINT,
    RECEIPT_EXAMPLE,
    VERIFIER_KEY,
    ReceiptDocumentSerializer,
)
from ledger.keys import signer


def _int(request, name: str) -> int:
    value = request.query_params.get(name, "")
    if not value.isdigit() or len(value) > 19:
        raise ApplicationError(f"{name} must be a non-negative integer.", code="invalid_range")
    return int(value)


class PublicLogApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []


class CheckpointApi(PublicLogApi):
    """The latest signed checkpoint (C2SP tlog-checkpoint note). Reading it signs nothing:
    Celery beat signs one every `LUP_CHECKPOINT_SECONDS` while the log grows."""

    @extend_schema(
        responses={(200, "text/plain"): str, 404: ERROR},
        examples=[OpenApiExample("A checkpoint", value=CHECKPOINT, media_type="text/plain")],
    )
    def get(self, request):
        checkpoint = selectors.latest_checkpoint()
        if checkpoint is None:
            raise NotFound("No checkpoint has been signed yet.", code="empty_log")
        return HttpResponse(checkpoint.note, content_type="text/plain; charset=utf-8")


class VerifierKeyApi(PublicLogApi):
    """The verifier key text of the current signing key."""

    @extend_schema(
        responses={(200, "text/plain"): str},
        examples=[OpenApiExample("The key", value=VERIFIER_KEY + "\n", media_type="text/plain")],
    )
    def get(self, request):
        return HttpResponse(signer().verifier_key + "\n", content_type="text/plain; charset=utf-8")


class KeysApi(PublicLogApi):
    """Every key that signed the log, with the range of indexes it signed."""

    @extend_schema(
        responses=inline_serializer(
            "LogKeys",
            {
                "keys": inline_serializer(
                    "LogKey",
                    {
                        "verifier_key": serializers.CharField(),
                        "key_id": serializers.CharField(),
                        "first_index": serializers.IntegerField(),
                        "last_index": serializers.IntegerField(allow_null=True),
                    },
                    many=True,
                )
            },
        ),
        examples=[
            OpenApiExample(
                "After one rotation",
                value={
                    "keys": [
                        {
                            "verifier_key": "lup.localhost/receipts+1c2d3e4f+AQx…",
                            "key_id": "1c2d3e4f",
                            "first_index": 0,
                            "last_index": 3,
                        },
                        {
                            "verifier_key": VERIFIER_KEY,
                            "key_id": "8da8683d",
                            "first_index": 4,
                            "last_index": None,
                        },
                    ]
                },
            )
        ],
    )
    def get(self, request):
        return Response({"keys": selectors.published_keys()})


class PathSerializer(serializers.Serializer):
    path = serializers.ListField(child=serializers.CharField())


class InclusionProofApi(PublicLogApi):
    @extend_schema(
        parameters=[
            OpenApiParameter("index", int, required=True),
            OpenApiParameter("size", int, required=True),
        ],
        responses=PathSerializer,
        examples=[
            OpenApiExample(
                "A path",
                value={
                    "path": [
                        "u7kT3sP0qL9mN2bV5cX8zA1dF4gH6jK0lQ3wE7rY9tI=",
                        "Zx2Cv4Bn6Mm8Ql0Wk1Ej3Rh5Tg7Yf9Ud2Is4Oa6Pp8A=",
                    ]
                },
            )
        ],
    )
    def get(self, request):
        path = selectors.inclusion_proof(index=_int(request, "index"), size=_int(request, "size"))
        return Response({"path": [selectors.b64(h) for h in path]})


class ConsistencyProofApi(PublicLogApi):
    @extend_schema(
        parameters=[
            OpenApiParameter("first", int, required=True),
            OpenApiParameter("second", int, required=True),
        ],
        responses=PathSerializer,
        examples=[
            OpenApiExample(
                "A path",
                value={
                    "path": [
                        "u7kT3sP0qL9mN2bV5cX8zA1dF4gH6jK0lQ3wE7rY9tI=",
                        "Zx2Cv4Bn6Mm8Ql0Wk1Ej3Rh5Tg7Yf9Ud2Is4Oa6Pp8A=",
                    ]
                },
            )
        ],
    )
    def get(self, request):
        path = selectors.consistency_proof(
            first=_int(request, "first"), second=_int(request, "second")
        )
        return Response({"path": [selectors.b64(h) for h in path]})


class LeavesApi(PublicLogApi):
    """Leaf inputs in [start, end), base64, for independent monitors."""

    @extend_schema(
        parameters=[
            OpenApiParameter("start", int, required=True),
            OpenApiParameter("end", int, required=True),
        ],
        responses=inline_serializer(
            "Leaves",
            {"leaves": serializers.ListField(child=serializers.CharField(help_text="base64"))},
        ),
        examples=[
            OpenApiExample("Two leaves", value={"leaves": ["AHsiYWN0aW9uIjp7…", "AHsiYWZm…"]})
        ],
    )
    def get(self, request):
        leaves = selectors.leaves(start=_int(request, "start"), end=_int(request, "end"))
        return Response({"leaves": [selectors.b64(leaf) for leaf in leaves]})


class ReceiptGetApi(APIView):
    """A receipt's envelope and its proof file against the latest checkpoint (409
    `checkpoint_pending` until a checkpoint includes it)."""

    required_scope = scopes.LEDGER_READ

    @extend_schema(
        responses={200: ReceiptDocumentSerializer, 409: ERROR}, examples=[RECEIPT_EXAMPLE]
    )
    def get(self, request, receipt_id: uuid.UUID):
        receipt = selectors.receipt_get(receipt_id=receipt_id)
        return Response(selectors.receipt_document(receipt))
