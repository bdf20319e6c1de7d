"""The readiness report in a framework's terms:

- GET /api/v1/reports/readiness/aiverify: AI Verify's process-checklist import file;
- GET /api/v1/reports/readiness/aiverify/signed: the same answers as a signed document;
- GET /api/v1/reports/readiness/frameworks/{framework}: every item of a framework, answered or
  left to the operator (aiverify, asean, model-ai-gov, genai).

Same scope and period parameters as the readiness report they are made from."""

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
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


AIVERIFY_EXAMPLE = OpenApiExample(
    "One principle",
    value={
        "sheets": [
            {
                "name": "Data Governance",
                "summaryJustification": "Decided from Lup's records for 2026-09-07 to 2026-12-06.",
                "rows": [
                    {
                        "pid": "4.1.1",
                        "completed": "Yes",
                        "elaboration": "12 of 12 training and evaluation versions have their "
                        "provenance recorded (readiness report, section data).",
                    }
                ],
            }
        ]
    },
)
FRAMEWORK_EXAMPLE = OpenApiExample(
    "One item answered",
    value={
        "format": "lup-framework/1",
        "framework": "asean",
        "title": "ASEAN Guide on AI Governance and Ethics",
        "edition": "2024-02",
        "sources": [
            {"title": "ASEAN Guide on AI Governance and Ethics", "url": "https://asean.org/"}
        ],
        "operator": "Lup demo operator",
        "markets": ["SG", "KH"],
        "period": {"start": "2026-09-07", "end": "2026-12-06"},
        "generated_at": "2026-12-06T01:00:00+00:00",
        "summary": {"yes": 1, "no": 0, "operators_to_answer": 1},
        "answers": [
            {
                "id": "data-provenance",
                "title": "The provenance of training data is recorded",
                "group": "Data",
                "answer": "Yes",
                "section": "data",
                "conditions": [
                    {
                        "condition": "provenance",
                        "says": "every training or evaluation version has a recorded origin",
                        "holds": True,
                        "nothing_on_record": False,
                        "figures": {"versions": 12, "versions_with_provenance": 12},
                        "gaps": [],
                    }
                ],
                "elaboration": "12 of 12 versions have their provenance recorded.",
                "links": {"section": "/admin/reports/readiness/#data"},
            }
        ],
        "operators_to_answer": [
            {
                "id": "stakeholder-engagement",
                "title": "Stakeholders were consulted",
                "group": "Governance",
                "section": None,
            }
        ],
    },
)
SIGNED_EXAMPLE = OpenApiExample(
    "Signed",
    value={
        "payload": "eyJib2R5Ijp7InJlcG9ydCI6eyJzaGVldHMiOlt7…",
        "sig": "q1Vn0cW2…",
        "kid": "8da8683d",
    },
)


class ReadinessAiVerifyApi(APIView):
    """The readiness report as AI Verify's process-checklist import file: a row per check
    Lup's records decide; checks outside them are left for the operator to answer."""

    required_scope = scopes.ERASURE_READ

    @extend_schema(
        parameters=[PeriodSerializer],
        responses=AiVerifyImportSerializer,
        examples=[AIVERIFY_EXAMPLE],
    )
    def get(self, request):
        return Response(aiverify_import(report=period_report(request)))


class ReadinessAiVerifySignedApi(APIView):
    """The AI Verify answers as a signed document: `python -m ledger.verify report FILE --key
    KEY` checks it; its payload's `report` imports into AI Verify as it is."""

    required_scope = scopes.ERASURE_READ

    @extend_schema(parameters=[PeriodSerializer], responses=SIGNED, examples=[SIGNED_EXAMPLE])
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
        examples=[FRAMEWORK_EXAMPLE],
    )
    def get(self, request, framework: str):
        # The framework first: an unknown one is refused before the report is computed.
        found = framework_get(slug=framework)
        return Response(framework_answers(report=period_report(request), framework=found))
