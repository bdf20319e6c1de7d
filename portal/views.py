"""The data subject's pages: start, deletion request, code, status, consents. Thin: forms
check input, services in erasure and consent act, templates speak the subject's language.

No page says whether an identifier is known to us: a deletion request is filed and a code is
sent for any well-formed identifier, and consent codes go out whether or not we hold choices
for it. Every form that sends or checks a code is rate limited per client address and per
identifier.
"""

from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from django.views.decorators.http import require_http_methods

from consent import selectors as consent_selectors
from consent import services as consent_services
from core import subject_keys
from core.actors import SUBJECT_PORTAL
from core.errors import ApplicationError
from erasure import selectors as erasure_selectors
from erasure.dispatch import erasure_request_proceed_later
from erasure.models import ErasureRequest
from erasure.services import (
    erasure_request_create,
    erasure_verification_confirm,
    erasure_verification_start,
)
from identity.codes import CodeRefused, OneTimeCodes
from identity.links import link_issue, link_resolve
from identity.stores import CacheCodeStore
from ledger.selectors import CheckpointPending
from portal import purposes, ratelimit
from portal.forms import CodeForm, ConsentChangeForm, DeletionForm, IdentifierForm
from portal.security import subject_page
from portal.session import subject_of, subject_sign_in, subject_sign_out

STATUS_SALT = "lup.portal.status"  # of the signed links made before BearerLink
STATUS_LINK = "erasure-status"
# The consent page's codes, in the cache under a random handle that is part of the confirmation
# page's address, with the subject key they were sent for (never the identifier); losing the
# cache only means asking for a new code. Salt and binding are those they had before identity/.
CONSENT_CODES = OneTimeCodes(CacheCodeStore(prefix="portal:code", salt="lup.portal.code"))


def _language() -> str:
    return translation.get_language() or settings.LANGUAGE_CODE


def _status_token(request_id) -> str:
    """A new link to a request's status page: random, and stored only as a hash (identity)."""
    return link_issue(purpose=STATUS_LINK, ref=str(request_id))


def _request_for(token: str) -> ErasureRequest:
    """The request a status token opens, while it still may: until `LUP_STATUS_LINK_DAYS` after
    the request closed. The link opens the receipt bundle with the commitment opening, so it
    must not work for ever; a closed request's subject has had time to save the bundle."""
    request_id = link_resolve(purpose=STATUS_LINK, token=token) or _legacy_request_id(token)
    found = request_id and ErasureRequest.objects.filter(pk=request_id).first()
    if not found:
        raise Http404
    if found.closed_at and timezone.now() >= found.closed_at + timedelta(
        days=settings.LUP_STATUS_LINK_DAYS
    ):
        raise Http404
    return found


def _legacy_request_id(token: str) -> str | None:
    """Links made before status tokens were stored hashed were signed request ids. Nothing of
    them was stored, so they cannot be hashed after the fact; they keep working under the same
    expiry as the new ones."""
    try:
        return signing.loads(token, salt=STATUS_SALT)
    except signing.BadSignature:
        return None


def _rate_limited(request: HttpRequest, scope: str, subject: str | None) -> bool:
    """True when this client or this identifier has used `scope` too often this hour."""
    ip_ok = ratelimit.allow(
        f"{scope}:ip", ratelimit.client_address(request), limit=settings.LUP_PORTAL_RATE_PER_IP
    )
    subject_ok = subject is None or ratelimit.allow(
        f"{scope}:subject", subject, limit=settings.LUP_PORTAL_RATE_PER_IDENTIFIER
    )
    return not (ip_ok and subject_ok)


TOO_MANY_MESSAGE = gettext_noop(
    "Too many attempts from here or for this identifier. Please wait an hour and try again."
)


def _code_message(code: str) -> str:
    return {
        "code_expired": _("The code has expired. Ask for a new one."),
        "too_many_attempts": _("Too many wrong codes. Ask for a new one."),
        "no_pending_code": _("No code is waiting for this request. Ask for a new one."),
    }.get(code, _("That code is not right. Check the latest message we sent you."))


