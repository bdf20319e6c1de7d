"""Subject membership: upload a version's subjects, locate a subject, check a purpose."""

import io
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from access import scopes
from core import subject_keys as keys
from core.errors import ApplicationError, NotFound
from lineage.membership import KEY, membership_upload, purpose_check, subject_locations
from lineage.models import DatasetVersion

MAX_SUBJECT_KEYS = 100  # keys of one subject (e-mail, phones, account ids), not a bulk query


def _version(version_id) -> DatasetVersion:
    version = DatasetVersion.objects.filter(pk=version_id).first()
    if version is None:
        raise NotFound("No such dataset version.", code="unknown_version")
    return version


def _subject_key(subject: Any) -> str:
    if not isinstance(subject, dict):
        raise ApplicationError(
            'subject is {"id_type", "value"} or {"key"}.', code="invalid_subject"
        )
    if "key" in subject:
        return keys.validate_subject_key(subject["key"])
    return keys.key_for(subject.get("id_type"), subject.get("value"))


class MembershipUploadApi(APIView):
    """Record the subjects a version holds: one identifier (of `id_type`, hashed on arrival)
    or subject key (`id_type=key`) a line, streamed, all or nothing."""

    required_scope = scopes.LINEAGE_WRITE
    parser_classes: list = []

    @extend_schema_serializer(component_name="MembershipUploaded")
    class OutputSerializer(serializers.Serializer):
        version_id = serializers.UUIDField()
        members = serializers.IntegerField()
        membership_declared = serializers.BooleanField()

    @extend_schema(
        parameters=[OpenApiParameter("id_type", str, description="`key`, `email`, `phone`, …")],
        request={
            "text/plain": OpenApiTypes.BINARY,
            "text/csv": OpenApiTypes.BINARY,
            "application/x-ndjson": OpenApiTypes.BINARY,
        },
        responses={201: OutputSerializer},
    )
    def post(self, request, version_id):
        version = _version(version_id)
        members = membership_upload(
            version=version,
            stream=request.stream or io.BytesIO(),
            content_type=request.content_type or "",
            id_type=request.query_params.get("id_type", KEY),
        )
        body = {"version_id": version.pk, "members": members, "membership_declared": True}
        return Response(self.OutputSerializer(body).data, status=status.HTTP_201_CREATED)


class SubjectLocationsApi(APIView):
    """Which dataset versions hold a subject, which derive from those, and which models were
    trained, fine-tuned or evaluated on them."""

    required_scope = scopes.LINEAGE_READ

    @extend_schema_serializer(component_name="SubjectLocateInput")
    class InputSerializer(serializers.Serializer):
        @extend_schema_serializer(component_name="LocateSubject")
        class SubjectSerializer(serializers.Serializer):
            """`{"id_type", "value"}` (hashed on arrival) or `{"key"}`."""

            id_type = serializers.CharField(required=False)
            value = serializers.CharField(required=False)
            key = serializers.CharField(required=False, help_text="a subject key (64 hex)")

        subject = SubjectSerializer(required=False)
        keys = serializers.ListField(child=serializers.CharField(), required=False)

    @extend_schema(request=InputSerializer, responses=OpenApiTypes.OBJECT)
    def post(self, request):
        data = request.data if isinstance(request.data, dict) else {}
        more = data.get("keys", [])
        if not isinstance(more, list) or len(more) > MAX_SUBJECT_KEYS:
            raise ApplicationError(
                f"keys is a list of at most {MAX_SUBJECT_KEYS} keys of one subject.",
                code="invalid_keys",
            )
        wanted = ([_subject_key(data["subject"])] if "subject" in data else []) + more
        if not wanted:
            raise ApplicationError("Name the subject (subject or keys).", code="missing_subject")
        return Response(subject_locations(keys=wanted))


class PurposeCheckApi(APIView):
    """How many of a version's subjects may be used for a purpose now."""

    required_scope = scopes.LINEAGE_READ

    @extend_schema(
        parameters=[OpenApiParameter("purpose", str, required=True)], responses=OpenApiTypes.OBJECT
    )
    def get(self, request, version_id):
        version = _version(version_id)
        purpose = request.query_params.get("purpose", "")
        if not purpose:
            raise ApplicationError("purpose is required.", code="missing_purpose")
        return Response(purpose_check(version=version, purpose=purpose))
