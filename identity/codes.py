"""One-time codes: six digits sent to an identifier, so that whoever asks shows they hold it.

`OneTimeCodes` is the one strategy for every code: it makes the code, hashes it, sets and checks
its expiry and counts wrong attempts. Where a code waits between sending and checking is its
store's concern (`identity.stores`). Each refusal is a `CodeRefused` with a stable code, which
callers may map to words of their own (the subject pages do, in the subject's language).
"""

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from core.errors import ApplicationError, Conflict
from identity.senders import sender_for
from identity.stores import CodeStore, PendingCode


class CodeRefused(ApplicationError):
    """A code that does not confirm. `code` is code_expired, too_many_attempts or invalid_code
    (with `fields["attempts_left"]`); `NoPendingCode` when nothing was sent."""


class NoPendingCode(CodeRefused, Conflict):
    code = "no_pending_code"


class OneTimeCodes:
    """Send and confirm the one-time codes kept in `store`.

    Six digits are easy to type and can be found only by trying, so each code allows
    `LUP_CODE_MAX_ATTEMPTS` wrong tries and lives `LUP_CODE_TTL_MINUTES`; the subject pages also
    rate-limit who may try.

    What is stored is an HMAC of the code, never the code. It is keyed (with SECRET_KEY), so
    that someone who can read the database or the cache cannot find a pending code by hashing
    all million of them. It is bound to the store's salt and to the key the code was sent for
    (a request id, a page's handle), so that a code is worthless for any other key or store,
    even one whose hash sits in the same table. The salts and bindings are those the codes had
    before this module existed, so that codes pending across the upgrade still work.
    """

    digits = 6

    def __init__(self, store: CodeStore):
        self.store = store

    def send(
        self,
        *,
        key: str,
        id_type: str,
        address: str,
        language: str = "en",
        about: str = "erasure",
        subject: str = "",
        now: datetime | None = None,
    ) -> None:
        """Send a new code for `key` to `address` by the sender of `id_type`; from then on it is
        the code that counts. `about` is the sender's (what the code confirms), `subject` the
        store's (a subject key to hand back on confirmation)."""
        sender = sender_for(id_type)
        if sender is None:
            raise ApplicationError(
                "No code can be sent to this kind of identifier.", code="no_code_channel"
            )
        code = self.make_code()
        now = now or self._now()
        self.store.add(
            key,
            PendingCode(
                code_hash=self._hash(key, code),
                channel=id_type,
                expires_at=now + timedelta(minutes=settings.LUP_CODE_TTL_MINUTES),
                subject=subject,
            ),
        )
        sender.send(address=address, code=code, language=language, about=about)

    @contextmanager
    def confirm(self, *, key: str, code: str, now: datetime | None = None) -> Iterator[PendingCode]:
        """Check `code` against the one that counts for `key`:
        `with codes.confirm(key=..., code=...) as pending: ...`.

        The block runs only for the right code, inside the store's transaction, so whatever it
        writes commits together with the code being spent, or neither does. Any other code is
        refused with `CodeRefused`; a wrong one uses an attempt, and that attempt is committed
        before the refusal is raised. Call it outside any transaction, or a rollback of the
        caller's would return the attempt.
        """
        now = now or self._now()
        with self.store.latest(key) as pending:
            if self._matches(key, pending, code, now):
                self.store.spend(key, pending, now=now)
                yield pending
                return
            pending.attempts += 1
            self.store.count_attempt(key, pending)
        left = settings.LUP_CODE_MAX_ATTEMPTS - pending.attempts
        raise CodeRefused(
            f"That code is not right; {left} attempt(s) left.",
            code="invalid_code",
            fields={"attempts_left": left},
        )

    def make_code(self) -> str:
        return f"{secrets.randbelow(10**self.digits):0{self.digits}d}"

    def _matches(self, key: str, pending: PendingCode | None, code: str, now: datetime) -> bool:
        """Whether `code` is right; refuses outright, using no attempt, a code that is missing,
        expired or out of attempts."""
        if pending is None:
            if self.store.forgets_expired:
                # The store drops a code when it expires: that is the likely reason it is gone.
                raise CodeRefused("The code has expired; ask for a new one.", code="code_expired")
            raise NoPendingCode("No code is pending for this request.")
        if pending.expires_at is not None and pending.expires_at <= now:
            raise CodeRefused("The code has expired; ask for a new one.", code="code_expired")
        if pending.attempts >= settings.LUP_CODE_MAX_ATTEMPTS:
            raise CodeRefused("Too many wrong codes; ask for a new one.", code="too_many_attempts")
        supplied = code if isinstance(code, str) else ""
        return constant_time_compare(pending.code_hash, self._hash(key, supplied))

    def _hash(self, key: str, code: str) -> str:
        # salted_hmac's HMAC-SHA1 under SECRET_KEY and the store's salt: 40 hex digits.
        return salted_hmac(self.store.salt, f"{key}:{code}").hexdigest()

    def _now(self) -> datetime:
        # Used for the default clock; tests override it to move time without sleeping.
        return timezone.now()
