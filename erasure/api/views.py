import json
from collections.abc import Callable

from django.conf import settings
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_serializer,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from access import scopes
from access.permissions import caller_scopes
from core import actors, subject_keys
from core.errors import ApplicationError, Forbidden, NotFound
from core.openapi import ERROR, ErrorSerializer
from erasure import selectors
from erasure.api import examples
from erasure.bundle_links import request_for_token
from erasure.gate import (
    affected_model_decide,
    erasure_request_approve,
    erasure_request_create_verified,
    erasure_request_deny,
    erasure_request_gate,
)
from erasure.models import (
    AffectedModel,
    ErasureRequest,
    LegalHold,
    PlanEntry,
    Target,
    Transition,
)
from erasure.planning import erasure_request_plan
from erasure.runs import target_run_callback
from erasure.selectors import erasure_request_bundle
from erasure.services import (
    body_digest,
    erasure_request_create,
    erasure_request_mark_verified,
    erasure_verification_confirm,
    erasure_verification_start,
    legal_hold_create,
)
from jurisdictions.api.serializers import EffectiveRuleSerializer
from ledger.api.serializers import BUNDLE_EXAMPLE, BundleSerializer

MAX_IDEMPOTENCY_KEY = 200


def actor_of(request) -> str:
    """Who did it, for the audit trail: a token's id or a staff username, never a subject."""
    return actors.actor_of(request.user)


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


class TransitionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Transition
        fields = ("from_state", "to_state", "actor", "reason", "at")


class RequestOutSerializer(serializers.ModelSerializer):
    linked_to = serializers.UUIDField(source="linked_to_id", allow_null=True)
    transitions = TransitionSerializer(many=True, read_only=True)
    identifiers_shredded = serializers.SerializerMethodField()

    class Meta:
        model = ErasureRequest
        fields = (
            "id",
            "state",
            "channel",
            "subject_country",
            "linked_to",
            "received_at",
            "verified_at",
            "deadline",
            "closed_at",
            "retention_until",
            "identifiers_shredded",
            "transitions",
        )

    def get_identifiers_shredded(self, obj: ErasureRequest) -> bool:
        return obj.shredded_at is not None


# Fields of a filing that only a caller holding `erasure:verify` may send.
TRUSTED_FIELDS = ("verified", "plan")


def normalized_digest(data: dict) -> str:
    """The idempotency digest of a request as it will be filed, not as it was typed: the same
    e-mail in another case or with spaces around it is the same request. An identifier
    that does not normalize is kept as sent; the service refuses it before any digest counts."""
    identifiers = data.get("identifiers")
    if isinstance(identifiers, list):
        normalized = []
        for item in identifiers:
            try:
                found = subject_keys.normalize(item.get("id_type"), item.get("value"))
                normalized.append([found.id_type, found.normalized])
            except (subject_keys.InvalidIdentifier, AttributeError):
                normalized.append(item)
        identifiers = [json.loads(i) for i in dict.fromkeys(json.dumps(i) for i in normalized)]
    body = {"identifiers": identifiers, "country": data.get("country") or ""}
    # Filed already verified, or planned too, it is another request than one filed bare.
    for field in TRUSTED_FIELDS:
        if data.get(field) not in (None, False):
            body[field] = data[field]
    return body_digest(body)


class TrustedFilingSerializer(serializers.Serializer):
    """What a trusted caller adds to a filing: how it verified the subject, and whether to plan
    the request at once (then it starts, unless the gate asks for a person's approval)."""

    @extend_schema_serializer(component_name="CallerVerification")
    class VerifiedSerializer(serializers.Serializer):
        method = serializers.CharField(max_length=100)
        reason = serializers.CharField(max_length=2000)

    verified = VerifiedSerializer(required=False)
    plan = serializers.BooleanField(required=False, default=False)


