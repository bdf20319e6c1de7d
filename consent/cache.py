"""Cached consent answers, invalidated per subject by a version token.

Each subject has a random version token; answers are cached under (subject, token, purpose).
A new event replaces the token after it commits, so every earlier answer becomes unreachable at
once. A check that raced the event and cached the old answer cached it under the old token,
where nobody will read it, and a lost or evicted token is replaced by a fresh random one, never
by a value used before: no stale answer can come back.
"""

import uuid
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.cache import cache

PURPOSE_TREE = "consent:purpose-tree"


def forget_purpose_tree() -> None:
    cache.delete(PURPOSE_TREE)


def _token_key(subject_id: uuid.UUID | str) -> str:
    return f"consent:v:{subject_id}"


def subject_token(subject_id: uuid.UUID | str) -> str:
    token = cache.get(_token_key(subject_id))
    if token is None:
        token = uuid.uuid4().hex
        # add() keeps a token another process set meanwhile.
        if not cache.add(_token_key(subject_id), token, timeout=None):
            token = cache.get(_token_key(subject_id)) or token
    return token


def invalidate_subjects(subject_ids: Iterable[uuid.UUID | str]) -> None:
    cache.set_many({_token_key(sid): uuid.uuid4().hex for sid in subject_ids}, timeout=None)


def answer_key(subject_id: uuid.UUID | str, token: str, purpose_key: str) -> str:
    return f"consent:a:{subject_id}:{token}:{purpose_key}"


def get(key: str) -> Any:
    return cache.get(key)


def put(key: str, value: Any, *, max_seconds: float | None = None) -> None:
    timeout = settings.LUP_CONSENT_CACHE_SECONDS
    if max_seconds is not None:
        timeout = max(0, min(timeout, int(max_seconds)))
    if timeout > 0:
        cache.set(key, value, timeout=timeout)


def identifier_subject_key(key: str) -> str:
    # An identifier never moves to another subject, so its subject id may be cached for good.
    return f"consent:id:{key}"
