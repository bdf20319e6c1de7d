"""The admin site: Django's, plus a dashboard on the index and pages the apps contribute.

Core imports no app. The dashboard is the function named by `LUP_ADMIN_DASHBOARD`, and extra
pages come from the functions named by `LUP_ADMIN_URLS`, each called with the site and
returning URL patterns, so the arrows of the layout keep pointing one way.
"""

from typing import Any

from django.conf import settings
from django.contrib import admin
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import URLPattern, URLResolver
from django.utils.module_loading import import_string
from django_otp.admin import OTPAdminAuthenticationForm, OTPAdminSite


class LupAdminSite(admin.AdminSite):
    site_header = "Lup compliance"
    site_title = "Lup"
    index_title = "Consent, lineage and erasure"
    # Its own name, so no app's template order decides whether Django's index wins.
    index_template = "admin/lup_index.html"

    # Two-factor sign-in (TOTP, django-otp) when LUP_ADMIN_REQUIRE_OTP is on: the login form
    # asks for the device's code, and a session not verified by one is not let in.
    @property
    def login_form(self):
        return OTPAdminAuthenticationForm if settings.LUP_ADMIN_REQUIRE_OTP else None

    @property
    def login_template(self):
        return OTPAdminSite.login_template if settings.LUP_ADMIN_REQUIRE_OTP else None

    def has_permission(self, request: HttpRequest) -> bool:
        allowed = super().has_permission(request)
        if allowed and settings.LUP_ADMIN_REQUIRE_OTP:
            return request.user.is_verified()
        return allowed

    def index(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> TemplateResponse:
        request.current_app = self.name
        context = {"dashboard": self.dashboard(request), **(extra_context or {})}
        return super().index(request, context)

    def dashboard(self, request: HttpRequest) -> Any:
        """What `LUP_ADMIN_DASHBOARD` gives for this request (None when unset)."""
        dotted = getattr(settings, "LUP_ADMIN_DASHBOARD", "")
        return import_string(dotted)(request=request) if dotted else None

    def get_urls(self) -> list[URLPattern | URLResolver]:
        extra: list[URLPattern | URLResolver] = []
        for dotted in getattr(settings, "LUP_ADMIN_URLS", ()):
            try:
                contribute = import_string(dotted)
            except ImportError as exc:
                raise ImproperlyConfigured(
                    f"LUP_ADMIN_URLS names {dotted!r}, which cannot be imported: {exc}"
                ) from exc
            extra += contribute(self)
        # Before Django's own: its last pattern catches every remaining path.
        return [*extra, *super().get_urls()]