class ErasureRequestApi(APIView):
    """POST: file a request (send `Idempotency-Key` to make retries safe). GET: list them.

    A caller holding `erasure:verify` may also send `verified` (`{"method", "reason"}`: how it
    verified the subject; recorded as `verified-manually` records its reason) and `plan: true`
    (planned and passed through the gate in the same call). Without the scope, either is 403
    `insufficient_scope`."""

    required_scope = {"GET": scopes.ERASURE_READ, "POST": scopes.ERASURE_WRITE}

    @extend_schema_serializer(component_name="ErasureRequestInput")
    class InputSerializer(TrustedFilingSerializer):
        @extend_schema_serializer(component_name="ErasureIdentifier")
        class IdentifierSerializer(serializers.Serializer):
            id_type = serializers.CharField(help_text="`email`, `phone` (E.164), `user_id`, …")
            value = serializers.CharField(help_text="The identifier as the subject gave it.")

        identifiers = IdentifierSerializer(many=True)
        country = serializers.CharField(required=False, allow_blank=True)

    class Pagination(CursorPagination):
        ordering = "-received_at"
        page_size = 50

    pagination_class = Pagination  # so the schema shows the page and its cursor

    @extend_schema(
        request=InputSerializer,
        responses={
            201: RequestOutSerializer,
            200: RequestOutSerializer,
            403: OpenApiResponse(
                ErrorSerializer,
                description="`insufficient_scope`: `verified` or `plan` without `erasure:verify`.",
            ),
            409: ERROR,
        },
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER)],
        examples=examples.FILING_EXAMPLES,
    )
    def post(self, request):
        data = request.data if isinstance(request.data, dict) else {}
        key = request.headers.get("Idempotency-Key")
        if key is not None and not 0 < len(key) <= MAX_IDEMPOTENCY_KEY:
            raise ApplicationError(
                "Idempotency-Key is 1 to 200 characters.", code="invalid_idempotency_key"
            )
        if any(data.get(field) not in (None, False) for field in TRUSTED_FIELDS):
            erasure_request, created = self._file_trusted(request, data, key)
        else:
            erasure_request, created = erasure_request_create(
                identifiers=data.get("identifiers"),
                country=data.get("country"),
                channel="api",
                actor=actor_of(request),
                idempotency_key=key,
                digest=normalized_digest(data),
            )
        body = RequestOutSerializer(erasure_request).data
        if scopes.ERASURE_READ not in caller_scopes(request):
            # A caller that may only file requests must not learn that another request for
            # the same subject exists: no link, and no reasons (the first one names the link).
            body["linked_to"] = None
            body["transitions"] = [{**t, "reason": ""} for t in body["transitions"]]
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    def _file_trusted(self, request, data: dict, key: str | None) -> tuple[ErasureRequest, bool]:
        # Verifying is a claim about who the subject is: only a caller trusted with it may make
        # it, and the scope is checked before the body, so nothing about it is told otherwise.
        if scopes.ERASURE_VERIFY not in caller_scopes(request):
            raise Forbidden(
                "Filing a request already verified or planned needs the erasure:verify scope.",
                code="insufficient_scope",
                fields={"scope": scopes.ERASURE_VERIFY},
            )
        trusted = TrustedFilingSerializer(data=data)
        trusted.is_valid(raise_exception=True)
        verified = trusted.validated_data.get("verified")
        if verified is None:
            raise ApplicationError(
                "Only a verified request is planned: send `verified` with `plan`.",
                code="verification_required",
            )
        filed, created = erasure_request_create_verified(
            identifiers=data.get("identifiers"),
            country=data.get("country"),
            actor=actor_of(request),
            method=verified["method"],
            reason=verified["reason"],
            plan=trusted.validated_data["plan"],
            idempotency_key=key,
            digest=normalized_digest(data),
        )
        if settings.CELERY_TASK_ALWAYS_EAGER:
            # Without a broker its runs ran in this call, after the commit: read it again.
            return selectors.erasure_request_get(request_id=filed.pk), created
        return filed, created

    @extend_schema(
        responses={
            200: RequestOutSerializer(many=True),
            404: OpenApiResponse(ErrorSerializer, description="Invalid cursor."),
        },
        examples=[examples.LIST_EXAMPLE],
    )
    def get(self, request):
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(selectors.erasure_requests(), request, view=self)
        return paginator.get_paginated_response(RequestOutSerializer(page, many=True).data)