# --- start --------------------------------------------------------------------------------------


@subject_page
def start(request: HttpRequest) -> HttpResponse:
    return render(request, "portal/start.html", {"operator": settings.LUP_OPERATOR_NAME})


# --- deletion -----------------------------------------------------------------------------------


@subject_page
@require_http_methods(["GET", "POST"])
def deletion_new(request: HttpRequest) -> HttpResponse:
    form = DeletionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        identifier = form.cleaned_data["identifier"]
        if _rate_limited(request, "delete", subject_keys.subject_key(identifier)):
            form.add_error(None, _(TOO_MANY_MESSAGE))
            return render(request, "portal/delete.html", {"form": form}, status=429)
        filed, _new = erasure_request_create(
            identifiers=[{"id_type": identifier.id_type, "value": identifier.normalized}],
            country=form.cleaned_data["country"],
            channel="portal",
            actor=SUBJECT_PORTAL,
            note=form.cleaned_data["note"],
        )
        erasure_verification_start(request=filed, actor=SUBJECT_PORTAL, language=_language())
        token = _status_token(filed.pk)
        return redirect("portal:deletion-confirm", token=token)
    return render(
        request,
        "portal/delete.html",
        {"form": form},
        status=400 if request.method == "POST" else 200,
    )


@subject_page
@require_http_methods(["GET", "POST"])
def deletion_confirm(request: HttpRequest, token: str) -> HttpResponse:
    filed = _request_for(token)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and "resend" in request.POST:
        if _rate_limited(request, "resend", str(filed.pk)):
            form = CodeForm()
            form.add_error(None, _(TOO_MANY_MESSAGE))
            return render(request, "portal/confirm.html", {"form": form}, status=429)
        try:
            erasure_verification_start(request=filed, actor=SUBJECT_PORTAL, language=_language())
        except ApplicationError:
            return redirect("portal:status", token=token)  # already past verification
        return render(request, "portal/confirm.html", {"form": CodeForm(), "resent": True})
    if request.method == "POST" and form.is_valid():
        if _rate_limited(request, "confirm", str(filed.pk)):
            form.add_error(None, _(TOO_MANY_MESSAGE))
            return render(request, "portal/confirm.html", {"form": form}, status=429)
        try:
            verified = erasure_verification_confirm(
                request=filed, code=form.cleaned_data["code"], actor=SUBJECT_PORTAL
            )
        except ApplicationError as exc:
            form.add_error("code", _code_message(exc.code))
            return render(request, "portal/confirm.html", {"form": form}, status=400)
        erasure_request_proceed_later(request=verified)
        return redirect("portal:status", token=token)
    if filed.state not in ("received", "verifying"):
        return redirect("portal:status", token=token)
    return render(
        request,
        "portal/confirm.html",
        {"form": form},
        status=400 if request.method == "POST" else 200,
    )


@subject_page
def status(request: HttpRequest, token: str) -> HttpResponse:
    filed = _request_for(token)
    progress = erasure_selectors.erasure_request_progress(request=filed)
    return render(
        request,
        "portal/status.html",
        {
            "progress": progress,
            "token": token,
            "reference": str(filed.pk)[:8],
            "public_url": settings.LUP_PUBLIC_URL,
            "key_url": reverse("ledger:key"),
        },
    )


def bundle(request: HttpRequest, token: str) -> HttpResponse:
    filed = _request_for(token)
    if not erasure_selectors.erasure_request_progress(request=filed)["has_bundle"]:
        raise Http404
    try:
        document = erasure_selectors.erasure_request_bundle(request=filed)
    except CheckpointPending as exc:
        return JsonResponse({"code": exc.code, "detail": exc.detail}, status=exc.status_code)
    response = JsonResponse(document, json_dumps_params={"ensure_ascii": False, "indent": 1})
    response["Content-Disposition"] = 'attachment; filename="receipts-bundle.json"'
    response["Cache-Control"] = "no-store"
    return response


# --- consents -----------------------------------------------------------------------------------


