"""Startup checks of the admin site's settings (ids lup.E040…) and of mail (lup.E090, W091).

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


FILE_MAIL = "django.core.mail.backends.filebased.EmailBackend"


def _mail_to_files() -> bool:
    """Mail goes to files (no EMAIL_HOST) in a real deployment; embedded mode is exempt."""
    return not settings.EMBEDDED and settings.EMAIL_BACKEND == FILE_MAIL


@register()
def check_mail_host(app_configs, **kwargs) -> list[Error]:
    if not _mail_to_files() or settings.LUP_MAIL_TO_FILES:
        return []
    return [
        Error(
            "EMAIL_HOST is not set: subjects' addresses and one-time codes would be written "
            "to files on this server.",
            hint="Set EMAIL_HOST (and EMAIL_PORT, EMAIL_HOST_USER, EMAIL_HOST_PASSWORD); for a "
            "test stack only, LUP_MAIL_TO_FILES=true.",
            id="lup.E090",
        )
    ]


@register(deploy=True)
def check_mail_to_files(app_configs, **kwargs) -> list[Warning]:
    if not (_mail_to_files() and settings.LUP_MAIL_TO_FILES):
        return []
    return [
        Warning(
            "LUP_MAIL_TO_FILES is on: subjects' addresses and one-time codes are written to "
            f"files in {settings.EMAIL_FILE_PATH}.",
            hint="Set EMAIL_HOST and remove LUP_MAIL_TO_FILES.",
            id="lup.W091",
        )
    ]