class ErasureRequestGetApi(APIView):
    """A request's state and audit trail (never its identifiers)."""

    required_scope = scopes.ERASURE_READ

    @extend_schema(responses=RequestOutSerializer, examples=[examples.VERIFIED_EXAMPLE])
    def get(self, request, request_id):
        return Response(
            RequestOutSerializer(selectors.erasure_request_get(request_id=request_id)).data
        )


class VerificationStartApi(APIView):
    """Send the subject a one-time code (to the first identifier a sender can reach)."""

    required_scope = scopes.ERASURE_WRITE

    @extend_schema(
        request=None,
        responses={
            202: inline_serializer("VerificationSent", {"sent_to": serializers.CharField()}),
            409: ERROR,
        },
        examples=[examples.SENT_EXAMPLE],
    )
    def post(self, request, request_id):
        erasure_request = selectors.erasure_request_get(request_id=request_id)
        channel = erasure_verification_start(request=erasure_request, actor=actor_of(request))
        return Response({"sent_to": channel}, status=status.HTTP_202_ACCEPTED)


class VerificationConfirmApi(APIView):
    """Confirm the one-time code the subject received."""

    required_scope = scopes.ERASURE_WRITE

    @extend_schema_serializer(component_name="VerificationCode")
    class InputSerializer(serializers.Serializer):
        code = serializers.CharField(max_length=12)

    @extend_schema(
        request=InputSerializer,
        responses={200: RequestOutSerializer, 409: ERROR},
        examples=[examples.CODE_EXAMPLE, examples.VERIFIED_EXAMPLE],
    )
    def post(self, request, request_id):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        erasure_request = erasure_verification_confirm(
            request=selectors.erasure_request_get(request_id=request_id),
            code=data.validated_data["code"],
            actor=actor_of(request),
        )
        return Response(
            RequestOutSerializer(selectors.erasure_request_get(request_id=erasure_request.pk)).data
        )


class VerifiedManuallyApi(APIView):
    """Staff verified the subject's identity by other means; the reason goes in the trail."""

    required_scope = scopes.ERASURE_WRITE

    @extend_schema_serializer(component_name="ManualVerification")
    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=2000)

    @extend_schema(
        request=InputSerializer,
        responses={200: RequestOutSerializer, 409: ERROR},
        examples=[examples.MANUAL_EXAMPLE, examples.VERIFIED_EXAMPLE],
    )
    def post(self, request, request_id):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        erasure_request = erasure_request_mark_verified(
            request=selectors.erasure_request_get(request_id=request_id),
            actor=actor_of(request),
            reason=data.validated_data["reason"],
        )
        return Response(
            RequestOutSerializer(selectors.erasure_request_get(request_id=erasure_request.pk)).data
        )


class PlanEntrySerializer(serializers.ModelSerializer):
    target = serializers.CharField(source="target.name")
    kind = serializers.CharField(source="target.kind")
    # What erasing will do there: "delete" the subject's items, or "mask" them and keep them.
    operation = serializers.ChoiceField(source="target.operation", choices=Target.Operation.choices)
    country = serializers.CharField(source="target.country")

    class Meta:
        model = PlanEntry
        fields = (
            "target",
            "kind",
            "operation",
            "country",
            "reasons",
            "id_types",
            "needs_resolution",
            "requires_approval",
        )


class AffectedModelSerializer(serializers.ModelSerializer):
    model = serializers.SerializerMethodField()
    kinds = serializers.ListField(
        child=serializers.CharField(),
        help_text="How it used the subject's data: `trained_on`, `fine_tuned_on`, "
        "`evaluated_on`, or `fine_tuned_from` a model that did.",
    )

    class Meta:
        model = AffectedModel
        fields = ("model", "kinds", "decision", "justification", "decided_by", "decided_at")

    def get_model(self, obj: AffectedModel) -> str:
        return f"{obj.model_version.model}@{obj.model_version.version}"


class PlanRulesSerializer(serializers.Serializer):
    """The rules a verified request's deadline was set from; empty before verification."""

    considered = serializers.ListField(child=serializers.CharField(), required=False)
    erasure_right = EffectiveRuleSerializer(required=False)
    erasure_deadline = EffectiveRuleSerializer(required=False)


