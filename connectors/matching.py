"""How a value read from a target is put in the form the caller normalized identifiers to, so
every kind that compares values itself (files, columns) finds the same items: e-mail trimmed and
lower-cased, phone to E.164 through `core.subject_keys` (None if it is not a phone number),
anything else trimmed."""

import functools

from core import subject_keys


def normalized(id_type: str, value: str) -> str | None:
    """The value in the form the caller normalized identifiers to."""
    if id_type == "email":
        return value.strip().lower()
    if id_type == "phone":
        return _phone(value)
    return value.strip()


@functools.lru_cache(maxsize=4096)
def _phone(value: str) -> str | None:
    try:
        return subject_keys.normalize("phone", value).normalized
    except subject_keys.InvalidIdentifier:
        return None
