"""The redis connector against a real Redis (db 7): every structure, exact matching, SCAN only."""

import socket
import threading

import pytest
import redis
from structlog.testing import capture_logs

from connectors.base import (
    ConnectorConfigError,
    ConnectorTimeout,
    NotSupported,
    TargetUnavailable,
)
from connectors.redis_store import RedisStore
from tests import identifiers

URL = "redis://127.0.0.1:6379/7"
ENV = "LUP_TEST_REDIS_ERASURE_URL"


@pytest.fixture
def r(monkeypatch):
    client = redis.Redis.from_url(URL)
    client.ping()  # `make test` starts Redis; a missing server is a failure, not a skip
    client.flushdb()
    monkeypatch.setenv(ENV, URL)
    yield client
    client.flushdb()
    client.close()


@pytest.fixture(autouse=True)
def no_keys_command(monkeypatch):
    """KEYS blocks a production server; the connector must only ever SCAN."""

    def refuse(*args, **kwargs):
        pytest.fail("the connector called KEYS")

    monkeypatch.setattr(redis.Redis, "keys", refuse)


def store(**config):
    return RedisStore(config={"url_env": ENV, **config})


def cycle(target, values, expected):
    """locate, erase and verify; each count as expected."""
    assert target.locate(values).count == expected
    erased = target.erase(values)
    assert (erased.op, erased.count) == ("delete" if expected else "none", expected)
    assert target.verify(values).remaining == 0
    assert target.locate(values).count == 0


def test_keys_exact_and_patterns(r):
    uid, other = identifiers.user_id(), identifiers.user_id()
    for u in (uid, other):
        r.set(f"session:{u}", "x")
        r.set(f"chat:{u}:1", "x")
        r.hset(f"chat:{u}:2", "a", "b")
    r.set(f"chat:{uid}", "no suffix: not matched by chat:{user_id}:*")
    target = store(keys=["session:{user_id}", "chat:{user_id}:*", "missing:{user_id}"])
    assert target.id_types == frozenset({"user_id"})
    cycle(target, {"user_id": [uid]}, 3)
    assert r.exists(f"session:{other}", f"chat:{other}:1", f"chat:{other}:2", f"chat:{uid}") == 4


def test_many_keys_scanned_in_pages(r):
    uid = identifiers.user_id()
    with r.pipeline() as pipe:
        for n in range(250):
            pipe.set(f"chat:{uid}:{n}", "x")
            pipe.set(f"chat:other:{n}", "x")
        pipe.execute()
    scans = []
    real_scan = redis.Redis.scan

    def scan(self, *args, **kwargs):
        scans.append(kwargs)
        return real_scan(self, *args, **kwargs)

    target = store(keys=["chat:{user_id}:*"], scan_count=10)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(redis.Redis, "scan", scan)
        cycle(target, {"user_id": [uid]}, 250)
    assert len(scans) > 3
    assert all(s["count"] == 10 and s["match"].endswith(b":*") for s in scans)
    assert r.dbsize() == 250


@pytest.mark.parametrize("value", ["a*", "a?c", "[ab]bc", "a[", "a]", "a\\", "*", "?bc"])
def test_glob_characters_in_a_value_do_not_widen_the_match(r, value):
    r.set("chat:abc:1", "x")
    r.set("chat:bbc:1", "x")
    r.set(f"chat:{value}:1", "x")
    target = store(keys=["chat:{user_id}:*", "session:{user_id}"])
    cycle(target, {"user_id": [value]}, 1)
    assert r.exists("chat:abc:1", "chat:bbc:1") == 2


def test_hash_fields(r):
    email, other = identifiers.email().lower(), identifiers.email().lower()
    r.hset("profiles", mapping={email: "1", other: "2"})
    uid = identifiers.user_id()
    r.hset(f"user:{uid}", mapping={"email": email, "name": "n"})
    target = store(
        hash_fields=[
            {"key": "profiles", "field": "{email}"},
            {"key": "user:{user_id}", "field": "email"},
            {"key": "absent", "field": "{email}"},
        ]
    )
    assert target.id_types == frozenset({"email", "user_id"})
    cycle(target, {"email": [email], "user_id": [uid]}, 2)
    assert r.hgetall("profiles") == {other.encode(): b"2"}
    assert r.hgetall(f"user:{uid}") == {b"name": b"n"}


