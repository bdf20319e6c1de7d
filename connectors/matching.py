"""How a value read from a target is put in the form the caller normalized identifiers to, so
every kind that compares values itself (files, columns) finds the same items: e-mail trimmed and
lower-cased, phone to E.164 through `core.subject_keys` (None if it is not a phone number),
anything else trimmed; and the byte prefilter that finds the lines worth comparing."""

import functools

from core import subject_keys

from .prefilter import Prefilter


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


def prefilter(values: dict[str, list[str]], triggers: tuple[bytes, ...] = ()) -> Prefilter | None:
    """The byte prefilter for values compared through `normalized`: e-mail case-insensitively;
    none when phone numbers are among them (any spelling of the number matches)."""
    if "phone" in values:
        return None
    return _prefilter(tuple((t, tuple(v)) for t, v in values.items()), triggers)


# A sharded pass looks at every shard with the same values, up to three times a shard: built
# once (a thousand values take about 0.1 s, as long as reading a 2 MB shard). A prefilter is
# never changed once built. The last few are kept: a worker takes one pass at a time or so.
@functools.lru_cache(maxsize=4)
def _prefilter(values: tuple, triggers: tuple[bytes, ...]) -> Prefilter | None:
    return Prefilter.for_values(
        {t: list(v) for t, v in values}, folded={"email"}, triggers=triggers
    )
