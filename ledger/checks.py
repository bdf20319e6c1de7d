"""Startup checks of the ledger's settings (ids lup.E010…)."""

from pathlib import Path

from django.conf import settings
from django.core.checks import Error, register


@register()
def check_signing_key(app_configs, **kwargs) -> list[Error]:
    if settings.EMBEDDED:
        return []  # generated on first use
    path = Path(settings.LUP_SIGNING_KEY_FILE)
    if not path.is_file():
        return [
            Error(
                "LUP_SIGNING_KEY_FILE does not name a key file.",
                hint="Create one with: python manage.py ledger_keygen --out PATH",
                id="lup.E010",
            )
        ]
    from ledger.keys import load_private_key

    try:
        load_private_key(path)
    except (ValueError, TypeError):
        return [Error("LUP_SIGNING_KEY_FILE is not an Ed25519 PEM key.", id="lup.E011")]
    if path.stat().st_mode & 0o077:
        return [Error("LUP_SIGNING_KEY_FILE is readable by others; chmod 600 it.", id="lup.E012")]
    return []


@register()
def check_log_origin(app_configs, **kwargs) -> list[Error]:
    origin = settings.LUP_LOG_ORIGIN
    if not origin or "://" in origin or any(c.isspace() for c in origin) or "+" in origin:
        return [
            Error(
                "LUP_LOG_ORIGIN must be a schema-less URL such as lup.example.org/receipts.",
                id="lup.E013",
            )
        ]
    return []
