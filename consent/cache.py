"""Cached consent answers, invalidated per identifier by a version token.

Each identifier of a subject (by its key) has a random version token; an answer is cached under
(identifier, purpose) together with the token it was computed under, and is used only while that
token is still the identifier's. A new event replaces the tokens of every identifier of its
subject after it commits, so every earlier answer stops counting at once. A check that raced the
event and cached the old answer cached it with the old token, so nobody will use it, and a lost
or evicted token is replaced by a fresh random one, never by a value used before: no stale answer
can come back.

Keyed by identifier rather than by subject, a cached check is one round trip to the cache: the
purpose tree, the identifier's subject, its token and the answer in one MGET (and the API call
one more, for its token: access.tokencache). An invalidation reads the subjects' identifiers
from the database instead: events are written far less often than they are checked.
"""

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache

from consent.models import SubjectIdentifier

PURPOSE_TREE = "consent:purpose-tree"
# Subjects whose identifiers are read in one query when their answers are invalidated.
INVALIDATE_BATCH = 10_000


def forget_purpose_tree() -> None:
    cache.delete(PURPOSE_TREE)


def _token_key(identifier_key: str) -> str:
    return f"consent:iv:{identifier_key}"


def _answer_key(identifier_key: str, purpose_key: str) -> str:
    return f"consent:ia:{identifier_key}:{purpose_key}"


@dataclass(frozen=True, slots=True)
class Cached:
    """What the cache holds for one check: the purpose tree's rows, the identifier's subject
    id, the identifier's token and the answer computed under that token (each None if
    missing; the answer also if computed under another token)."""

    tree: list | None
    subject_id: str | None
    token: str | None
    answer: Any


def cached_check(identifier_key: str, purpose_key: str) -> Cached:
    """Everything a check may take from the cache: one round trip."""
    names = (
        PURPOSE_TREE,
        identifier_subject_key(identifier_key),
        _token_key(identifier_key),
        _answer_key(identifier_key, purpose_key),
    )
    tree, subject_id, token, stored = map(cache.get_many(names).get, names)
    answer = None
    if token is not None and isinstance(stored, tuple) and len(stored) == 2:
        answer = stored[1] if stored[0] == token else None
    return Cached(tree=tree, subject_id=subject_id, token=token, answer=answer)


def new_token(identifier_key: str) -> str:
    """A token for an identifier that has none; add() keeps one another process set meanwhile."""
    token = uuid.uuid4().hex
    if not cache.add(_token_key(identifier_key), token, timeout=None):
        token = cache.get(_token_key(identifier_key)) or token
    return token


def invalidate_subjects(subject_ids: Iterable[uuid.UUID | str]) -> None:
    """New tokens for every identifier of these subjects: their cached answers stop counting."""
    ids = list(subject_ids)
    for start in range(0, len(ids), INVALIDATE_BATCH):
        batch = ids[start : start + INVALIDATE_BATCH]
        keys = SubjectIdentifier.objects.filter(subject_id__in=batch).values_list("key", flat=True)
        cache.set_many({_token_key(key): uuid.uuid4().hex for key in keys}, timeout=None)


def put(
    identifier_key: str,
    token: str,
    purpose_key: str,
    value: Any,
    *,
    max_seconds: float | None = None,
) -> None:
    """Cache an answer computed under `token`."""
    timeout = settings.LUP_CONSENT_CACHE_SECONDS
    if max_seconds is not None:
        timeout = max(0, min(timeout, int(max_seconds)))
    if timeout > 0:
        cache.set(_answer_key(identifier_key, purpose_key), (token, value), timeout=timeout)


def identifier_subject_key(key: str) -> str:
    # An identifier never moves to another subject, so its subject id may be cached for good.
    return f"consent:id:{key}"
