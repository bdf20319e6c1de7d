"""Startup checks of the consent registry's settings (ids lup.E001…)."""

from django.conf import settings
from django.core.checks import Error, Tags, register

MIN_PEPPER_LENGTH = 32


@register(Tags.security, deploy=False)
def check_subject_pepper(app_configs, **kwargs) -> list[Error]:
    # A short pepper can be brute-forced from a list of subject keys; keys are final once
    # issued, so a weak pepper is refused before the first one is.
    if len(settings.LUP_SUBJECT_PEPPER) < MIN_PEPPER_LENGTH:
        return [
            Error(
                f"LUP_SUBJECT_PEPPER must be at least {MIN_PEPPER_LENGTH} characters.",
                hint="Generate one with: python -c 'import secrets; print(secrets.token_hex(32))'",
                id="lup.E001",
            )
        ]
    return []


@register()
def check_phone_region(app_configs, **kwargs) -> list[Error]:
    import phonenumbers

    region = settings.LUP_PHONE_DEFAULT_REGION
    if region and region not in phonenumbers.SUPPORTED_REGIONS:
        return [
            Error(
                "LUP_PHONE_DEFAULT_REGION is not a region phone numbers can be read in.",
                hint="Use an ISO 3166-1 alpha-2 code such as KH, VN or SG, or leave it empty.",
                id="lup.E002",
            )
        ]
    return []
