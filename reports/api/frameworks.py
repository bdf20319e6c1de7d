"""The readiness report in a framework's terms:

- GET /api/v1/reports/readiness/aiverify: AI Verify's process-checklist import file;
- GET /api/v1/reports/readiness/aiverify/signed: the same answers as a signed document;
- GET /api/v1/reports/readiness/frameworks/{framework}: every item of a framework, answered or
  left to the operator (aiverify, asean, model-ai-gov, genai).

Same scope and period parameters as the readiness report they are made from."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from access import scopes
from reports.api.readiness import SIGNED, PeriodSerializer, period_report
from reports.frameworks import aiverify_import, aiverify_signed, framework_answers, framework_get

COMPLETED = ("Yes", "No", "Not Applicable")


class AiVerifyRowSerializer(serializers.Serializer):
    pid = serializers.RegexField(r"^\d+(\.\d+)+$", help_text="The plugin's process id.")
    completed = serializers.ChoiceField(choices=COMPLETED)
    elaboration = serializers.CharField(help_text="Figures, gaps and links to the records.")


class AiVerifySheetSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="The plugin's principle name, exactly.")
    # camelCase: the plugin's field name.
    summaryJustification = serializers.CharField()
    rows = AiVerifyRowSerializer(many=True)


class AiVerifyImportSerializer(serializers.Serializer):
    sheets = AiVerifySheetSerializer(many=True)


class GapRecordSerializer(serializers.Serializer):
    label = serializers.CharField()
    admin_url = serializers.CharField(allow_null=True)


class GapSerializer(serializers.Serializer):
    code = serializers.CharField()
    detail = serializers.CharField()
    record = GapRecordSerializer(allow_null=True)


class FindingSerializer(serializers.Serializer):
    condition = serializers.CharField()
    says = serializers.CharField()
    holds = serializers.BooleanField()
    nothing_on_record = serializers.BooleanField()
    figures = serializers.DictField(help_text="The figures the condition quotes, by name.")
    gaps = GapSerializer(many=True)


class AnswerSerializer(serializers.Serializer):
    id = serializers.CharField()
    title = serializers.CharField()
    group = serializers.CharField()
    answer = serializers.ChoiceField(choices=["Yes", "No"])
    section = serializers.CharField()
    conditions = FindingSerializer(many=True)
    elaboration = serializers.CharField()
    links = serializers.DictField(child=serializers.CharField())


class OperatorItemSerializer(serializers.Serializer):
    id = serializers.CharField()
    title = serializers.CharField()
    group = serializers.CharField()
    section = serializers.CharField(allow_null=True)


class SourceSerializer(serializers.Serializer):
    title = serializers.CharField()
    url = serializers.CharField()


class FrameworkAnswersSerializer(serializers.Serializer):
    format = serializers.CharField()
    framework = serializers.CharField()
    title = serializers.CharField()
    edition = serializers.CharField()
    sources = SourceSerializer(many=True)
    operator = serializers.CharField()
    markets = serializers.ListField(child=serializers.CharField())
    period = serializers.DictField(child=serializers.CharField())
    generated_at = serializers.DateTimeField()
    summary = serializers.DictField(child=serializers.IntegerField())
    answers = AnswerSerializer(many=True)
    operators_to_answer = OperatorItemSerializer(many=True)


class ReadinessAiVerifyApi(APIView):
    """The readiness report as AI Verify's process-checklist import file: a row per check
    Lup's records decide; checks outside them are left for the operator to answer."""

    required_scope = scopes.ERASURE_READ

    @extend_schema(parameters=[PeriodSerializer], responses=AiVerifyImportSerializer)
    def get(self, request):
        return Response(aiverify_import(report=period_report(request)))


class ReadinessAiVerifySignedApi(APIView):
    """The AI Verify answers as a signed document: `python -m ledger.verify report FILE --key
    KEY` checks it; its payload's `report` imports into AI Verify as it is."""

    required_scope = scopes.ERASURE_READ

    @extend_schema(parameters=[PeriodSerializer], responses=SIGNED)
    def get(self, request):
        return Response(aiverify_signed(report=period_report(request)))


class ReadinessFrameworkApi(APIView):
    """Every item of a framework, answered from the readiness report or left to the operator.
    An unknown framework is refused with `unknown_framework` (404)."""

    required_scope = scopes.ERASURE_READ

    @extend_schema(
        parameters=[
            PeriodSerializer,
            OpenApiParameter(
                "framework",
                str,
                OpenApiParameter.PATH,
                description="aiverify, asean, model-ai-gov or genai.",
            ),
        ],
        responses=FrameworkAnswersSerializer,
    )
    def get(self, request, framework: str):
        # The framework first: an unknown one is refused before the report is computed.
        found = framework_get(slug=framework)
        return Response(framework_answers(report=period_report(request), framework=found))
