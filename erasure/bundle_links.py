"""The link a subject gets to their receipt bundle: signed, so it needs no account, and valid
as long as the request keeps the opening of the subject commitment (its retention period)."""

from django.conf import settings
from django.core import signing
from django.core.mail import send_mail

from erasure.models import CLOSED_STATES, ErasureRequest
from erasure.services import erasure_request_identifiers

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


def bundle_link_send(*, request_id) -> bool:
    """Mail the subject of a closed request the link to their bundle, at the first e-mail
    address the request names. False when there is nothing to send: no such address, or the
    request is not closed or its identifiers were shredded."""
    request = (
        ErasureRequest.objects.select_related("key")
        .filter(pk=request_id, state__in=CLOSED_STATES, shredded_at=None)
        .first()
    )
    if request is None:
        return False
    emails = [
        i["value"] for i in erasure_request_identifiers(request=request) if i["id_type"] == "email"
    ]
    if not emails:
        return False
    send_bundle_link(request=request, address=emails[0])
    return True