class PlanSerializer(serializers.Serializer):
    request = serializers.UUIDField()
    state = serializers.CharField()
    deadline = serializers.DateTimeField(allow_null=True)
    rules = PlanRulesSerializer()
    targets = PlanEntrySerializer(many=True)
    affected_models = AffectedModelSerializer(many=True)


class ErasurePlanApi(APIView):
    """GET: the plan, each entry with its reasons, and the affected models.
    POST: plan a verified request."""

    required_scope = {"GET": scopes.ERASURE_READ, "POST": scopes.ERASURE_WRITE}

    def _body(self, erasure_request: ErasureRequest) -> dict:
        entries = erasure_request.plan.select_related("target")
        models = erasure_request.affected_models.select_related("model_version__model")
        return {
            "request": str(erasure_request.pk),
            "state": erasure_request.state,
            "deadline": erasure_request.deadline,
            "rules": erasure_request.rules,
            "targets": PlanEntrySerializer(entries, many=True).data,
            "affected_models": AffectedModelSerializer(models, many=True).data,
        }

    @extend_schema(responses=PlanSerializer, examples=[examples.PLAN_EXAMPLE])
    def get(self, request, request_id):
        return Response(self._body(selectors.erasure_request_get(request_id=request_id)))

    @extend_schema(
        request=None, responses={201: PlanSerializer, 409: ERROR}, examples=[examples.PLAN_EXAMPLE]
    )
    def post(self, request, request_id):
        actor = actor_of(request)
        planned = erasure_request_plan(
            request=selectors.erasure_request_get(request_id=request_id), actor=actor
        )
        gated = erasure_request_gate(request=planned, actor=actor)
        return Response(self._body(gated), status=status.HTTP_201_CREATED)


class ReasonedDecisionApi(APIView):
    """A staff decision on a request that must say why; subclasses name the service."""

    required_scope = scopes.ERASURE_WRITE
    decide: Callable[..., ErasureRequest]  # the service: (request, actor, reason) -> request

    @extend_schema(
        request=ReasonSerializer,
        responses={200: RequestOutSerializer, 409: ERROR},
        examples=examples.DENY_EXAMPLES,
    )
    def post(self, request, request_id):
        data = ReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        decided = self.decide(
            request=selectors.erasure_request_get(request_id=request_id),
            actor=actor_of(request),
            reason=data.validated_data["reason"],
        )
        return Response(
            RequestOutSerializer(selectors.erasure_request_get(request_id=decided.pk)).data
        )


FOUR_EYES = OpenApiResponse(
    ErrorSerializer,
    description="`self_approval`: whoever filed or verified the request cannot approve it.",
)


class ApproveApi(ReasonedDecisionApi):
    """Staff approve a request awaiting approval (every affected model decided first). Needs
    `erasure:approve`, and someone other than whoever filed or verified the request."""

    required_scope = scopes.ERASURE_APPROVE
    decide = staticmethod(erasure_request_approve)

    @extend_schema(
        request=ReasonSerializer,
        responses={200: RequestOutSerializer, 403: FOUR_EYES, 409: ERROR},
        examples=examples.APPROVE_EXAMPLES,
    )
    def post(self, request, request_id):
        return super().post(request, request_id)


class DenyApi(ReasonedDecisionApi):
    """Staff deny a request, with the reason; a closing receipt records the denial."""

    required_scope = scopes.ERASURE_APPROVE
    decide = staticmethod(erasure_request_deny)


class ModelDecisionApi(APIView):
    """Staff decide what happens to a model trained on the subject's data."""

    required_scope = scopes.ERASURE_WRITE

    @extend_schema_serializer(component_name="ModelDecisionInput")
    class InputSerializer(serializers.Serializer):
        model_version = serializers.UUIDField()
        decision = serializers.CharField()
        justification = serializers.CharField(required=False, allow_blank=True, default="")

    @extend_schema(
        request=InputSerializer,
        responses={200: AffectedModelSerializer, 409: ERROR},
        examples=examples.MODEL_DECISION_EXAMPLES,
    )
    def post(self, request, request_id):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        decided = affected_model_decide(
            request=selectors.erasure_request_get(request_id=request_id),
            model_version_id=data.validated_data["model_version"],
            decision=data.validated_data["decision"],
            justification=data.validated_data["justification"],
            actor=actor_of(request),
        )
        return Response(AffectedModelSerializer(decided).data)