def test_set_and_sorted_set_members(r):
    email, other = identifiers.email().lower(), identifiers.email().lower()
    uid, uid2 = identifiers.user_id(), identifiers.user_id()
    r.sadd("newsletter", email, other)
    r.zadd("leaderboard", {uid: 0, uid2: 5})  # a score of 0 still counts as present
    target = store(
        set_members=[{"key": "newsletter", "member": "{email}"}],
        zset_members=[{"key": "leaderboard", "member": "{user_id}"}],
    )
    cycle(target, {"email": [email], "user_id": [uid]}, 2)
    assert r.smembers("newsletter") == {other.encode()}
    assert r.zrange("leaderboard", 0, -1) == [uid2.encode()]


def test_stream_entries_in_chunks(r):
    uid, other = identifiers.user_id(), identifiers.user_id()
    kept = []
    for n in range(23):
        r.xadd("events", {"user_id": uid, "n": n})
        kept.append(r.xadd("events", {"user_id": other, "n": n}))
    kept.append(r.xadd("events", {"account": uid}))  # another field: not a match
    r.set("not-a-stream-key-for-others", "x")
    target = store(
        stream_entries=[
            {"key": "events", "field": "user_id", "value": "{user_id}"},
            {"key": "absent", "field": "user_id", "value": "{user_id}"},
        ],
        scan_count=5,
    )
    cycle(target, {"user_id": [uid]}, 23)
    assert [entry_id for entry_id, _ in r.xrange("events")] == kept


def test_several_subjects_in_one_call(r):
    a, b, c = identifiers.user_id(), identifiers.user_id(), identifiers.user_id()
    for u in (a, b, c):
        r.set(f"session:{u}", "x")
        r.zadd("leaderboard", {u: 1})
    target = store(
        keys=["session:{user_id}"], zset_members=[{"key": "leaderboard", "member": "{user_id}"}]
    )
    cycle(target, {"user_id": [a, b, a]}, 4)
    assert r.exists(f"session:{c}") == 1
    assert r.zrange("leaderboard", 0, -1) == [c.encode()]


def test_an_email_that_is_a_substring_of_another(r):
    short, longer = "bo@example.org", "jimbo@example.org.kh"
    r.sadd("newsletter", short, longer)
    r.hset("profiles", mapping={short: "1", longer: "2"})
    r.set(f"mail:{short}:1", "x")
    r.set(f"mail:{longer}:1", "x")
    r.set(f"mail:x{short}:1", "x")
    target = store(
        keys=["mail:{email}:*"],
        hash_fields=[{"key": "profiles", "field": "{email}"}],
        set_members=[{"key": "newsletter", "member": "{email}"}],
    )
    cycle(target, {"email": [short]}, 3)
    assert r.smembers("newsletter") == {longer.encode()}
    assert r.hkeys("profiles") == [longer.encode()]
    assert r.exists(f"mail:{longer}:1", f"mail:x{short}:1") == 2


def test_khmer_values(r):
    name, other = "សុខ​ សុភា", "សុខ"
    for v in (name, other):
        r.set(f"chat:{v}:1", "x")
        r.hset("profiles", v, "1")
        r.xadd("events", {"user_id": v})
    target = store(
        keys=["chat:{user_id}:*"],
        hash_fields=[{"key": "profiles", "field": "{user_id}"}],
        stream_entries=[{"key": "events", "field": "user_id", "value": "{user_id}"}],
    )
    cycle(target, {"user_id": [name]}, 3)
    assert r.exists(f"chat:{other}:1") == 1
    assert r.hkeys("profiles") == [other.encode()]
    assert [f[b"user_id"].decode() for _, f in r.xrange("events")] == [other]


def test_logs_hold_counts_only(r):
    uid = identifiers.user_id()
    r.set(f"session:{uid}", "x")
    target = store(keys=["session:{user_id}"])
    with capture_logs() as logs:
        target.locate({"user_id": [uid]})
        target.erase({"user_id": [uid]})
        target.verify({"user_id": [uid]})
    assert [e["event"] for e in logs] == ["connector.locate", "connector.erase", "connector.verify"]
    assert uid not in repr(logs)
    assert "session:" not in repr(logs)


