"""Startup checks of the erasure settings (ids lup.E030…)."""

import re

from django.conf import settings
from django.core.checks import Error, register

HEX_256 = re.compile(r"^[0-9a-fA-F]{64}$")


@register()
def check_request_kek(app_configs, **kwargs) -> list[Error]:
    if not HEX_256.match(settings.LUP_REQUEST_KEK):
        return [
            Error(
                "LUP_REQUEST_KEK must be 64 hex digits (a 256-bit key).",
                hint="Generate one with: python -c 'import secrets; print(secrets.token_hex(32))'",
                id="lup.E030",
            )
        ]
    return []
