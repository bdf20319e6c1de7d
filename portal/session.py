"""The subject's session on the consent pages, in a cookie of its own.

It is not Django's session: a subject who confirms a consent code in a browser where a staff
member is signed in to the admin must neither share that session nor end it by leaving. The
store is Django's session engine all the same (expiry, rotation, a server-side record).
"""

from importlib import import_module

from django.conf import settings
from django.http import HttpRequest, HttpResponse

COOKIE = "lup_subject"
KEY = "portal_subject"


def _store(session_key: str | None = None):
    return import_module(settings.SESSION_ENGINE).SessionStore(session_key=session_key)


def subject_of(request: HttpRequest) -> dict | None:
    """The verified subject of this browser, or None (no cookie, unknown or expired)."""
    session_key = request.COOKIES.get(COOKIE)
    if not session_key:
        return None
    return _store(session_key).get(KEY)


def subject_sign_in(request: HttpRequest, response: HttpResponse, subject: dict) -> None:
    subject_sign_out(request, response)  # a new key for each verified subject
    store = _store()
    store[KEY] = subject
    store.set_expiry(settings.LUP_PORTAL_SESSION_MINUTES * 60)
    store.save()
    response.set_cookie(
        COOKIE,
        store.session_key,
        max_age=settings.LUP_PORTAL_SESSION_MINUTES * 60,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )


def subject_sign_out(request: HttpRequest, response: HttpResponse) -> None:
    session_key = request.COOKIES.get(COOKIE)
    if session_key:
        _store(session_key).delete()
    response.delete_cookie(COOKIE, samesite="Lax")
