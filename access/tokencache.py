"""Active API tokens cached in Redis, so an API call costs no database query to authenticate.

An entry holds what authentication needs of an active token (id, name, scopes, the hash of its
secret), keyed by the token's public prefix; the secret is still hashed and compared on every
call. Entries are only ever *added* (never overwrite), and a change to a token (revoked,
renamed, scopes edited, deleted) replaces its entry with a `STALE` marker, when it is made and
again when it commits, that lives longer than any authentication takes. So a call that read the
token from the database just before the change committed cannot put the old row back: its add
fails on the marker, and every call after the commit reads the database until the marker
expires. A revoked token is refused from the moment its revocation commits.

Redis is only a cache: when it cannot be reached, tokens are read from the database.
"""

import logging
from dataclasses import dataclass

import redis
from django.core.cache import cache
from django.db import transaction

from access.models import ApiToken

log = logging.getLogger(__name__)

STALE = "stale"
# How long a token changed in the database is read from the database only; far longer than the
# moment between one call's database read and its add.
STALE_SECONDS = 60
# An entry's lifetime. Only a change made while Redis was unreachable (its marker lost) is
# bounded by this rather than taking effect at once.
ENTRY_SECONDS = 300
# What a cache that cannot be reached raises (Django's Redis backend lets redis-py's through).
CACHE_ERRORS = (redis.exceptions.RedisError, OSError)


@dataclass(frozen=True, slots=True)
class CachedToken:
    id: int
    name: str
    scopes: tuple[str, ...]
    secret_hash: str


def _key(prefix: str) -> str:
    # Entries are plain tuples, not pickled classes, and the key names their layout (v1), so a
    # later release never unpickles an entry it cannot read.
    return f"access:token:v1:{prefix}"


def token_cached(prefix: str) -> CachedToken | None:
    """The active token with this prefix as cached, or None (not cached, changed lately, or
    the cache unreachable): then read the database."""
    try:
        found = cache.get(_key(prefix))
    except CACHE_ERRORS:
        log.warning("access.token_cache_unreachable", exc_info=True)
        return None
    if isinstance(found, tuple) and len(found) == 4:
        return CachedToken(id=found[0], name=found[1], scopes=tuple(found[2]), secret_hash=found[3])
    return None


def token_remember(token: ApiToken) -> None:
    """Cache an active token just read from the database, unless it changed meanwhile."""
    if not token.is_active:
        return
    entry = (token.pk, token.name, tuple(token.scopes), token.secret_hash)
    try:
        cache.add(_key(token.prefix), entry, timeout=ENTRY_SECONDS)
    except CACHE_ERRORS:
        log.warning("access.token_cache_unreachable", exc_info=True)


def token_changed(sender, instance: ApiToken, created: bool = False, **kwargs) -> None:
    """post_save / post_delete of a token: its entry gives way to the STALE marker at once
    (from now on calls read the database, which holds the old row until the change commits)
    and again once the change commits, so the marker outlives the commit. A new token has no
    entry to replace."""
    if created:
        return
    key = _key(instance.prefix)

    def mark() -> None:
        cache.set(key, STALE, timeout=STALE_SECONDS)

    try:
        mark()
    except CACHE_ERRORS:
        log.warning("access.token_cache_unreachable", exc_info=True)
    # robust: the change is committed whatever the cache says; a failure is logged.
    transaction.on_commit(mark, robust=True)
