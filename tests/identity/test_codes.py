"""One-time codes, one strategy over both stores (the database and the Redis cache): a code goes
out by the sender, only a keyed hash of it is kept, the latest code counts, it expires, wrong
codes use attempts until none are left, and a code is worthless for any other key."""

import re
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from core.errors import ApplicationError
from identity.codes import CodeRefused, OneTimeCodes
from identity.models import OneTimeCode
from identity.senders import CodeSender
from identity.stores import CacheCodeStore, DatabaseCodeStore
from tests import identifiers

pytestmark = pytest.mark.django_db


class Clocked(OneTimeCodes):
    """The strategy with a clock the test moves."""

    at = None

    def _now(self):
        return self.at or super()._now()


class BrokenSender(CodeSender):
    def send(self, **kwargs) -> None:
        raise ConnectionError("the mail relay is down")


def make_store(kind: str):
    if kind == "database":
        return DatabaseCodeStore(prefix="test-thing", salt="lup.test.code")
    return CacheCodeStore(prefix="test:code", salt="lup.test.code")


@pytest.fixture(params=["database", "cache"])
def codes(request) -> Clocked:
    return Clocked(make_store(request.param))


def send(codes, mailoutbox, key: str, **extra) -> str:
    """Send a code for `key` by e-mail; the code the subject received."""
    codes.send(key=key, id_type="email", address=identifiers.email(), **extra)
    return re.search(r"\b(\d{6})\b", mailoutbox[-1].body).group(1)


def refusal(codes, key: str, code: str) -> CodeRefused:
    with pytest.raises(CodeRefused) as refused, codes.confirm(key=key, code=code):
        pytest.fail("a refused code ran the block")
    return refused.value


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def test_a_code_goes_out_by_the_sender_and_confirms_once(codes, mailoutbox):
    code = send(codes, mailoutbox, "k1", about="consent", language="vi", subject="s" * 64)
    assert len(code) == 6
    assert mailoutbox[-1].subject == "Mã để xem các lựa chọn đồng ý của bạn"  # consent, in vi
    with codes.confirm(key="k1", code=code) as pending:
        assert (pending.channel, pending.attempts) == ("email", 0)
        if isinstance(codes.store, CacheCodeStore):
            assert pending.subject == "s" * 64  # handed back by the store that keeps it
    # Spent: it never works again.
    assert refusal(codes, "k1", code).code in {"no_pending_code", "code_expired"}


def test_the_latest_code_counts(codes, mailoutbox):
    first = send(codes, mailoutbox, "k1")
    latest = send(codes, mailoutbox, "k1")
    if first != latest:
        assert refusal(codes, "k1", first).code == "invalid_code"
    with codes.confirm(key="k1", code=latest):
        pass


def test_a_code_expires(codes, mailoutbox, settings):
    code = send(codes, mailoutbox, "k1")
    codes.at = timezone.now() + timedelta(minutes=settings.LUP_CODE_TTL_MINUTES, seconds=1)
    assert refusal(codes, "k1", code).code == "code_expired"
    codes.at = timezone.now() + timedelta(minutes=settings.LUP_CODE_TTL_MINUTES - 1)
    with codes.confirm(key="k1", code=code):
        pass


def test_wrong_codes_use_attempts_until_none_are_left(codes, mailoutbox, settings):
    settings.LUP_CODE_MAX_ATTEMPTS = 3
    code = send(codes, mailoutbox, "k1")
    answers = [refusal(codes, "k1", wrong(code)) for _ in range(3)]
    assert [(a.code, a.fields["attempts_left"]) for a in answers] == [
        ("invalid_code", 2),
        ("invalid_code", 1),
        ("invalid_code", 0),
    ]
    assert answers[0].detail == "That code is not right; 2 attempt(s) left."
    blocked = refusal(codes, "k1", code)  # the right code no longer helps
    assert (blocked.code, blocked.detail) == (
        "too_many_attempts",
        "Too many wrong codes; ask for a new one.",
    )
    # A new code starts over.
    with codes.confirm(key="k1", code=send(codes, mailoutbox, "k1")):
        pass


def test_a_code_is_worthless_for_another_key(codes, mailoutbox):
    for_one = send(codes, mailoutbox, "one")
    for_other = send(codes, mailoutbox, "other")
    if for_one != for_other:
        assert refusal(codes, "other", for_one).code == "invalid_code"
    # Even the same digits hash differently under another key or another store's salt.
    assert codes._hash("one", "123456") != codes._hash("other", "123456")
    elsewhere = OneTimeCodes(DatabaseCodeStore(prefix="test-thing", salt="lup.other.code"))
    assert codes._hash("one", "123456") != elsewhere._hash("one", "123456")
    with codes.confirm(key="one", code=for_one):
        pass


def test_a_key_without_a_code_is_refused(codes):
    answer = refusal(codes, "never-sent", "123456")
    if isinstance(codes.store, DatabaseCodeStore):
        assert (answer.code, answer.status_code) == ("no_pending_code", 409)
    else:  # the cache forgets an expired code, so a missing one most likely expired
        assert (answer.code, answer.status_code) == ("code_expired", 400)


def test_only_identifier_types_with_a_sender_get_codes(codes, mailoutbox):
    with pytest.raises(ApplicationError) as refused:
        codes.send(key="k1", id_type="phone", address=identifiers.khmer_phone())
    assert refused.value.code == "no_code_channel"
    assert mailoutbox == []
    assert refusal(codes, "k1", "123456").code in {"no_pending_code", "code_expired"}


def test_a_code_that_could_not_be_sent_is_not_kept(settings, mailoutbox):
    """Sent in the caller's transaction, a code whose sending fails is rolled back with it."""
    settings.LUP_CODE_SENDERS = {"email": f"{__name__}.BrokenSender"}
    codes = OneTimeCodes(make_store("database"))
    with pytest.raises(ConnectionError), transaction.atomic():
        codes.send(key="k1", id_type="email", address=identifiers.email())
    assert not OneTimeCode.objects.filter(scope="test-thing:k1").exists()


def test_input_that_is_not_text_is_a_wrong_code(codes, mailoutbox):
    send(codes, mailoutbox, "k1")
    for junk in (None, 123456, ["123456"]):
        assert refusal(codes, "k1", junk).code == "invalid_code"
