"""A read-only admin page of every market's rules and the composed effective rules.

The app has no models, so there is no ModelAdmin to hang a page on. Instead the default admin
site gets one more URL (`admin/jurisdictions/`, by wrapping `admin.site.get_urls`) and one more
entry on its index and sidebar (by wrapping `admin.site.get_app_list`). The page goes through
`admin.site.admin_view`, so it needs an active staff session like every admin page; the rules
are public, so no further permission is asked.
"""

from django.conf import settings
from django.contrib import admin
from django.template.response import TemplateResponse
from django.urls import path, reverse

from core.errors import ApplicationError
from jurisdictions.api.views import country_param, scales
from jurisdictions.composer import effective_rules
from jurisdictions.rules import RULE_NAMES, jurisdictions

URL_NAME = "jurisdictions_rules"


def rules_view(request):
    error, country = "", None
    try:
        country = country_param(request.GET.get("country"))
    except ApplicationError as exc:
        error = exc.detail
    effective = effective_rules(markets=settings.LUP_MARKETS, subject_country=country)
    context = {
        **admin.site.each_context(request),
        "title": "Jurisdictions: rules by country",
        "jurisdictions": [j.as_dict() for j in jurisdictions().values()],
        "rule_names": RULE_NAMES,
        "effective": effective,
        "country": country or "",
        "error": error,
        "scales": scales(),
    }
    return TemplateResponse(request, "admin/jurisdictions/rules.html", context)


def _with_rules_url(get_urls):
    def get_urls_with_rules():
        page = path("jurisdictions/", admin.site.admin_view(rules_view), name=URL_NAME)
        return [page, *get_urls()]

    return get_urls_with_rules


def _with_rules_entry(get_app_list):
    def get_app_list_with_rules(request, app_label=None):
        apps = get_app_list(request, app_label)
        if app_label is not None or not request.user.is_staff:
            return apps
        url = reverse(f"{admin.site.name}:{URL_NAME}")
        entry = {
            "name": "Jurisdictions",
            "app_label": "jurisdictions",
            "app_url": url,
            "has_module_perms": True,
            "models": [
                {
                    "name": "Rules by country",
                    "object_name": "Rules",
                    "admin_url": url,
                    "add_url": None,
                    "view_only": True,
                    "perms": {"view": True},
                }
            ],
        }
        return sorted([*apps, entry], key=lambda app: app["name"].lower())

    return get_app_list_with_rules


admin.site.get_urls = _with_rules_url(admin.site.get_urls)
admin.site.get_app_list = _with_rules_entry(admin.site.get_app_list)
