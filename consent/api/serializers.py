"""Shapes shared by several consent endpoints (nested serializers live in their views)."""

from rest_framework import serializers

from consent.models import ConsentEvent, ConsentState, LegalBasis, Status
from ledger.api.serializers import OpeningSerializer, ReceiptDocumentSerializer


class SubjectRefSerializer(serializers.Serializer):
    """A subject by identifier (`id_type` + `value`, hashed on arrival) or by `key`."""

    id_type = serializers.CharField(required=False)
    value = serializers.CharField(required=False, trim_whitespace=False)
    key = serializers.CharField(required=False)


class NoticeRefSerializer(serializers.Serializer):
    key = serializers.CharField()
    version = serializers.IntegerField(min_value=1)
    language = serializers.CharField()


class EventInputSerializer(serializers.Serializer):
    subject = SubjectRefSerializer()
    purpose = serializers.CharField()
    status = serializers.ChoiceField(choices=Status.choices)
    legal_basis = serializers.ChoiceField(choices=LegalBasis.choices)
    jurisdiction = serializers.CharField(help_text="ISO 3166-1 alpha-2")
    notice = NoticeRefSerializer(required=False, allow_null=True)
    method = serializers.CharField(required=False)
    event_time = serializers.DateTimeField(required=False)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)
    data_categories = serializers.ListField(child=serializers.CharField(), required=False)


class NoticeOutSerializer(serializers.Serializer):
    key = serializers.CharField()
    version = serializers.IntegerField()
    language = serializers.CharField()
    digest = serializers.CharField()


class EventOutSerializer(serializers.ModelSerializer):
    purpose = serializers.CharField(source="purpose.key")
    notice = NoticeOutSerializer(allow_null=True)
    data_categories = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = ConsentEvent
        fields = (
            "id",
            "purpose",
            "status",
            "legal_basis",
            "jurisdiction",
            "notice",
            "method",
            "event_time",
            "expires_at",
            "data_categories",
            "recorded_at",
            "receipt_id",
        )


class EventRecordedSerializer(EventOutSerializer):
    """The event, its signed receipt with the inclusion proof, and the opening of the subject
    commitment in it: shown once, for the subject, and never stored."""

    receipt = ReceiptDocumentSerializer(read_only=True)
    opening = OpeningSerializer(read_only=True)

    class Meta(EventOutSerializer.Meta):
        fields = (*EventOutSerializer.Meta.fields, "receipt", "opening")


class StateOutSerializer(serializers.ModelSerializer):
    purpose = serializers.CharField(source="purpose.key")
    legal_basis = serializers.CharField(source="event.legal_basis")
    jurisdiction = serializers.CharField(source="event.jurisdiction")
    notice = NoticeOutSerializer(source="event.notice", allow_null=True)

    class Meta:
        model = ConsentState
        fields = (
            "purpose",
            "status",
            "legal_basis",
            "jurisdiction",
            "notice",
            "event",
            "event_time",
            "expires_at",
        )


class DecidedBySerializer(serializers.Serializer):
    event_id = serializers.IntegerField()
    purpose = serializers.CharField()
    status = serializers.CharField()
    legal_basis = serializers.CharField()
    jurisdiction = serializers.CharField()
    method = serializers.CharField()
    event_time = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True)
    notice = NoticeOutSerializer(allow_null=True)


class CheckOutSerializer(serializers.Serializer):
    allowed = serializers.BooleanField()
    purpose = serializers.CharField()
    reason = serializers.ChoiceField(
        choices=["given", "withdrawn", "refused", "expired", "no_consent"]
    )
    decided_by = DecidedBySerializer(allow_null=True)


class IdentifierKeySerializer(serializers.Serializer):
    id_type = serializers.CharField()
    key = serializers.CharField()


class SubjectIdentifiersSerializer(serializers.Serializer):
    identifiers = IdentifierKeySerializer(many=True)


class SubjectResolvedSerializer(SubjectIdentifiersSerializer):
    key = serializers.CharField()


class SubjectStateSerializer(SubjectIdentifiersSerializer):
    states = StateOutSerializer(many=True)


class SubjectHistorySerializer(serializers.Serializer):
    events = EventOutSerializer(many=True)
