"""GET /api/v1/reports/readiness (JSON) and …/signed (the same report as a signed document)."""

from django.utils import timezone
from drf_spectacular.utils import extend_schema, inline_serializer
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


REPORT = inline_serializer(
    "ReadinessReport",
    {
        "format": serializers.CharField(),
        "operator": serializers.CharField(),
        "markets": serializers.ListField(child=serializers.CharField()),
        "period": serializers.DictField(child=serializers.CharField()),
        "generated_at": serializers.DateTimeField(),
        "gaps": serializers.DictField(
            child=serializers.IntegerField(), help_text="Gaps found, by section."
        ),
        "sections": serializers.DictField(
            help_text="data, deletion, cross_border, evaluations, oversight, explainability, "
            "strictest_market: each with question, figures, records and missing."
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

    @extend_schema(parameters=[PeriodSerializer], responses=REPORT)
    def get(self, request):
        return Response(period_report(request))


class ReadinessReportSignedApi(APIView):
    """The report as a signed document: `python -m ledger.verify report FILE --key KEY`
    checks it was not edited after export."""

    required_scope = scopes.ERASURE_READ

    @extend_schema(parameters=[PeriodSerializer], responses=SIGNED)
    def get(self, request):
        return Response(readiness_report_signed(report=period_report(request)))