class BundleApi(APIView):
    """The subject's receipt bundle (RECEIPTS.md §6), verifiable offline with ledger.verify."""

    required_scope = scopes.ERASURE_READ

    @extend_schema(responses={200: BundleSerializer, 409: ERROR}, examples=[BUNDLE_EXAMPLE])
    def get(self, request, request_id):
        return Response(
            erasure_request_bundle(request=selectors.erasure_request_get(request_id=request_id))
        )


class LegalHoldSerializer(serializers.ModelSerializer):
    class Meta:
        model = LegalHold
        fields = (
            "id",
            "subject_key",
            "target",
            "basis",
            "until",
            "created_by",
            "created_at",
            "released_at",
        )
        read_only_fields = ("created_by", "created_at", "released_at")


class LegalHoldApi(APIView):
    """GET: holds in force. POST: a hold on a target, a subject (by key), or both; erasure on
    what it covers ends `held`, with the basis in the receipt."""

    required_scope = {"GET": scopes.ERASURE_READ, "POST": scopes.ERASURE_WRITE}

    @extend_schema(
        responses=inline_serializer("LegalHolds", {"holds": LegalHoldSerializer(many=True)}),
        examples=[examples.HOLDS_EXAMPLE],
    )
    def get(self, request):
        holds = LegalHold.objects.filter(released_at=None).order_by("until")
        return Response({"holds": LegalHoldSerializer(holds, many=True).data})

    @extend_schema(
        request=LegalHoldSerializer,
        responses={201: LegalHoldSerializer},
        examples=examples.HOLD_EXAMPLES,
    )
    def post(self, request):
        data = LegalHoldSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        hold = legal_hold_create(actor=actor_of(request), **data.validated_data)
        return Response(LegalHoldSerializer(hold).data, status=status.HTTP_201_CREATED)


class PublicBundleApi(APIView):
    """The subject's bundle behind the signed link they were sent; no account needed."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(responses={200: BundleSerializer, 409: ERROR}, examples=[BUNDLE_EXAMPLE])
    def get(self, request, token: str):
        request_id = request_for_token(token)
        if request_id is None:
            raise NotFound("No such bundle.", code="unknown_bundle")
        return Response(
            erasure_request_bundle(request=selectors.erasure_request_get(request_id=request_id))
        )


class WebhookCallbackApi(APIView):
    """A webhook target reports its erasure later, signed with the target's secret."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    parser_classes: list = []

    @extend_schema(
        request={
            "application/json": inline_serializer(
                "WebhookReport",
                {
                    "erased": serializers.IntegerField(
                        min_value=0, help_text="Items the system erased."
                    ),
                    "remaining": serializers.IntegerField(
                        min_value=0, help_text="Items its own second look still found."
                    ),
                },
            )
        },
        responses={
            200: inline_serializer(
                "CallbackAccepted",
                {"run": serializers.IntegerField(), "outcome": serializers.CharField()},
            ),
            403: ERROR,
            409: ERROR,
        },
        description="The body is signed like Lup's call: `X-Lup-Timestamp` and "
        '`X-Lup-Signature: sha256=<hex of HMAC-SHA256(secret, "<timestamp>.<body>")>`.',
        examples=[
            OpenApiExample("Erased", value={"erased": 3, "remaining": 0}, request_only=True),
            OpenApiExample("Recorded", value={"run": 42, "outcome": "erased"}, response_only=True),
        ],
    )
    def post(self, request, run_id: int):
        finished = target_run_callback(
            run_id=run_id,
            body=request.body,
            timestamp=request.headers.get("X-Lup-Timestamp", ""),
            signature=request.headers.get("X-Lup-Signature", ""),
        )
        return Response({"run": finished.pk, "outcome": finished.outcome})
