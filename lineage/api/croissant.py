"""Croissant dataset card import and export."""

from urllib.parse import urlencode

from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    extend_schema,
    extend_schema_serializer,
)
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from access import scopes
from core.errors import ApplicationError, NotFound
from core.openapi import ERROR
from core.parsers import LimitedJSONParser
from lineage.api.examples import CARD_EXAMPLE
from lineage.api.openapi import CroissantCardSerializer
from lineage.croissant import croissant_export, croissant_import
from lineage.models import DatasetVersion
from lineage.selectors import node_object

JSON_LD = "application/ld+json"


class LimitedJSONLDParser(LimitedJSONParser):
    """A card posted as `application/ld+json`: JSON, under the same size limit."""

    media_type = JSON_LD


def _dataset_version(*, dataset: str, version: str | None) -> DatasetVersion:
    """`<namespace>:<name>` (namespaces may hold colons), at `version` or its latest."""
    if ":" not in dataset:
        raise ApplicationError(
            "dataset is <namespace>:<name>.",
            code="invalid_dataset",
            fields={"dataset": "invalid_dataset"},
        )
    versions = DatasetVersion.objects.filter(
        dataset=node_object(f"dataset:{dataset}")
    ).select_related("dataset")
    if version:
        # PostgreSQL text holds no NUL, so no version has one; asking for it would fail.
        versions = versions.filter(version=version) if "\x00" not in version else versions.none()
    chosen = versions.order_by("-created_at").first()
    if chosen is None:
        raise NotFound("No such dataset version.", code="unknown_version")
    return chosen


class CroissantExportApi(APIView):
    """A dataset version's card in Croissant 1.0 JSON-LD (its latest version by default)."""

    required_scope = scopes.LINEAGE_READ

    @extend_schema(
        parameters=[
            OpenApiParameter("dataset", str, required=True, description="`<namespace>:<name>`"),
            OpenApiParameter("version", str, description="the latest when omitted"),
        ],
        responses={(200, JSON_LD): CroissantCardSerializer, 404: ERROR},
        examples=[CARD_EXAMPLE],
    )
    def get(self, request):
        dataset = request.query_params.get("dataset")
        if not dataset:
            raise ApplicationError(
                "dataset is required.", code="invalid_dataset", fields={"dataset": "required"}
            )
        version = _dataset_version(
            dataset=dataset, version=request.query_params.get("version") or None
        )
        # The card's url names this version, even when the request asked for the latest.
        url = request.build_absolute_uri(
            f"{request.path}?{urlencode({'dataset': dataset, 'version': version.version})}"
        )
        card = croissant_export(version=version, url=url)
        return Response(card, content_type=JSON_LD)


class CroissantImportApi(APIView):
    """Register a dataset and a version from a Croissant card posted as the body."""

    required_scope = scopes.LINEAGE_WRITE
    parser_classes = [LimitedJSONParser, LimitedJSONLDParser]

    @extend_schema_serializer(component_name="CroissantImported")
    class OutputSerializer(serializers.Serializer):
        id = serializers.UUIDField()
        dataset = serializers.CharField(source="dataset.node_id")
        version = serializers.CharField()
        digest = serializers.CharField()

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "namespace",
                str,
                required=True,
                description="the namespace the dataset is registered in",
            )
        ],
        request={"application/json": CroissantCardSerializer, JSON_LD: CroissantCardSerializer},
        responses={201: OutputSerializer, 409: ERROR},
        examples=[
            OpenApiExample("A card", value=CARD_EXAMPLE.value, request_only=True),
            OpenApiExample(
                "Imported",
                value={
                    "id": "5b0c2a8e-3f41-4c7e-9d0a-6f1e2b3c4d5e",
                    "dataset": "dataset:hf://datasets/acme:khm-vie-qa",
                    "version": "v1",
                    "digest": "sha256:642a" + "0" * 56 + "8fb8",
                },
                response_only=True,
                status_codes=["201"],
            ),
        ],
    )
    def post(self, request):
        version = croissant_import(
            document=request.data, namespace=request.query_params.get("namespace", "")
        )
        return Response(self.OutputSerializer(version).data, status=status.HTTP_201_CREATED)
