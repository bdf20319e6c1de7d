"""Remove personal data and bearer secrets from log events before they are written.

Identifiers should never reach a log call in the first place; this is the net under that rule.
It masks e-mail addresses (also percent-encoded), phone numbers (international and local, also
percent-encoded), 64-hex subject keys, every value logged under a field name that names an
identifier, and in any URL path the segments that carry a secret (status tokens, consent
handles, bundle tokens) and every query-string value. Django's request logs and gunicorn's
access log go through the same functions, so they agree on what a path may show.
"""

import re
from typing import Any
from urllib.parse import unquote

MASK = "[scrubbed]"

# Separators people and URLs put between digits: space, dot, dash, brackets, and the same
# percent-encoded (`099%20111%20444`).
_SEP = r"(?:[\s().-]|%20|%2[dD])"
# Local parts in any script: word characters, and the whole Thai, Lao, Myanmar and Khmer blocks
# and combining accents, whose vowel signs are marks, not word characters.
_LOCAL = r"\w\u0300-\u036f\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff"
EMAIL = re.compile(rf"[{_LOCAL}][{_LOCAL}.+'%-]*(?:@|%40)[\w-]+(?:\.[\w-]+)+")
PHONE = re.compile(
    # "+" (or %2B) and 7 to 15 digits with separators: E.164 as people write it.
    rf"(?:\+|%2[bB])\d(?:{_SEP}?\d){{6,14}}"
    # A local number: a trunk 0 and the rest in groups of 2 to 4 digits, 9 to 12 digits in all
    # (KH `012 345 678`, TH `081-234-5678`, VN `091 234 56 78`). Not inside a longer token
    # (a UUID, a version, a time); `_local_phone` counts the digits, so dates are kept.
    rf"|(?<![\w.:%+-])0\d{{1,3}}(?:{_SEP}\d{{2,4}}){{2,4}}(?![\w-])"
    # 9 or more bare digits in a row.
    r"|(?<![\w.:-])\d{9,}(?![\w.:-])"
)
SUBJECT_KEY = re.compile(r"(?<![0-9a-fA-F])[0-9a-fA-F]{64}(?![0-9a-fA-F])")
# A URL path in free text ("Not Found: /en/requests/…", "GET /x?y=z HTTP/1.1"), not the slash
# inside a word ("application/json", "HTTP/1.1").
URL_PATH = re.compile(r"(?<![\w.~%-])/[^\s\"'<>]*")

SENSITIVE_FIELDS = frozenset(
    {
        "identifier",
        "identifiers",
        "value",
        "email",
        "phone",
        "subject_key",
        "national_id",
        "user_id",
        "device_id",
        "nonce",
        "token",
        "password",
        "otp",
        "code_value",
    }
)

# Path segments after which the next segment is a bearer secret or may be one: the subject's
# status token (`/requests/<token>/`), a consent page's handle (`/consents/confirm/<handle>/`),
# a receipt bundle's token (`/bundles/<token>`), a subject key (`/subjects/<key>`).
SECRET_AFTER = frozenset({"requests", "confirm", "bundles", "subjects"})
_UUID = re.compile(r"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")
_HEX_RUN = re.compile(r"[0-9a-fA-F]{32,}")
_DIGIT_RUN = re.compile(r"\d{9,}")
_QUERY_KEY = re.compile(r"[\w.\[\]-]{1,40}")


def _phone_mask(match: re.Match) -> str:
    found = match.group(0)
    if found[0] == "0" and not 9 <= sum(c.isdigit() for c in found.replace("%20", " ")) <= 12:
        return found  # a local-looking group of too few or too many digits: a date, a range
    return MASK


def _scrub_identifiers(text: str) -> str:
    text = EMAIL.sub(MASK, text)
    text = SUBJECT_KEY.sub(MASK, text)
    return PHONE.sub(_phone_mask, text)


def redact_segment(segment: str, *, after: str = "") -> str:
    """A path segment as it may be logged.

    Paths carry secrets of their own: subject keys, signed or random status and bundle tokens
    that open a subject's records, one-time handles, and whatever a client mistakenly puts
    there (an e-mail, a phone number). Kept: words, numbers and UUIDs (erasure request ids hold
    nothing personal).
    """
    if not segment or segment == MASK or _UUID.fullmatch(segment):
        return segment
    if after in SECRET_AFTER:
        return MASK
    decoded = unquote(segment)
    if (
        "@" in decoded
        or ":" in decoded
        or _HEX_RUN.search(decoded)
        or _DIGIT_RUN.search(decoded)
        or _scrub_identifiers(decoded) != decoded
    ):
        return MASK
    # Random tokens (base64) mix upper and lower case; route words and file names do not.
    if len(decoded) >= 16 and re.search("[a-z]", decoded) and re.search("[A-Z]", decoded):
        return MASK
    return segment


def redact_query(query: str) -> str:
    """Every value of a query string masked; names kept when they look like names."""
    parts = []
    for pair in query.split("&"):
        key, sep, value = pair.partition("=")
        if not _QUERY_KEY.fullmatch(key):
            parts.append(MASK)
        else:
            parts.append(f"{key}{sep}{MASK if value else ''}")
    return "&".join(parts)


def redact_path(path: str) -> str:
    """A URL path (with or without its query string) as it may be logged."""
    path, mark, query = path.partition("?")
    segments = path.split("/")
    kept = [
        redact_segment(segment, after=segments[index - 1] if index else "")
        for index, segment in enumerate(segments)
    ]
    return "/".join(kept) + (f"?{redact_query(query)}" if mark else "")


def scrub_text(text: str) -> str:
    # Identifiers first: a path Django logs is decoded, so one may hold a space ("/x/+66 81 234
    # 5678/"), which would end the path before the number does.
    text = _scrub_identifiers(text)
    if "/" in text:
        text = URL_PATH.sub(lambda match: redact_path(match.group(0)), text)
    return text


def scrub_value(value: Any) -> Any:
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {
            key: MASK if key in SENSITIVE_FIELDS else scrub_value(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [scrub_value(item) for item in value]
    return value


def scrub_processor(logger: Any, method_name: str, event_dict: dict) -> dict:
    """structlog processor: the last step before rendering."""
    return scrub_value(event_dict)
