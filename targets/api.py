"""The target registry's API: register, change, approve, retire and delete erasure targets."""

from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from access import scopes
from core.errors import NotFound
from core.openapi import ERROR, ErrorSerializer
from erasure.api.views import ReasonSerializer, actor_of
from erasure.models import Target, TargetEvent
from targets.openapi import by_kind
from targets.services import target_approve, target_delete, target_retire, target_save


class TargetEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = TargetEvent
        fields = ("action", "actor", "reason", "at")


class TargetProposalSerializer(serializers.Serializer):
    """A registration waiting for a compliance officer's approval, as it was checked: what the
    target becomes when approved. `config` follows its kind's schema (the `config` of the
    variant of that `kind`)."""

    name = serializers.CharField()
    kind = serializers.CharField()
    config = serializers.DictField()
    operation = serializers.ChoiceField(choices=Target.Operation.choices)
    id_types = serializers.ListField(child=serializers.CharField())
    country = serializers.CharField()
    versions = serializers.ListField(child=serializers.UUIDField())
    always = serializers.BooleanField()
    requires_approval = serializers.BooleanField()
    identity_source = serializers.BooleanField()


@extend_schema_field(TargetProposalSerializer(allow_null=True))
class ProposalField(serializers.JSONField):
    """The stored proposal, answered as it is stored."""


class TargetSerializer(serializers.ModelSerializer):
    """A target as engineers register it. `config` holds names and paths; secrets only as the
    name of an environment variable. `state`: only `active` targets are planned; an `always`,
    `webhook` or `identity_source` target is `proposed` until a compliance officer approves
    it, and a change to one waits as its `proposal`. `events`: who proposed, approved or
    retired it, when and why."""

    versions = serializers.PrimaryKeyRelatedField(many=True, read_only=True)
    events = TargetEventSerializer(many=True, read_only=True)
    id_types = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text="The identifier types the target is keyed by, from its config.",
    )
    proposal = ProposalField(read_only=True, allow_null=True)

    class Meta:
        model = Target
        fields = (
            "id",
            "name",
            "kind",
            "config",
            "operation",
            "id_types",
            "country",
            "always",
            "requires_approval",
            "identity_source",
            "versions",
            "state",
            "proposal",
            "events",
            "created_at",
            "updated_at",
        )


class TargetInputSerializer(serializers.Serializer):
    name = serializers.SlugField(max_length=100)
    kind = serializers.CharField(max_length=50)
    config = serializers.DictField()
    operation = serializers.ChoiceField(
        choices=Target.Operation.choices,
        required=False,
        default=Target.Operation.DELETE,
        help_text=Target._meta.get_field("operation").help_text,
    )
    country = serializers.CharField()  # checked by the service: invalid_country
    versions = serializers.ListField(child=serializers.UUIDField(), required=False, default=list)
    always = serializers.BooleanField(required=False, default=False)
    requires_approval = serializers.BooleanField(required=False, default=False)
    identity_source = serializers.BooleanField(required=False, default=False)
    check = serializers.BooleanField(
        required=False,
        default=True,
        help_text="Look at the target before saving it: the file exists, the table and its "
        "columns do, the server answers; else 400 `target_unreachable` naming the config key. "
        "`false` registers a target that is not there yet.",
    )


# The document's view of both: one variant per connector kind, `config` as that kind's schema.
TARGET = by_kind(TargetSerializer, name="Target")
TARGET_INPUT = by_kind(TargetInputSerializer, name="TargetInput")
TARGET_ID = 7
VERSION_ID = "5b0c2a8e-3f41-4c7e-9d0a-6f1e2b3c4d5e"
LOG_INPUT = {
    "name": "eval-harness-log",
    "kind": "text_log",
    "country": "KH",
    "versions": [VERSION_ID],
    "config": {"path": "evals/eval-harness.log", "id_types": ["email"], "rotated": True},
}
TABLE_INPUT = {
    "name": "eval-harness-table",
    "kind": "sqlite_table",
    "country": "KH",
    "versions": [VERSION_ID],
    "config": {"path": "evals/evals.db", "table": "khmer_qa", "match": {"email": "email"}},
}
REGISTERED = {
    "id": TARGET_ID,
    **{key: value for key, value in LOG_INPUT.items()},
    "operation": "delete",
    "id_types": ["email"],
    "always": False,
    "requires_approval": False,
    "identity_source": False,
    "state": "active",
    "proposal": None,
    "events": [],
    "created_at": "2026-11-01T08:00:00Z",
    "updated_at": "2026-11-01T08:00:00Z",
}
REGISTERED_EXAMPLE = OpenApiExample("Registered", value=REGISTERED, response_only=True)
INPUT_EXAMPLES = [
    OpenApiExample("A log", value=LOG_INPUT, request_only=True),
    OpenApiExample("A table", value=TABLE_INPUT, request_only=True),
    OpenApiExample(
        "A table that is not there yet, masked",
        value={
            **TABLE_INPUT,
            "name": "billing-accounts",
            "operation": "mask",
            "check": False,
            "config": {
                **TABLE_INPUT["config"],
                "table": "accounts",
                "mask": {"email": "erased@invalid", "name": None},
            },
        },
        request_only=True,
    ),
]


