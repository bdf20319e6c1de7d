"""Subject keys, shared by consent and lineage: normalization and HMAC.

`subject_key = HMAC-SHA256(pepper, "<id_type>:<normalized value>")`, hex. The same person
written two ways ("Sok@Example.com ", "sok@example.com"; "012 345 678" in Cambodia,
"+85512345678") gets one key, so normalization is part of the key's definition.
"""

import hashlib
import hmac
import re
import unicodedata
from dataclasses import dataclass

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from core.errors import ApplicationError

ID_TYPE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
SUBJECT_KEY = re.compile(r"^[0-9a-f]{64}$")
MAX_IDENTIFIER_LENGTH = 320


class InvalidIdentifier(ApplicationError):
    """Raised with a stable code; never with the identifier in the message."""

    code = "invalid_identifier"


@dataclass(frozen=True, slots=True)
class Identifier:
    id_type: str
    normalized: str

    @property
    def text(self) -> str:
        return f"{self.id_type}:{self.normalized}"


def normalize(id_type: str, value: str, *, default_region: str | None = None) -> Identifier:
    if not isinstance(id_type, str) or not ID_TYPE.match(id_type):
        raise InvalidIdentifier("Unknown or malformed identifier type.", code="invalid_id_type")
    if not isinstance(value, str):
        raise InvalidIdentifier("The identifier must be a string.")
    value = value.strip()
    if not value or len(value) > MAX_IDENTIFIER_LENGTH or not value.isprintable():
        raise InvalidIdentifier("The identifier is empty, too long or has control characters.")
    if id_type == "email":
        return Identifier("email", _normalize_email(value))
    if id_type == "phone":
        region = default_region if default_region is not None else settings.LUP_PHONE_DEFAULT_REGION
        return Identifier("phone", _normalize_phone(value, region))
    return Identifier(id_type, value)


# RFC 5322's atom characters besides letters and digits.
_ATOM_PUNCTUATION = frozenset("!#$%&'*+/=?^_`{|}~-")


def _unicode_local_part_ok(local: str) -> bool:
    """A dot-atom local part in any script (RFC 6531: `สมชาย@…`, `សុខា@…`): letters, digits
    and combining marks of every script, RFC 5322's punctuation, and single dots between."""
    if not local or len(local.encode()) > 64 or local.split(".").count("") > 0:
        return False
    return all(
        c == "." or c in _ATOM_PUNCTUATION or c.isalnum() or unicodedata.category(c)[0] == "M"
        for c in local
    )


def _normalize_email(value: str) -> str:
    value = value.lower()
    # Django's validator knows ASCII local parts only; for others it checks the domain.
    local, _, domain = value.rpartition("@")
    try:
        if local.isascii():
            validate_email(value)
        elif _unicode_local_part_ok(local):
            validate_email(f"x@{domain}")
        else:
            raise ValidationError("local part")
    except ValidationError:
        raise InvalidIdentifier("Not a valid e-mail address.", code="invalid_email") from None
    return value


def _normalize_phone(value: str, region: str | None) -> str:
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        raise InvalidIdentifier(
            "Not a phone number (write it with its country code, e.g. +855…).",
            code="invalid_phone",
        ) from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidIdentifier("Not a valid phone number.", code="invalid_phone")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def subject_key(identifier: Identifier, *, pepper: str | None = None) -> str:
    secret = (pepper if pepper is not None else settings.LUP_SUBJECT_PEPPER).encode()
    return hmac.new(secret, identifier.text.encode(), hashlib.sha256).hexdigest()


def key_for(id_type: str, value: str) -> str:
    """The subject key of a raw identifier."""
    return subject_key(normalize(id_type, value))


def validate_subject_key(value: str) -> str:
    if not isinstance(value, str) or not SUBJECT_KEY.match(value):
        raise InvalidIdentifier("A subject key is 64 lower-case hex digits.", code="invalid_key")
    return value
