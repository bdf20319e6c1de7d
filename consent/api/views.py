import io

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_serializer,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from access import scopes
from consent import clock
from consent.api import examples
from consent.api.serializers import (
    CheckOutSerializer,
    EventInputSerializer,
    EventOutSerializer,
    EventRecordedSerializer,
    StateOutSerializer,
    SubjectHistorySerializer,
    SubjectIdentifiersSerializer,
    SubjectRefSerializer,
    SubjectResolvedSerializer,
    SubjectStateSerializer,
)
from consent.filtering import KEY, filter_decisions, filter_prepare, filter_stream
from consent.imports import consent_import
from consent.inputs import event_input, subject_ref
from consent.models import Notice, Purpose
from consent.selectors import (
    access_subject_id,
    consent_check,
    subject_history,
    subject_identifiers,
    subject_states,
)
from consent.services import (
    consent_event_record_receipted,
    notice_publish,
    purpose_create,
    subject_link,
)
from core import subject_keys as keys
from core.errors import ApplicationError
from core.openapi import ERROR


def _subject_from_path(key: str):
    try:
        keys.validate_subject_key(key)
    except keys.InvalidIdentifier as exc:
        raise ApplicationError(exc.detail, code=exc.code) from None
    return access_subject_id(key=key)


def _media_type(request) -> str:
    return (request.content_type or "").split(";")[0].strip().lower()


class ConsentEventCreateApi(APIView):
    """Record one consent event (given, withdrawn or refused).

    The answer carries the event's signed receipt with its inclusion proof, and the opening
    of the subject commitment in it: shown once, for the subject, and never stored.
    """

    required_scope = scopes.CONSENT_WRITE

    @extend_schema(
        request=EventInputSerializer,
        responses={201: EventRecordedSerializer},
        examples=examples.EVENT_EXAMPLES,
    )
    def post(self, request):
        event = event_input(request.data, now=clock.now(), default_method="api")
        recorded, receipt = consent_event_record_receipted(event=event)
        body = {
            **EventOutSerializer(recorded).data,
            "receipt": receipt,
            "opening": event.subject.opening.as_dict(),
        }
        return Response(body, status=status.HTTP_201_CREATED)


class ConsentImportApi(APIView):
    """Import events in bulk: JSON lines or CSV, streamed, all or nothing."""

    required_scope = scopes.CONSENT_WRITE
    parser_classes: list = []

    @extend_schema_serializer(component_name="ConsentImportResult")
    class OutputSerializer(serializers.Serializer):
        imported = serializers.IntegerField()
        subjects_created = serializers.IntegerField()

    @extend_schema(
        request={"application/x-ndjson": OpenApiTypes.BINARY, "text/csv": OpenApiTypes.BINARY},
        responses={201: OutputSerializer},
        examples=examples.IMPORT_EXAMPLES,
    )
    def post(self, request):
        result = consent_import(
            stream=request.stream or io.BytesIO(), content_type=_media_type(request)
        )
        body = {"imported": len(result.events), "subjects_created": result.subjects_created}
        return Response(body, status=status.HTTP_201_CREATED)


class ConsentCheckApi(APIView):
    """May this subject's data be used for this purpose now? Answered with the deciding event."""

    required_scope = scopes.CONSENT_READ

    @extend_schema_serializer(component_name="ConsentCheckInput")
    class InputSerializer(serializers.Serializer):
        subject = SubjectRefSerializer()
        purpose = serializers.CharField()

    @extend_schema(
        request=InputSerializer,
        responses={200: CheckOutSerializer, 404: ERROR},
        examples=examples.CHECK_EXAMPLES,
    )
    def post(self, request):
        data = request.data if isinstance(request.data, dict) else {}
        subject = subject_ref(data.get("subject"))
        purpose = data.get("purpose")
        if not isinstance(purpose, str) or not purpose:
            raise ApplicationError("purpose is required.", code="missing_purpose")
        return Response(consent_check(subject=subject, purpose_key=purpose))


class ConsentFilterApi(APIView):
    """Stream subjects in (one a line), get back those allowed for the purpose, in order.

    Lines are identifiers of `id_type` (hashed on arrival) or, with `id_type=key`, subject keys.
    With `answer=decisions`, one line comes back for each line sent: `allowed` or why not
    (`withdrawn`, `refused`, `expired`, `no_consent`, or an invalid identifier's code), so the
    caller can keep its own rows whole; no identifier is echoed.
    """

    required_scope = scopes.CONSENT_READ
    parser_classes: list = []

    @extend_schema(
        parameters=[
            OpenApiParameter("purpose", str, required=True),
            OpenApiParameter("id_type", str, description="`key`, `email`, `phone`, …"),
            OpenApiParameter(
                "answer",
                str,
                enum=["lines", "decisions"],
                description="`lines` (default): the allowed lines; `decisions`: one decision a "
                "line sent",
            ),
        ],
        request={"text/plain": OpenApiTypes.BINARY},
        responses={(200, "text/plain"): OpenApiTypes.BINARY, 404: ERROR},
        examples=examples.FILTER_EXAMPLES,
    )
    def post(self, request):
        purpose = request.query_params.get("purpose", "")
        answer = request.query_params.get("answer", "lines")
        if answer not in ("lines", "decisions"):
            raise ApplicationError("answer is `lines` or `decisions`.", code="invalid_answer")
        decisions = answer == "decisions"
        spool = filter_prepare(
            stream=request.stream or io.BytesIO(),
            id_type=request.query_params.get("id_type", KEY),
            purpose_key=purpose,
            decisions=decisions,
        )
        answered = filter_decisions if decisions else filter_stream
        return StreamingHttpResponse(
            answered(spool=spool, purpose_key=purpose),
            content_type="text/plain; charset=utf-8",
        )


