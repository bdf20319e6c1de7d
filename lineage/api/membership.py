"""Subject membership: upload a version's subjects, locate a subject, check a purpose."""

import io
from typing import Any

from drf_spectacular.types import OpenApiTypes
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
from core import subject_keys as keys
from core.errors import ApplicationError, NotFound
from lineage.membership import KEY, membership_upload, purpose_check, subject_locations
from lineage.models import DatasetVersion, ModelData

EVAL_SET = "5b0c2a8e-3f41-4c7e-9d0a-6f1e2b3c4d5e"
CLEANED = "0d6e9c1a-7b2f-4e38-8a5c-1f2e3d4c5b6a"
MODEL = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"

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
        examples=[
            OpenApiExample(
                "Uploaded",
                value={"version_id": EVAL_SET, "members": 830412, "membership_declared": True},
                response_only=True,
                status_codes=["201"],
            )
        ],
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
        keys = serializers.ListField(
            child=serializers.CharField(),
            required=False,
            help_text=f"More keys of the same subject (at most {MAX_SUBJECT_KEYS}).",
        )

    @extend_schema_serializer(component_name="SubjectLocations")
    class OutputSerializer(serializers.Serializer):
        @extend_schema_serializer(component_name="LocatedVersion")
        class VersionSerializer(serializers.Serializer):
            @extend_schema_serializer(component_name="LocatedStorage")
            class LocationSerializer(serializers.Serializer):
                system = serializers.CharField()
                uri = serializers.CharField()
                country = serializers.CharField()

            version_id = serializers.UUIDField()
            dataset = serializers.CharField(help_text="`<namespace>:<name>`")
            version = serializers.CharField()
            relation = serializers.ChoiceField(
                choices=["member", "derived"],
                help_text="`member`: its membership holds the subject; `derived`: made from "
                "such a version through runs, its membership not declared, so scanned.",
            )
            membership_declared = serializers.BooleanField()
            note = serializers.CharField(allow_null=True)
            locations = LocationSerializer(many=True)

        @extend_schema_serializer(component_name="LocatedModel")
        class ModelUseSerializer(serializers.Serializer):
            model_version_id = serializers.UUIDField()
            model = serializers.CharField(help_text="`<namespace>:<name>`")
            version = serializers.CharField()
            kind = serializers.ChoiceField(
                choices=[*ModelData.Kind.values, "fine_tuned_from"],
                help_text="How it used the data; `fine_tuned_from`: tuned from such a model.",
            )
            dataset_version_id = serializers.UUIDField(allow_null=True)
            fine_tuned_from_id = serializers.UUIDField(allow_null=True)

        versions = VersionSerializer(many=True)
        models = ModelUseSerializer(many=True)

    @extend_schema(
        request=InputSerializer,
        responses=OutputSerializer,
        examples=[
            OpenApiExample(
                "By identifier",
                value={"subject": {"id_type": "email", "value": "sokha@example.org"}},
                request_only=True,
            ),
            OpenApiExample(
                "By keys",
                value={
                    "keys": ["3f1c9e0b7a5d4c2e8f6a1b3d5c7e9f0a2b4d6c8e0f1a3b5c7d9e1f2a4b6c8d0e"]
                },
                request_only=True,
            ),
            OpenApiExample(
                "Found",
                value={
                    "versions": [
                        {
                            "version_id": EVAL_SET,
                            "dataset": "s3://sea-evals-kh:khm-vie-qa",
                            "version": "v1",
                            "relation": "member",
                            "membership_declared": True,
                            "note": None,
                            "locations": [
                                {
                                    "system": "s3",
                                    "uri": "s3://sea-evals-kh/khm-vie-qa/v1/",
                                    "country": "KH",
                                }
                            ],
                        },
                        {
                            "version_id": CLEANED,
                            "dataset": "postgres://pg.hcm.internal:5432:chat.cleaned_messages",
                            "version": "2024-06-02",
                            "relation": "derived",
                            "membership_declared": False,
                            "note": "derived — membership not declared",
                            "locations": [],
                        },
                    ],
                    "models": [
                        {
                            "model_version_id": MODEL,
                            "model": "sea-chat:khm-vie-assistant",
                            "version": "1.0.0",
                            "kind": "evaluated_on",
                            "dataset_version_id": EVAL_SET,
                            "fine_tuned_from_id": None,
                        }
                    ],
                },
                response_only=True,
            ),
        ],
    )
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
        return Response(self.OutputSerializer(subject_locations(keys=wanted)).data)


class PurposeCheckApi(APIView):
    """How many of a version's subjects may be used for a purpose now."""

    required_scope = scopes.LINEAGE_READ

    @extend_schema_serializer(component_name="PurposeCheck")
    class OutputSerializer(serializers.Serializer):
        version_id = serializers.UUIDField()
        purpose = serializers.CharField()
        members = serializers.IntegerField(help_text="Subjects the version holds.")
        allowed = serializers.IntegerField(help_text="Of those, the ones the purpose may use now.")
        not_allowed = serializers.IntegerField(
            help_text="Withdrawn, refused, expired, or never asked."
        )

    @extend_schema(
        parameters=[OpenApiParameter("purpose", str, required=True)],
        responses=OutputSerializer,
        examples=[
            OpenApiExample(
                "Checked",
                value={
                    "version_id": EVAL_SET,
                    "purpose": "train_ai_system.evaluation",
                    "members": 830412,
                    "allowed": 811907,
                    "not_allowed": 18505,
                },
            )
        ],
    )
    def get(self, request, version_id):
        version = _version(version_id)
        purpose = request.query_params.get("purpose", "")
        if not purpose:
            raise ApplicationError("purpose is required.", code="missing_purpose")
        return Response(self.OutputSerializer(purpose_check(version=version, purpose=purpose)).data)
