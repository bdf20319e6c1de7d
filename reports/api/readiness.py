"""GET /api/v1/reports/readiness (JSON) and …/signed (the same report as a signed document)."""

from django.utils import timezone
from drf_spectacular.utils import (
    OpenApiExample,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from access import scopes
from reports.readiness import Period, readiness_report, readiness_report_signed


class PeriodSerializer(serializers.Serializer):
    start = serializers.DateField(
        required=False,
        help_text="First day (default: the period LUP_READINESS_PERIOD_DAYS before `end`).",
    )
    end = serializers.DateField(required=False, help_text="Last day, included (default: now).")


class ReportRecordSerializer(serializers.Serializer):
    """A record behind a figure: what it is, its id, and its admin page (when it has one);
    each section adds keys of its own (a data version's countries and purposes, a flow's
    `from` and `to`, a rule's `rule` and sources)."""

    label = serializers.CharField(required=False)
    id = serializers.CharField(required=False)
    admin_url = serializers.CharField(required=False, allow_null=True)


class ReportGapSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable: what is missing.")
    detail = serializers.CharField(help_text="For people.")
    record = ReportRecordSerializer(allow_null=True)


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {
            "oneOf": [
                {"type": "number", "nullable": True},
                {"type": "array", "items": {}},
                {"type": "object", "additionalProperties": True},
            ]
        },
        "description": "The section's figures by name: counts, shares (0 to 1, null when "
        "nothing was counted), lists (country pairs, markets) and breakdowns (by purpose, by "
        "market…).",
    }
)
class FiguresField(serializers.JSONField):
    pass


class SectionSerializer(serializers.Serializer):
    title = serializers.CharField()
    question = serializers.CharField(help_text="The question a client's review asks.")
    figures = FiguresField()
    records = ReportRecordSerializer(many=True)
    missing = ReportGapSerializer(many=True, help_text="Gaps, each with a stable code.")
    omitted = inline_serializer(
        "SectionOmitted",
        {"records": serializers.IntegerField(), "missing": serializers.IntegerField()},
        help_text="Records and gaps left out past LUP_READINESS_MAX_RECORDS.",
    )


REPORT = inline_serializer(
    "ReadinessReport",
    {
        "format": serializers.CharField(),
        "operator": serializers.CharField(),
        "markets": serializers.ListField(child=serializers.CharField()),
        "period": inline_serializer(
            "ReportPeriod",
            {"start": serializers.DateTimeField(), "end": serializers.DateTimeField()},
        ),
        "generated_at": serializers.DateTimeField(),
        "gaps": serializers.DictField(
            child=serializers.IntegerField(), help_text="Gaps found, by section."
        ),
        "sections": serializers.DictField(
            child=SectionSerializer(),
            help_text="data, deletion, cross_border, evaluations, oversight, explainability, "
            "strictest_market: each with question, figures, records and missing.",
        ),
    },
)
SIGNED = inline_serializer(
    "SignedReport",
    {
        "payload": serializers.CharField(
            help_text="base64 of the JCS bytes of the report document"
        ),
        "sig": serializers.CharField(help_text="base64 Ed25519 signature over those bytes"),
        "kid": serializers.CharField(help_text="key ID, 8 hex"),
    },
)


def period_report(request) -> dict:
    """The readiness report for the period the query names (`start`, `end`), for every
    endpoint that answers from it."""
    query = PeriodSerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    now = timezone.now()
    period = Period.of_dates(
        start=query.validated_data.get("start"), end=query.validated_data.get("end"), now=now
    )
    return readiness_report(period=period, now=now)


class ReadinessReportApi(APIView):
    """The governance readiness report for the markets served (`LUP_MARKETS`)."""

    required_scope = scopes.ERASURE_READ

    @extend_schema(
        parameters=[PeriodSerializer],
        responses=REPORT,
        examples=[
            OpenApiExample(
                "One section",
                value={
                    "format": "lup-readiness/1",
                    "operator": "Lup demo operator",
                    "markets": ["SG", "KH"],
                    "period": {"start": "2026-09-07", "end": "2026-12-06"},
                    "generated_at": "2026-12-06T01:00:00+00:00",
                    "gaps": {"data": 1},
                    "sections": {
                        "data": {
                            "title": "Data provenance and consent",
                            "question": "Where did the training and evaluation data come from?",
                            "figures": {"versions": 2, "membership_index_share": 0.5},
                            "records": [
                                {
                                    "label": "s3://sea-evals-kh:khm-vie-qa@v1",
                                    "id": "5b0c2a8e-3f41-4c7e-9d0a-6f1e2b3c4d5e",
                                    "admin_url": "/admin/lineage/datasetversion/5b0c2a8e/change/",
                                }
                            ],
                            "missing": [
                                {
                                    "code": "no_location",
                                    "detail": "No storage location is recorded.",
                                    "record": None,
                                }
                            ],
                            "omitted": {"records": 0, "missing": 0},
                        }
                    },
                },
            )
        ],
    )
    def get(self, request):
        return Response(period_report(request))


class ReadinessReportSignedApi(APIView):
    """The report as a signed document: `python -m ledger.verify report FILE --key KEY`
    checks it was not edited after export."""

    required_scope = scopes.ERASURE_READ

    @extend_schema(
        parameters=[PeriodSerializer],
        responses=SIGNED,
        examples=[
            OpenApiExample(
                "Signed",
                value={
                    "payload": "eyJib2R5Ijp7InJlcG9ydCI6eyJmb3JtYXQiOiJsdXAtcmVhZGluZXNz…",
                    "sig": "q1Vn0cW2xZ4…",
                    "kid": "8da8683d",
                },
            )
        ],
    )
    def get(self, request):
        return Response(readiness_report_signed(report=period_report(request)))
