"""Public, read-only: every market's rules with their sources, and the composed effective rules.

The rules are a summary of public law, so anyone may read them; a subject's portal and an
enterprise client's reviewer both need them without a token.
"""

import pycountry
from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import ApplicationError
from jurisdictions.composer import effective_rules
from jurisdictions.rules import CONSENT_LEVELS, CROSS_BORDER_LEVELS, jurisdictions


def scales() -> dict[str, dict[int, str]]:
    return {"consent": CONSENT_LEVELS, "cross_border": CROSS_BORDER_LEVELS}


def country_param(value: str | None) -> str | None:
    """An ISO 3166-1 alpha-2 code, or None when absent; anything else is `invalid_country`."""
    if value is None or value == "":
        return None
    code = value.strip().upper()
    if len(code) != 2 or pycountry.countries.get(alpha_2=code) is None:
        raise ApplicationError(
            "country is an ISO 3166-1 alpha-2 code.",
            code="invalid_country",
            fields={"country": "invalid_country"},
        )
    return code


class PublicRulesApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []


class JurisdictionListApi(PublicRulesApi):
    """Every country's law and rules, each with its sources and `unconfirmed` flag."""

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request):
        return Response(
            {
                "markets": settings.LUP_MARKETS,
                "scales": scales(),
                "jurisdictions": [j.as_dict() for j in jurisdictions().values()],
            }
        )


class JurisdictionEffectiveApi(PublicRulesApi):
    """The strictest rule per dimension for the configured markets plus `country`."""

    @extend_schema(
        parameters=[OpenApiParameter("country", str, required=False)],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        country = country_param(request.query_params.get("country"))
        return Response(effective_rules(markets=settings.LUP_MARKETS, subject_country=country))
