"""Startup checks of the admin site's settings (ids lup.E040…).

LUP_ADMIN_URLS has no check of its own: Django's URL checks load the admin's URLs, and a wrong
entry stops them with an error naming the setting (core.admin_site)."""

from django.conf import settings
from django.core.checks import Error, Warning, register
from django.utils.module_loading import import_string


@register()
def check_admin_dashboard(app_configs, **kwargs) -> list[Error]:
    dotted = getattr(settings, "LUP_ADMIN_DASHBOARD", "")
    if not dotted:
        return []
    try:
        import_string(dotted)
    except ImportError as exc:
        return [
            Error(
                f"LUP_ADMIN_DASHBOARD does not name a function: {exc}",
                hint="A dotted path such as reports.dashboard.dashboard, or empty.",
                id="lup.E040",
            )
        ]
    return []


@register(deploy=True)
def check_admin_two_factor(app_configs, **kwargs) -> list[Warning]:
    if settings.LUP_ADMIN_REQUIRE_OTP:
        return []
    return [
        Warning(
            "Staff sign in to the admin with a password alone.",
            hint="Set LUP_ADMIN_REQUIRE_OTP=true once every staff member has a TOTP "
            "device (admin: TOTP devices).",
            id="lup.W050",
        )
    ]
