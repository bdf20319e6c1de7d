"""Cached consent answers, invalidated per subject by a version token.

Each subject has a random version token; an answer is cached under (subject, purpose) together
with the token it was computed under, and is used only while that token is still the subject's.
A new event replaces the token after it commits, so every earlier answer stops counting at once.
A check that raced the event and cached the old answer cached it with the old token, so nobody
will use it, and a lost or evicted token is replaced by a fresh random one, never by a value used
before: no stale answer can come back.

A cached check costs two round trips to the cache: the purpose tree and the identifier's subject
together, then the subject's token and the answer together (and the API call one more, for its
token: access.tokencache).
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


def _new_token(subject_id: uuid.UUID | str) -> str:
    token = uuid.uuid4().hex
    # add() keeps a token another process set meanwhile.
    if not cache.add(_token_key(subject_id), token, timeout=None):
        token = cache.get(_token_key(subject_id)) or token
    return token


def cached_answer(subject_id: uuid.UUID | str, purpose_key: str) -> tuple[str, Any]:
    """The subject's current token, and the answer cached for the purpose if it was computed
    under that token (else None): one round trip."""
    token_key, key = _token_key(subject_id), _answer_key(subject_id, purpose_key)
    found = cache.get_many([token_key, key])
    token = found.get(token_key)
    if token is None:
        return _new_token(subject_id), None
    stored = found.get(key)
    if isinstance(stored, tuple) and len(stored) == 2 and stored[0] == token:
        return token, stored[1]
    return token, None


def invalidate_subjects(subject_ids: Iterable[uuid.UUID | str]) -> None:
    cache.set_many({_token_key(sid): uuid.uuid4().hex for sid in subject_ids}, timeout=None)


def _answer_key(subject_id: uuid.UUID | str, purpose_key: str) -> str:
    return f"consent:a:{subject_id}:{purpose_key}"


def put(
    subject_id: uuid.UUID | str,
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
        cache.set(_answer_key(subject_id, purpose_key), (token, value), timeout=timeout)


def identifier_subject_key(key: str) -> str:
    # An identifier never moves to another subject, so its subject id may be cached for good.
    return f"consent:id:{key}"
