"""How the OpenAPI document describes the rules: each country's, and the composed effective ones
(`jurisdictions.rules`, `jurisdictions.composer`). The answers are built as dicts; these
serializers only document their shape."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers


class PeriodSerializer(serializers.Serializer):
    amount = serializers.IntegerField()
    unit = serializers.CharField(help_text="`days`, `hours`, `months`…")


class DeadlineSerializer(PeriodSerializer):
    business = serializers.BooleanField(help_text="Business days, not calendar days.")
    extension = PeriodSerializer(allow_null=True, help_text="How much longer it may be extended.")


class RuleSerializer(serializers.Serializer):
    """One dimension of one country's law. Which value is set depends on the dimension:
    `value` (erasure_right), `deadline` (the deadlines), `level` (consent, cross_border; plus
    `mechanism` for cross_border) or `age` (child_age)."""

    value = serializers.CharField(required=False, allow_null=True)
    deadline = DeadlineSerializer(required=False, allow_null=True)
    level = serializers.IntegerField(required=False, allow_null=True)
    mechanism = serializers.CharField(required=False, allow_null=True)
    age = serializers.IntegerField(required=False, allow_null=True)
    summary = serializers.CharField()
    sources = serializers.ListField(child=serializers.CharField())
    unconfirmed = serializers.BooleanField()
    note = serializers.CharField(allow_null=True)


class LawSerializer(serializers.Serializer):
    title = serializers.CharField()
    status = serializers.CharField()
    in_force = serializers.DateField(allow_null=True)
    comprehensive = serializers.BooleanField()
    summary = serializers.CharField()
    sources = serializers.ListField(child=serializers.CharField())
    unconfirmed = serializers.BooleanField()
    note = serializers.CharField(allow_null=True)


class JurisdictionSerializer(serializers.Serializer):
    country = serializers.CharField(help_text="ISO 3166-1 alpha-2")
    name = serializers.CharField()
    law = LawSerializer()
    rules = serializers.DictField(child=RuleSerializer(), help_text="By dimension.")


class JurisdictionListSerializer(serializers.Serializer):
    markets = serializers.ListField(child=serializers.CharField())
    scales = serializers.DictField(
        child=serializers.DictField(child=serializers.CharField()),
        help_text="Each leveled dimension's levels (`consent`, `cross_border`): level → label.",
    )
    jurisdictions = JurisdictionSerializer(many=True)


@extend_schema_field(
    {
        "oneOf": [
            {"type": "array", "items": {"type": "string"}},
            {"type": "string", "enum": ["policy"]},
        ],
        "description": "The countries the rule comes from; `policy` for an erasure deadline "
        "no jurisdiction sets, honoured under the operator's policy.",
    }
)
class FromField(serializers.JSONField):
    pass


def _part_fields() -> dict[str, serializers.Field]:
    """The fields of one composed rule (fresh instances: `from` is a keyword, so the
    serializers are made with `type`)."""
    return {
        "__doc__": "The strictest rule of one dimension, with the countries it comes from.",
        "basis": serializers.ChoiceField(
            choices=["statutory", "policy"], required=False, help_text="erasure_deadline only."
        ),
        "value": serializers.CharField(
            required=False, allow_null=True, help_text="erasure_right: the strictest right."
        ),
        "deadline": DeadlineSerializer(required=False, allow_null=True),
        "due_at": serializers.DateTimeField(
            required=False, help_text="The deadlines: when it falls for a request received then."
        ),
        "level": serializers.IntegerField(required=False, allow_null=True),
        "label": serializers.CharField(required=False),
        "mechanism": serializers.CharField(required=False, allow_null=True),
        "age": serializers.IntegerField(required=False, allow_null=True),
        "from": FromField(),
        "unconfirmed": serializers.BooleanField(),
        "summary": serializers.CharField(),
        "not_known_for": serializers.ListField(child=serializers.CharField()),
        "rules": serializers.DictField(child=RuleSerializer(), help_text="By country."),
    }


EffectiveConfirmedRuleSerializer = type(
    "EffectiveConfirmedRuleSerializer", (serializers.Serializer,), _part_fields()
)
EffectiveRuleSerializer = type(
    "EffectiveRuleSerializer",
    (serializers.Serializer,),
    {
        **_part_fields(),
        "strictest_confirmed": EffectiveConfirmedRuleSerializer(
            required=False,
            allow_null=True,
            help_text="When the rule is unconfirmed: the strictest confirmed alternative.",
        ),
    },
)


class EffectiveRulesSerializer(serializers.Serializer):
    """The strictest rule per dimension for the markets served plus the subject's country."""

    markets = serializers.ListField(child=serializers.CharField())
    subject_country = serializers.CharField(allow_null=True)
    considered = serializers.ListField(child=serializers.CharField())
    without_data = serializers.ListField(
        child=serializers.CharField(), help_text="Countries without a data file."
    )
    received_at = serializers.DateTimeField()
    rules = serializers.DictField(child=EffectiveRuleSerializer(), help_text="By dimension.")