class SubjectResolveApi(APIView):
    """The key of an identifier and the other identifier keys of its subject."""

    required_scope = scopes.CONSENT_READ

    @extend_schema(
        request=SubjectRefSerializer,
        responses={200: SubjectResolvedSerializer, 404: ERROR},
        examples=examples.RESOLVE_EXAMPLES,
    )
    def post(self, request):
        ref = subject_ref(request.data)
        subject_id = access_subject_id(key=ref.key)
        return Response({"key": ref.key, "identifiers": subject_identifiers(subject_id=subject_id)})


class SubjectLinkApi(APIView):
    """Add an identifier to a subject (e.g. a phone number to the subject known by e-mail)."""

    required_scope = scopes.CONSENT_WRITE

    @extend_schema_serializer(component_name="SubjectLinkInput")
    class InputSerializer(serializers.Serializer):
        subject = SubjectRefSerializer()
        identifier = SubjectRefSerializer()

    @extend_schema(
        request=InputSerializer,
        responses={200: SubjectIdentifiersSerializer, 404: ERROR, 409: ERROR},
        examples=examples.LINK_EXAMPLES,
    )
    def post(self, request):
        data = request.data if isinstance(request.data, dict) else {}
        subject = subject_link(
            subject=subject_ref(data.get("subject")), identifier=subject_ref(data.get("identifier"))
        )
        return Response({"identifiers": subject_identifiers(subject_id=subject.id)})


class SubjectStateApi(APIView):
    """A subject's current consent, purpose by purpose."""

    required_scope = scopes.CONSENT_READ

    @extend_schema(responses=SubjectStateSerializer, examples=[examples.STATE_EXAMPLE])
    def get(self, request, key: str):
        subject_id = _subject_from_path(key)
        return Response(
            {
                "identifiers": subject_identifiers(subject_id=subject_id),
                "states": StateOutSerializer(subject_states(subject_id=subject_id), many=True).data,
            }
        )


class SubjectHistoryApi(APIView):
    """Every consent event of a subject, oldest first."""

    required_scope = scopes.CONSENT_READ

    @extend_schema(responses=SubjectHistorySerializer, examples=[examples.HISTORY_EXAMPLE])
    def get(self, request, key: str):
        subject_id = _subject_from_path(key)
        events = subject_history(subject_id=subject_id)
        return Response({"events": EventOutSerializer(events, many=True).data})


class PurposeApi(APIView):
    """GET: the purpose tree. POST: a custom purpose below an existing one."""

    required_scope = {"GET": scopes.CONSENT_READ, "POST": scopes.CONSENT_WRITE}

    class PurposeSerializer(serializers.ModelSerializer):
        parent = serializers.CharField(source="parent.key", allow_null=True, required=False)

        class Meta:
            model = Purpose
            fields = ("key", "parent", "name", "description", "is_custom")
            read_only_fields = ("is_custom",)
            # Uniqueness is the service's to refuse, with its own code (purpose_exists).
            extra_kwargs = {"key": {"validators": []}, "name": {"required": False}}

    @extend_schema(
        responses=inline_serializer("PurposeTree", {"purposes": PurposeSerializer(many=True)}),
        examples=[examples.PURPOSES_EXAMPLE],
    )
    def get(self, request):
        purposes = Purpose.objects.select_related("parent").order_by("key")
        return Response({"purposes": self.PurposeSerializer(purposes, many=True).data})

    @extend_schema(
        request=PurposeSerializer,
        responses={201: PurposeSerializer, 404: ERROR, 409: ERROR},
        examples=examples.PURPOSE_EXAMPLES,
    )
    def post(self, request):
        data = self.PurposeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        purpose = purpose_create(
            key=data.validated_data["key"],
            parent_key=(data.validated_data.get("parent") or {}).get("key") or "",
            name=data.validated_data.get("name", ""),
            description=data.validated_data.get("description", ""),
        )
        return Response(self.PurposeSerializer(purpose).data, status=status.HTTP_201_CREATED)


class NoticeApi(APIView):
    """GET: published notices. POST: publish a notice text (a new version, or a translation)."""

    required_scope = {"GET": scopes.CONSENT_READ, "POST": scopes.CONSENT_WRITE}

    class NoticeSerializer(serializers.ModelSerializer):
        class Meta:
            model = Notice
            fields = ("key", "version", "language", "title", "text", "digest", "published_at")
            read_only_fields = ("digest", "published_at")
            # Built from the model field, so the column's upper bound is checked too.
            extra_kwargs = {"version": {"min_value": 1, "required": False}}
            validators: list = []  # the service refuses duplicates as notice_exists

    @extend_schema(
        responses=inline_serializer("Notices", {"notices": NoticeSerializer(many=True)}),
        examples=[examples.NOTICES_EXAMPLE],
    )
    def get(self, request):
        notices = Notice.objects.all()
        return Response({"notices": self.NoticeSerializer(notices, many=True).data})

    @extend_schema(
        request=NoticeSerializer,
        responses={201: NoticeSerializer, 409: ERROR},
        examples=examples.NOTICE_EXAMPLES,
    )
    def post(self, request):
        data = self.NoticeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        notice = notice_publish(**data.validated_data)
        return Response(self.NoticeSerializer(notice).data, status=status.HTTP_201_CREATED)
