"""The link a subject gets to their receipt bundle: signed, so it needs no account, and valid
as long as the request keeps the opening of the subject commitment (its retention period)."""

from django.conf import settings
from django.core import signing
from django.core.mail import send_mail

from erasure.models import ErasureRequest

SALT = "lup.erasure.bundle"


def bundle_token(*, request: ErasureRequest) -> str:
    return signing.dumps({"r": str(request.pk)}, salt=SALT)


def request_for_token(token: str) -> str | None:
    """The request id a token names, or None for a forged or expired token."""
    max_age = settings.LUP_REQUEST_RETENTION_DAYS * 24 * 3600
    try:
        return signing.loads(token, salt=SALT, max_age=max_age)["r"]
    except (signing.BadSignature, KeyError, TypeError):
        return None


def bundle_url(*, request: ErasureRequest) -> str:
    return f"{settings.LUP_PUBLIC_URL}/api/v1/bundles/{bundle_token(request=request)}"


def send_bundle_link(*, request: ErasureRequest, address: str) -> None:
    """Tell the subject their request is closed and where their receipts are."""
    send_mail(
        "Your deletion request is closed",
        "We have finished your request. Your signed receipts, which you can check yourself, "
        f"are here:\n{bundle_url(request=request)}\n",
        settings.DEFAULT_FROM_EMAIL,
        [address],
    )
