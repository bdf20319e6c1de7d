"""Where a pending one-time code waits between sending and checking: one small protocol, two
stores. Both keep what `identity.codes.OneTimeCodes` needs and nothing more: a keyed hash of the
code, the identifier type it went to, its expiry and its wrong attempts; never the code.

- `DatabaseCodeStore`: `OneTimeCode` rows, for codes whose wrong attempts must be durable and
  that must outlive a cache flush (erasure requests). The code being checked is row-locked.
- `CacheCodeStore`: Django's cache (Redis in production), under a random handle, for codes whose
  loss only means asking for a new one (the consent page).

A store is made with a `prefix`, which names what its keys are (`erasure-request`), and a
`salt`, which keys its codes' hashes: a code is hashed under the store's salt and bound to the
key it was sent for, so it is worthless for any other key and in any other store.
"""

import secrets
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from django.conf import settings
from django.core.cache import BaseCache
from django.core.cache import cache as default_cache
from django.db import transaction

from identity.models import OneTimeCode


@dataclass
class PendingCode:
    """What a store keeps of a code it was given."""

    code_hash: str
    channel: str  # the identifier type it went to
    expires_at: datetime | None  # None: only the cache's timeout ends it (older cache entries)
    attempts: int = 0  # wrong codes tried so far
    subject: str = ""  # the subject key it speaks for, where nothing else records it
    id: int | None = None  # the store's own reference to it (a row id)


class CodeStore(Protocol):
    """What `OneTimeCodes` asks of a store.

    `salt` keys the hashes of the store's codes. `forgets_expired` says whether an expired code
    vanishes from the store, so that a missing code reads as expired rather than as never sent.
    """

    salt: str
    forgets_expired: bool

    def add(self, key: str, pending: PendingCode) -> None:
        """Keep a new code for `key`; from now on it is the one that counts."""

    def latest(self, key: str) -> AbstractContextManager[PendingCode | None]:
        """The code that counts for `key`, unspent, or None. Locked where the store can lock,
        until the block ends; what `spend` and `count_attempt` wrote commits when it ends."""

    def spend(self, key: str, pending: PendingCode, *, now: datetime) -> None:
        """The code was right: it never works again."""

    def count_attempt(self, key: str, pending: PendingCode) -> None:
        """Keep `pending.attempts`: one more wrong code was tried."""


class DatabaseCodeStore:
    """Codes as `OneTimeCode` rows of the scope `<prefix>:<key>`. The latest code of a scope
    counts; once it is spent, nothing is pending until a new one is sent."""

    forgets_expired = False  # rows stay after they expire

    def __init__(self, *, prefix: str, salt: str):
        self.prefix = prefix
        self.salt = salt

    def scope(self, key: str) -> str:
        return f"{self.prefix}:{key}"

    def add(self, key: str, pending: PendingCode) -> None:
        OneTimeCode.objects.create(
            scope=self.scope(key),
            code_hash=pending.code_hash,
            channel=pending.channel,
            expires_at=pending.expires_at,
        )

    @contextmanager
    def latest(self, key: str) -> Iterator[PendingCode | None]:
        # One transaction, the row locked: concurrent guesses are counted one after the other,
        # and a right code is spent once.
        with transaction.atomic():
            row = OneTimeCode.objects.select_for_update().filter(scope=self.scope(key)).first()
            if row is None or row.consumed_at is not None:
                yield None
            else:
                yield PendingCode(
                    code_hash=row.code_hash,
                    channel=row.channel,
                    expires_at=row.expires_at,
                    attempts=row.attempts,
                    id=row.pk,
                )

    def spend(self, key: str, pending: PendingCode, *, now: datetime) -> None:
        OneTimeCode.objects.filter(pk=pending.id).update(consumed_at=now)

    def count_attempt(self, key: str, pending: PendingCode) -> None:
        OneTimeCode.objects.filter(pk=pending.id).update(attempts=pending.attempts)


class CacheCodeStore:
    """Codes in Django's cache under `<prefix>:<key>`, the key a random handle (`new_key`),
    for `LUP_CODE_TTL_MINUTES`. One code per handle: a new handle for each code sent."""

    forgets_expired = True  # the cache drops an entry when its timeout ends

    def __init__(self, *, prefix: str, salt: str, cache: BaseCache | None = None):
        self.prefix = prefix
        self.salt = salt
        self.cache = cache or default_cache

    def new_key(self) -> str:
        """A handle nobody can guess, so it can be part of a page's address."""
        return secrets.token_urlsafe(24)

    def add(self, key: str, pending: PendingCode) -> None:
        self._put(key, pending)

    @contextmanager
    def latest(self, key: str) -> Iterator[PendingCode | None]:
        # No lock in a cache: two guesses at the same moment may count as one. The subject
        # pages' rate limit, per handle, bounds how many guesses can be made at all.
        found = self.cache.get(self._cache_key(key))
        if found is None:
            yield None
        else:
            yield PendingCode(
                code_hash=found["hash"],
                channel=found["id_type"],
                expires_at=found.get("expires_at"),
                attempts=found["attempts"],
                subject=found["subject"],
            )

    def spend(self, key: str, pending: PendingCode, *, now: datetime) -> None:
        self.cache.delete(self._cache_key(key))

    def count_attempt(self, key: str, pending: PendingCode) -> None:
        self._put(key, pending)

    def _cache_key(self, key: str) -> str:
        return f"{self.prefix}:{key}"

    def _put(self, key: str, pending: PendingCode) -> None:
        # The entry's fields are the ones this store wrote before it was one (portal/codes.py),
        # so that codes pending across the upgrade still work; expires_at was added since.
        self.cache.set(
            self._cache_key(key),
            {
                "hash": pending.code_hash,
                "subject": pending.subject,
                "id_type": pending.channel,
                "attempts": pending.attempts,
                "expires_at": pending.expires_at,
            },
            timeout=settings.LUP_CODE_TTL_MINUTES * 60,
        )
