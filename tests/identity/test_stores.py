"""The two stores of one-time codes: what each keeps (a keyed hash, never the code), that a
wrong attempt in the database is committed though the refusal is raised and is counted under a
row lock, that the caller's writes commit with the spent code or not at all, and that codes
pending from before the identity app (same salts and bindings, the cache's old entries) work."""

import re
import threading
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from django.core.cache import cache
from django.db import connection, connections
from django.test import override_settings
from django.utils import timezone
from django.utils.crypto import salted_hmac

from identity.codes import CodeRefused, OneTimeCodes
from identity.models import OneTimeCode
from identity.stores import CacheCodeStore, DatabaseCodeStore
from tests import identifiers

ERASURE = DatabaseCodeStore(prefix="erasure-request", salt="lup.erasure.code")
CONSENT = CacheCodeStore(prefix="portal:code", salt="lup.portal.code")


def sent(mailoutbox) -> str:
    return re.search(r"\b(\d{6})\b", mailoutbox[-1].body).group(1)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def committed(sql: str, *params):
    """Read through a second connection: it sees only what has been committed."""
    db = connection.settings_dict
    with psycopg.connect(
        dbname=db["NAME"],
        user=db["USER"],
        password=db["PASSWORD"] or None,
        host=db["HOST"],
        port=db["PORT"] or 5432,
    ) as other:
        return other.execute(sql, params).fetchall()


@pytest.mark.django_db
def test_the_database_keeps_a_keyed_hash_bound_to_the_request(mailoutbox, settings):
    codes = OneTimeCodes(ERASURE)
    request_id = "0b6f4c2e-8a39-4f57-9a43-3d2b1d0f7e11"
    codes.send(key=request_id, id_type="email", address=identifiers.email())
    code = sent(mailoutbox)
    row = OneTimeCode.objects.get(scope=f"erasure-request:{request_id}")
    assert code not in row.code_hash and row.channel == "email"
    # The hash erasure codes always had: pending codes survive the move to this app.
    assert row.code_hash == salted_hmac("lup.erasure.code", f"{request_id}:{code}").hexdigest()
    with override_settings(SECRET_KEY="another-deployment"):
        assert codes._hash(request_id, code) != row.code_hash  # keyed: no key, no lookup table


@pytest.mark.django_db
def test_the_cache_keeps_a_keyed_hash_and_the_subject_key_under_the_handle(mailoutbox):
    codes = OneTimeCodes(CONSENT)
    handle = CONSENT.new_key()
    assert len(handle) >= 32 and handle != CONSENT.new_key()
    email = identifiers.email()
    codes.send(key=handle, id_type="email", address=email, subject="k" * 64)
    code = sent(mailoutbox)
    entry = cache.get(f"portal:code:{handle}")
    assert code not in str(entry) and email.lower() not in str(entry).lower()
    assert entry["hash"] == salted_hmac("lup.portal.code", f"{handle}:{code}").hexdigest()
    assert (entry["subject"], entry["id_type"], entry["attempts"]) == ("k" * 64, "email", 0)


@pytest.mark.django_db
def test_a_cache_entry_written_before_the_identity_app_still_confirms():
    handle = CONSENT.new_key()
    cache.set(
        f"portal:code:{handle}",
        {
            "hash": salted_hmac("lup.portal.code", f"{handle}:424242").hexdigest(),
            "subject": "k" * 64,
            "id_type": "email",
            "attempts": 0,
        },
        timeout=60,
    )
    codes = OneTimeCodes(CONSENT)
    with pytest.raises(CodeRefused) as refused, codes.confirm(key=handle, code="424243"):
        pass
    assert refused.value.fields == {"attempts_left": 4}
    with codes.confirm(key=handle, code="424242") as pending:
        assert (pending.subject, pending.channel) == ("k" * 64, "email")
    assert cache.get(f"portal:code:{handle}") is None


@pytest.mark.django_db(transaction=True)
def test_a_wrong_attempt_is_committed_though_the_refusal_is_raised(mailoutbox):
    codes = OneTimeCodes(ERASURE)
    codes.send(key="r1", id_type="email", address=identifiers.email())
    with pytest.raises(CodeRefused), codes.confirm(key="r1", code=wrong(sent(mailoutbox))):
        pass
    assert committed(
        "select attempts, consumed_at from identity_onetimecode where scope = %s",
        "erasure-request:r1",
    ) == [(1, None)]


@pytest.mark.django_db(transaction=True)
def test_what_the_caller_writes_commits_with_the_spent_code_or_not_at_all(mailoutbox):
    codes = OneTimeCodes(ERASURE)
    codes.send(key="r1", id_type="email", address=identifiers.email())
    code = sent(mailoutbox)
    with pytest.raises(RuntimeError), codes.confirm(key="r1", code=code):
        OneTimeCode.objects.create(
            scope="witness", code_hash="-", channel="-", expires_at=timezone.now()
        )
        raise RuntimeError("the caller's change failed")
    assert committed("select count(*) from identity_onetimecode where scope = 'witness'") == [(0,)]
    with codes.confirm(key="r1", code=code):  # not spent: the failure rolled that back too
        OneTimeCode.objects.create(
            scope="witness", code_hash="-", channel="-", expires_at=timezone.now()
        )
    assert committed("select count(*) from identity_onetimecode where scope = 'witness'") == [(1,)]
    assert committed(
        "select consumed_at is not null from identity_onetimecode where scope = %s",
        "erasure-request:r1",
    ) == [(True,)]


@pytest.mark.django_db(transaction=True)
def test_guesses_at_the_same_moment_are_each_counted(mailoutbox, settings):
    """The code is row-locked while it is checked: simultaneous wrong guesses queue up, and
    each one uses an attempt of its own."""
    settings.LUP_CODE_MAX_ATTEMPTS = 10
    codes = OneTimeCodes(ERASURE)
    codes.send(key="r1", id_type="email", address=identifiers.email())
    bad = wrong(sent(mailoutbox))
    start = threading.Barrier(6)

    def guess(_):
        try:
            start.wait()
            with codes.confirm(key="r1", code=bad):
                pass
        except CodeRefused as refused:
            return refused.fields["attempts_left"]
        finally:
            connections.close_all()

    with ThreadPoolExecutor(6) as pool:
        left = sorted(pool.map(guess, range(6)))
    assert left == [4, 5, 6, 7, 8, 9]
    assert OneTimeCode.objects.get(scope="erasure-request:r1").attempts == 6