def test_mask_is_not_supported(r):
    with pytest.raises(NotSupported):
        store(keys=["session:{user_id}"]).erase({"user_id": ["u"]}, op="mask")


def test_unreachable_redis(monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    monkeypatch.setenv(ENV, f"redis://:secret@127.0.0.1:{port}/0")
    with pytest.raises(TargetUnavailable) as raised:
        store(keys=["session:{user_id}"], timeout_seconds=2).locate({"user_id": ["u"]})
    assert type(raised.value) is TargetUnavailable
    assert "secret" not in str(raised.value)


def test_a_server_that_never_answers_times_out(monkeypatch):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    accepted = []
    thread = threading.Thread(target=lambda: accepted.append(server.accept()), daemon=True)
    thread.start()
    monkeypatch.setenv(ENV, f"redis://127.0.0.1:{server.getsockname()[1]}/0")
    try:
        with pytest.raises(ConnectorTimeout):
            store(keys=["session:{user_id}"], timeout_seconds=0.3).locate({"user_id": ["u"]})
    finally:
        for conn, _ in accepted:
            conn.close()
        server.close()


def test_url_env_not_set(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    with pytest.raises(ConnectorConfigError) as raised:
        store(keys=["session:{user_id}"]).locate({"user_id": ["u"]})
    assert raised.value.fields == {"url_env": "not set"}


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"keys": ["session:{user_id}"], "url_env": "not a name"}, "url_env"),
        ({}, "keys"),
        ({"keys": "session:{user_id}"}, "keys"),
        ({"keys": ["session"]}, "keys[0]"),
        ({"keys": [""]}, "keys[0]"),
        ({"keys": ["session:{User}"]}, "keys[0]"),
        ({"keys": ["session:{user id}"]}, "keys[0]"),
        ({"keys": ["session:{}"]}, "keys[0]"),
        ({"keys": ["session:{user_id"]}, "keys[0]"),
        ({"keys": ["session:user_id}"]}, "keys[0]"),
        ({"keys": ["s:{{user_id}}"]}, "keys[0]"),
        ({"keys": ["s:{user_id}:{email}"]}, "keys[0]"),
        ({"keys": ["s:{user_id}*"]}, "keys[0]"),
        ({"keys": ["*{user_id}:x"]}, "keys[0]"),
        ({"keys": ["s:?:{user_id}"]}, "keys[0]"),
        ({"keys": ["s:[ab]:{user_id}"]}, "keys[0]"),
        ({"keys": ["s:\\*:{user_id}"]}, "keys[0]"),
        ({"keys": ["ok:{user_id}", "s:{a" + "b" * 40 + "}"]}, "keys[1]"),
        ({"hash_fields": [{"key": "profiles", "field": "email"}]}, "hash_fields[0]"),
        ({"hash_fields": [{"key": "p:{user_id}", "field": "{email}"}]}, "hash_fields[0]"),
        ({"hash_fields": [{"key": "profiles"}]}, "hash_fields[0].field"),
        ({"set_members": [{"key": "n", "member": "{email", "x": 1}]}, "set_members[0].x"),
        ({"zset_members": [{"key": "l", "member": "{Email}"}]}, "zset_members[0].member"),
        (
            {"stream_entries": [{"key": "e", "field": "", "value": "{user_id}"}]},
            "stream_entries[0].field",
        ),
        ({"stream_entries": [{"key": "e", "field": "f", "value": 3}]}, "stream_entries[0].value"),
        ({"keys": ["s:{user_id}"], "scan_count": 0}, "scan_count"),
        ({"keys": ["s:{user_id}"], "scan_count": True}, "scan_count"),
        ({"keys": ["s:{user_id}"], "timeout_seconds": -1}, "timeout_seconds"),
    ],
)
def test_bad_config_is_refused(config, field):
    with pytest.raises(ConnectorConfigError) as raised:
        RedisStore(config={"url_env": ENV, **config})
    assert field in raised.value.fields
