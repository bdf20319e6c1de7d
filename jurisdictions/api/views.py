"""Public, read-only: every market's rules with their sources, and the composed effective rules.

The rules are a summary of public law, so anyone may read them; a subject's portal and an
enterprise client's reviewer both need them without a token.
"""

import pycountry
from django.conf import settings
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import ApplicationError
from jurisdictions.api.serializers import EffectiveRulesSerializer, JurisdictionListSerializer
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

    @extend_schema(
        responses={200: JurisdictionListSerializer},
        examples=[
            OpenApiExample(
                "Rules",
                value={
                    "markets": ["KH", "SG"],
                    "scales": {"consent": {"1": "notice", "2": "opt-in consent"}},
                    "jurisdictions": [
                        {
                            "country": "SG",
                            "name": "Singapore",
                            "law": {
                                "title": "Personal Data Protection Act 2012",
                                "status": "in_force",
                                "in_force": "2014-07-02",
                                "comprehensive": True,
                                "summary": "Consent, purpose limitation, access and correction.",
                                "sources": ["https://sso.agc.gov.sg/Act/PDPA2012"],
                                "unconfirmed": False,
                                "note": None,
                            },
                            "rules": {
                                "child_age": {
                                    "age": 13,
                                    "summary": "PDPC guidance: 13 and above may consent.",
                                    "sources": ["https://www.pdpc.gov.sg/"],
                                    "unconfirmed": False,
                                    "note": None,
                                }
                            },
                        }
                    ],
                },
            )
        ],
    )
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
        responses={200: EffectiveRulesSerializer},
        examples=[
            OpenApiExample(
                "For a subject in Cambodia",
                value={
                    "markets": ["SG", "KH"],
                    "subject_country": "KH",
                    "considered": ["SG", "KH"],
                    "without_data": [],
                    "received_at": "2026-11-01T09:30:00+00:00",
                    "rules": {
                        "erasure_deadline": {
                            "basis": "statutory",
                            "deadline": {
                                "amount": 30,
                                "unit": "days",
                                "business": False,
                                "extension": None,
                            },
                            "due_at": "2026-12-01T09:30:00+00:00",
                            "from": ["SG"],
                            "unconfirmed": False,
                            "summary": "As soon as reasonably possible; 30 days in guidance.",
                            "not_known_for": ["KH"],
                            "rules": {},
                        }
                    },
                },
            )
        ],
    )
    def get(self, request):
        country = country_param(request.query_params.get("country"))
        return Response(effective_rules(markets=settings.LUP_MARKETS, subject_country=country))
