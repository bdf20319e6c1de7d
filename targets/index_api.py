"""The API of a target's subject index: start a build (and set its schedule), read its
progress."""

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from access import scopes
from core.openapi import ErrorSerializer
from erasure.api.views import actor_of
from targets.api import _target
from targets.indexing import MAX_EVERY_MINUTES, target_index_start
from targets.models import TargetIndex

NOT_INDEXED = "not_indexed"

STATUS_EXAMPLE = {
    "target": 7,
    "state": "running",
    "every_minutes": 60,
    "requested_at": "2026-12-06T01:00:00Z",
    "requested_by": "token:ci",
    "started_at": "2026-12-06T01:00:01Z",
    "finished_at": None,
    "indexed_at": "2026-12-06T00:00:09Z",
    "records": 1200000,
    "identifiers": 1200000,
    "invalid": 3,
    "keys_staged": 40000,
    "subjects": None,
    "versions": 1,
    "error_code": "",
}


class TargetIndexStatusSerializer(serializers.ModelSerializer):
    """A target's subject index. `state`: `queued`, `running`, `done`, `failed` (`error_code`
    says why; the versions keep their earlier membership), or `not_indexed` (never asked for).
    Counts only: `records` read so far, `identifiers` found in them, `invalid` ones (no valid
    identifier of their type; left out), `keys_staged` (distinct within each batch), and, once
    done, `subjects` (distinct) made the membership of each of its `versions`. `indexed_at`:
    when the last build finished well."""

    target = serializers.IntegerField(source="target_id")
    state = serializers.ChoiceField(choices=[*TargetIndex.State.values, NOT_INDEXED])

    class Meta:
        model = TargetIndex
        fields = (
            "target",
            "state",
            "every_minutes",
            "requested_at",
            "requested_by",
            "started_at",
            "finished_at",
            "indexed_at",
            "records",
            "identifiers",
            "invalid",
            "keys_staged",
            "subjects",
            "versions",
            "error_code",
        )


class TargetIndexInputSerializer(serializers.Serializer):
    every_minutes = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=MAX_EVERY_MINUTES,
        help_text="Rebuild every so many minutes; null stops rebuilding; absent keeps the "
        "schedule as it is.",
    )


class TargetIndexApi(APIView):
    """POST: scan the target for the identifiers its `match` names and make their keys the
    membership of the dataset versions it stores (replacing what they had, at once, when the
    scan ends); `every_minutes` also rebuilds it that often (null: only when asked). A build
    already under way is joined. GET: the index's state and progress."""

    required_scope = {"GET": scopes.ERASURE_READ, "POST": scopes.ERASURE_WRITE}

    @extend_schema(
        operation_id="v1_erasure_targets_index_retrieve",
        responses={200: TargetIndexStatusSerializer, 404: ErrorSerializer},
        examples=[OpenApiExample("A build under way", value=STATUS_EXAMPLE, response_only=True)],
    )
    def get(self, request, target_id: int):
        target = _target(target_id)
        index = TargetIndex.objects.filter(target=target).first()
        if index is None:
            index = TargetIndex(target=target, state=NOT_INDEXED)
        return Response(TargetIndexStatusSerializer(index).data)

    @extend_schema(
        operation_id="v1_erasure_targets_index_create",
        request=TargetIndexInputSerializer,
        responses={
            202: TargetIndexStatusSerializer,
            400: OpenApiResponse(
                ErrorSerializer,
                description="Nothing was changed. `capability_not_supported`: the target's "
                "kind cannot enumerate identifiers; `invalid`: `every_minutes` out of range.",
            ),
            404: OpenApiResponse(ErrorSerializer, description="`unknown_target`."),
            409: OpenApiResponse(
                ErrorSerializer,
                description="`target_not_active` (proposed or retired: never planned), "
                "`target_has_no_versions` (no dataset version to write the membership of).",
            ),
        },
        examples=[
            OpenApiExample("Build now, then every hour", value={"every_minutes": 60}),
            OpenApiExample("Build now only", value={}),
            OpenApiExample(
                "Queued",
                value={
                    **STATUS_EXAMPLE,
                    "state": "queued",
                    "started_at": None,
                    "records": 0,
                    "identifiers": 0,
                    "invalid": 0,
                    "keys_staged": 0,
                },
                response_only=True,
                status_codes=["202"],
            ),
        ],
    )
    def post(self, request, target_id: int):
        target = _target(target_id)
        data = TargetIndexInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        index = target_index_start(target=target, actor=actor_of(request), **data.validated_data)
        return Response(TargetIndexStatusSerializer(index).data, status=status.HTTP_202_ACCEPTED)
