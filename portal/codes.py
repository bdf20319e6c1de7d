"""One-time codes that let a subject see and change their consent choices.

A code lives in Django's cache (Redis in production) for `LUP_CODE_TTL_MINUTES`, under a
random handle that is part of the confirmation page's address. Stored: an HMAC of the code
bound to the handle, the subject key, and the wrong attempts so far; never the code, never
the identifier. Losing the cache only means asking for a new code.
"""

import secrets

from django.conf import settings
from django.core.cache import cache
from django.utils.crypto import constant_time_compare, salted_hmac

from core import subject_keys
from core.errors import ApplicationError
from identity.senders import sender_for


class CodeRefused(ApplicationError):
    """`code` is one of: code_expired, too_many_attempts, invalid_code."""


def _key(handle: str) -> str:
    return f"portal:code:{handle}"


def _hash(handle: str, code: str) -> str:
    return salted_hmac("lup.portal.code", f"{handle}:{code}").hexdigest()


def consent_code_send(*, identifier: subject_keys.Identifier, value: str, language: str) -> str:
    """Send a code to the identifier's owner; returns the handle of the confirmation page."""
    sender = sender_for(identifier.id_type)
    if sender is None:
        raise ApplicationError(
            "No code can be sent to this kind of identifier.", code="no_code_channel"
        )
    handle = secrets.token_urlsafe(24)
    code = f"{secrets.randbelow(10**6):06d}"
    cache.set(
        _key(handle),
        {
            "hash": _hash(handle, code),
            "subject": subject_keys.subject_key(identifier),
            "id_type": identifier.id_type,
            "attempts": 0,
        },
        timeout=settings.LUP_CODE_TTL_MINUTES * 60,
    )
    sender.send(address=value, code=code, language=language, about="consent")
    return handle


def consent_code_confirm(*, handle: str, code: str) -> tuple[str, str]:
    """The subject key and identifier type the code was sent for; the code is spent. Wrong
    codes use attempts."""
    pending = cache.get(_key(handle))
    if pending is None:
        raise CodeRefused("The code has expired; ask for a new one.", code="code_expired")
    if pending["attempts"] >= settings.LUP_CODE_MAX_ATTEMPTS:
        raise CodeRefused("Too many wrong codes; ask for a new one.", code="too_many_attempts")
    if constant_time_compare(pending["hash"], _hash(handle, code)):
        cache.delete(_key(handle))
        return pending["subject"], pending["id_type"]
    pending["attempts"] += 1
    cache.set(_key(handle), pending, timeout=settings.LUP_CODE_TTL_MINUTES * 60)
    raise CodeRefused(
        "That code is not right.",
        code="invalid_code",
        fields={"attempts_left": settings.LUP_CODE_MAX_ATTEMPTS - pending["attempts"]},
    )