@subject_page
@require_http_methods(["GET", "POST"])
def consent_start(request: HttpRequest) -> HttpResponse:
    form = IdentifierForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        identifier = form.cleaned_data["identifier"]
        if _rate_limited(request, "consent", subject_keys.subject_key(identifier)):
            form.add_error(None, _(TOO_MANY_MESSAGE))
            return render(request, "portal/consent_start.html", {"form": form}, status=429)
        handle = CONSENT_CODES.store.new_key()
        CONSENT_CODES.send(
            key=handle,
            id_type=identifier.id_type,
            address=identifier.normalized,
            language=_language(),
            about="consent",
            subject=subject_keys.subject_key(identifier),
        )
        return redirect("portal:consent-confirm", handle=handle)
    return render(
        request,
        "portal/consent_start.html",
        {"form": form},
        status=400 if request.method == "POST" else 200,
    )


@subject_page
@require_http_methods(["GET", "POST"])
def consent_confirm(request: HttpRequest, handle: str) -> HttpResponse:
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if _rate_limited(request, "consent-confirm", handle):
            form.add_error(None, _(TOO_MANY_MESSAGE))
            return render(request, "portal/confirm.html", {"form": form}, status=429)
        try:
            with CONSENT_CODES.confirm(key=handle, code=form.cleaned_data["code"]) as pending:
                subject = {"key": pending.subject, "id_type": pending.channel}
        except CodeRefused as exc:
            form.add_error("code", _code_message(exc.code))
            return render(
                request, "portal/confirm.html", {"form": form, "consent": True}, status=400
            )
        response = redirect("portal:consents")
        subject_sign_in(request, response, subject)
        return response
    return render(
        request,
        "portal/confirm.html",
        {"form": form, "consent": True},
        status=400 if request.method == "POST" else 200,
    )


@subject_page
@require_http_methods(["GET", "POST"])
def consents(request: HttpRequest) -> HttpResponse:
    subject = subject_of(request)
    if not subject:
        return redirect("portal:consent-start")
    key = subject["key"]
    receipt = None
    form = ConsentChangeForm(request.POST or None)
    if request.method == "POST":
        if not form.is_valid():
            return _consents_page(request, key, form, status=400)
        recorded = consent_services.consent_portal_change(
            subject_key=key,
            id_type=subject["id_type"],
            purpose_key=form.cleaned_data["purpose"],
            status=form.cleaned_data["status"],
            jurisdiction=form.cleaned_data["country"],
            notice_key=settings.LUP_PORTAL_NOTICE,
            language=_language(),
            at=timezone.now(),
        )
        receipt = recorded
    return _consents_page(request, key, ConsentChangeForm(), receipt=receipt)


def _consents_page(request, key, form, *, receipt=None, status=200) -> HttpResponse:
    view = consent_selectors.consent_portal_view(
        subject_key=key,
        purpose_keys=settings.LUP_PORTAL_PURPOSES,
        notice_key=settings.LUP_PORTAL_NOTICE,
        language=_language(),
    )
    for purpose in view["purposes"]:
        purpose["label"], purpose["explanation"] = purposes.label(purpose["key"], purpose["name"])
    return render(
        request,
        "portal/consents.html",
        {
            "view": view,
            "form": form,
            "receipt": receipt,
        },
        status=status,
    )


def consent_receipt(request: HttpRequest, receipt_id) -> HttpResponse:
    subject = subject_of(request)
    try:
        document = subject and consent_selectors.subject_receipt_document(
            subject_key=subject["key"], receipt_id=receipt_id
        )
    except CheckpointPending as exc:
        return JsonResponse({"code": exc.code, "detail": exc.detail}, status=exc.status_code)
    if not document:
        raise Http404
    response = JsonResponse(document, json_dumps_params={"indent": 1})
    response["Content-Disposition"] = f'attachment; filename="consent-receipt-{receipt_id}.json"'
    response["Cache-Control"] = "no-store"
    return response


@subject_page
def consent_leave(request: HttpRequest) -> HttpResponse:
    response = redirect("portal:start")
    subject_sign_out(request, response)  # the subject's cookie only: a staff sign-in stays
    return response
