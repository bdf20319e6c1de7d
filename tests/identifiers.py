"""Identifiers the suite uses. Every one is recorded, and the end of the run checks that none
of them reached the log file (see conftest.py)."""

import contextlib
import itertools
import uuid

USED: set[str] = set()
_counter = itertools.count()


def _record(value: str) -> str:
    USED.add(value)
    return value


def email() -> str:
    return _record(f"Person.{uuid.uuid4().hex[:10]}@Example.ORG")


def khmer_phone() -> str:
    # Cambodian mobile numbers: 0 + 2-digit operator prefix + 6 or 7 digits.
    n = next(_counter) % 1_000_000
    return _record(f"+855 12 {n:06d}")


def vietnamese_phone() -> str:
    n = next(_counter) % 10_000_000
    return _record(f"+84 91 {n:07d}")


def user_id() -> str:
    return _record(f"user-{uuid.uuid4().hex}")


def all_forms() -> set[str]:
    """Each identifier as written and as normalized (the form that would leak from code)."""
    from core import subject_keys as keys

    forms = set(USED)
    for value in USED:
        for id_type in ("email", "phone"):
            with contextlib.suppress(keys.InvalidIdentifier):
                forms.add(keys.normalize(id_type, value).normalized)
    return forms