UNREACHABLE = OpenApiResponse(
    ErrorSerializer,
    description="Refused; nothing was changed. `invalid_target_config`, `inline_secret`, "
    "`credentials_in_url` (`fields` names the config key), `target_unreachable` (the check "
    "found no file, table or column, or no server, at the key `fields` names).",
)


def _target(target_id: int) -> Target:
    target = Target.objects.filter(pk=target_id).first()
    if target is None:
        raise NotFound("No such target.", code="unknown_target")
    return target


class TargetApi(APIView):
    """GET: the registered targets. POST: register one (its connector checks the config)."""

    required_scope = {"GET": scopes.ERASURE_READ, "POST": scopes.ERASURE_WRITE}

    @extend_schema(
        operation_id="v1_erasure_targets_list",
        responses=inline_serializer(
            "Targets", {"targets": by_kind(TargetSerializer, name="Target", many=True)}
        ),
        examples=[OpenApiExample("One target", value={"targets": [REGISTERED]})],
    )
    def get(self, request):
        targets = Target.objects.prefetch_related("versions", "events")
        return Response({"targets": TargetSerializer(targets, many=True).data})

    @extend_schema(
        request=TARGET_INPUT,
        responses={201: TARGET, 400: UNREACHABLE, 409: ERROR},
        examples=[*INPUT_EXAMPLES, REGISTERED_EXAMPLE],
    )
    def post(self, request):
        data = TargetInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        target = target_save(actor=actor_of(request), **data.validated_data)
        return Response(TargetSerializer(target).data, status=status.HTTP_201_CREATED)


class TargetDetailApi(APIView):
    required_scope = {
        "GET": scopes.ERASURE_READ,
        "PUT": scopes.ERASURE_WRITE,
        "DELETE": scopes.ERASURE_WRITE,
    }

    @extend_schema(responses=TARGET, examples=[REGISTERED_EXAMPLE])
    def get(self, request, target_id: int):
        return Response(TargetSerializer(_target(target_id)).data)

    @extend_schema(
        request=TARGET_INPUT,
        responses={200: TARGET, 400: UNREACHABLE, 409: ERROR},
        examples=[*INPUT_EXAMPLES, REGISTERED_EXAMPLE],
    )
    def put(self, request, target_id: int):
        target = _target(target_id)
        data = TargetInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        saved = target_save(target=target, actor=actor_of(request), **data.validated_data)
        return Response(TargetSerializer(saved).data)

    @extend_schema(
        responses={
            204: None,
            409: OpenApiResponse(
                ErrorSerializer, description="`target_in_use`: it has runs; retire it instead."
            ),
        }
    )
    def delete(self, request, target_id: int):
        target_delete(target=_target(target_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class TargetApproveApi(APIView):
    """A compliance officer approves a proposed target (`always`, `webhook` or
    `identity_source`), or a proposed change to one: it is planned from now on. The one who
    proposed it cannot approve it."""

    required_scope = scopes.ERASURE_APPROVE

    @extend_schema(
        request=ReasonSerializer,
        responses={
            200: TARGET,
            400: ERROR,
            403: OpenApiResponse(
                ErrorSerializer, description="`self_approval`: the proposer cannot approve it."
            ),
            404: ERROR,
            409: OpenApiResponse(
                ErrorSerializer, description="`nothing_to_approve`: nothing waits for approval."
            ),
        },
        examples=[
            OpenApiExample(
                "Approved",
                value={"reason": "Checked with the data owner: every request touches this log."},
                request_only=True,
            ),
            OpenApiExample(
                "Active",
                value={
                    **REGISTERED,
                    "always": True,
                    "events": [
                        {
                            "action": "proposed",
                            "actor": "token:7",
                            "reason": "",
                            "at": "2026-11-01T08:00:00Z",
                        },
                        {
                            "action": "approved",
                            "actor": "staff:dara.officer",
                            "reason": "Checked with the data owner.",
                            "at": "2026-11-01T09:00:00Z",
                        },
                    ],
                },
                response_only=True,
            ),
        ],
    )
    def post(self, request, target_id: int):
        data = ReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        approved = target_approve(
            target=_target(target_id), actor=actor_of(request), reason=data.validated_data["reason"]
        )
        return Response(TargetSerializer(approved).data)


class TargetRetireApi(APIView):
    """Retire a target: kept, with its runs and receipts, for the record, and never planned
    again. Requests already executing finish their runs on it."""

    required_scope = scopes.ERASURE_WRITE

    @extend_schema(
        request=ReasonSerializer,
        responses={
            200: TARGET,
            400: ERROR,
            404: ERROR,
            409: OpenApiResponse(ErrorSerializer, description="`target_retired`: already is."),
        },
        examples=[
            OpenApiExample(
                "Retired", value={"reason": "The eval set was deleted."}, request_only=True
            ),
            OpenApiExample(
                "Retired",
                value={
                    **REGISTERED,
                    "state": "retired",
                    "events": [
                        {
                            "action": "retired",
                            "actor": "token:7",
                            "reason": "The eval set was deleted.",
                            "at": "2026-12-01T00:00:00Z",
                        },
                    ],
                },
                response_only=True,
            ),
        ],
    )
    def post(self, request, target_id: int):
        data = ReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        retired = target_retire(
            target=_target(target_id), actor=actor_of(request), reason=data.validated_data["reason"]
        )
        return Response(TargetSerializer(retired).data)
