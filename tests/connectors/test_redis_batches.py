"""The redis connector's batches against a real Redis (db 12): one look at the server serves
every request of a batch, and each request still gets its own exact count."""

import time

import pytest
import redis
from structlog.testing import capture_logs

from connectors.base import ConnectorTimeout, Deadline
from connectors.redis_store import RedisStore
from tests import identifiers
from tests.connectors.test_redis_connector import ENV, store

# Not db 7 (test_redis_connector.py), 9 (bench) or 1 (the app's tests): runs may overlap.
URL = "redis://127.0.0.1:6379/12"


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
    """KEYS blocks a production server; batches must only ever SCAN too."""

    def refuse(*args, **kwargs):
        pytest.fail("the connector called KEYS")

    monkeypatch.setattr(redis.Redis, "keys", refuse)


@pytest.fixture
def calls(monkeypatch):
    """Every SCAN and XRANGE the client sends, with its arguments and SCAN's next cursor."""
    seen: dict[str, list] = {"scan": [], "xrange": []}
    real_scan, real_xrange = redis.Redis.scan, redis.Redis.xrange

    def scan(self, cursor=0, match=None, count=None, **kwargs):
        following, page = real_scan(self, cursor, match=match, count=count, **kwargs)
        seen["scan"].append((cursor, match, following))
        return following, page

    def xrange(self, name, **kwargs):
        seen["xrange"].append((name, kwargs.get("min")))
        return real_xrange(self, name, **kwargs)

    monkeypatch.setattr(redis.Redis, "scan", scan)
    monkeypatch.setattr(redis.Redis, "xrange", xrange)
    return seen


def every_structure() -> RedisStore:
    return store(
        keys=["session:{user_id}", "chat:{user_id}:*", "mail:{email}:*"],
        hash_fields=[
            {"key": "profiles", "field": "{email}"},
            {"key": "user:{user_id}", "field": "email"},
        ],
        set_members=[{"key": "newsletter", "member": "{email}"}],
        zset_members=[{"key": "leaderboard", "member": "{user_id}"}],
        stream_entries=[
            {"key": "events", "field": "user_id", "value": "{user_id}"},
            {"key": "events", "field": "by", "value": "{user_id}"},
            {"key": "audit:{user_id}", "field": "actor", "value": "{user_id}"},
        ],
        scan_count=7,
    )


def test_the_redis_connector_batches():
    assert RedisStore.batches is True


def test_each_group_gets_the_count_separate_calls_would_find(r):
    """Five requests in one batch: each count is what `locate` found for that request alone,
    a value two requests share counts for both, and nobody else's items are touched."""
    a1, a2, b, shared, d, other = (identifiers.user_id() for _ in range(6))
    email_a, email_e, email_other = (identifiers.email().lower() for _ in range(3))
    for u in (a1, a2, b, shared, other):
        r.set(f"session:{u}", "x")
        r.set(f"chat:{u}:1", "x")
        r.zadd("leaderboard", {u: 0})  # a score of 0 still counts as present
        r.xadd("events", {"user_id": u})
        r.hset(f"user:{u}", mapping={"email": "e", "name": "n"})
    r.set(f"chat:{a1}:2", "x")
    r.xadd("events", {"user_id": a1})
    r.xadd("events", {"by": b})
    r.xadd("events", {"user_id": a2, "by": a2})  # one entry, whichever field names the value
    r.xadd(f"audit:{b}", {"actor": b})
    r.xadd(f"audit:{b}", {"actor": other})
    for email in (email_a, email_e, email_other):
        r.set(f"mail:{email}:inbox", "x")
        r.hset("profiles", email, "1")
        r.sadd("newsletter", email)
    target = every_structure()
    groups = {
        "a": {"user_id": [a1, a2], "email": [email_a]},
        "b": {"user_id": [b]},
        "c": {"user_id": [shared]},
        "d": {"user_id": [d, shared]},
        "e": {"email": [email_e]},
    }
    located = {key: target.locate(ids).count for key, ids in groups.items()}
    # session, chat keys, leaderboard, events, the user:{uid} field: 7 for a1 (two chats, two
    # events), 6 for a2 (two events), 5 for the others, and b's `by` and audit stream entries;
    # the mail key, profiles field and newsletter member of an email: 3. d has nothing stored.
    assert located == {"a": 7 + 6 + 3, "b": 5 + 2, "c": 5, "d": 5, "e": 3}

    erased = target.erase_groups(groups)

    assert {key: e.count for key, e in erased.items()} == located
    assert {e.op for e in erased.values()} == {"delete"}
    checks = target.verify_groups(groups)
    assert {key: (c.method, c.remaining) for key, c in checks.items()} == dict.fromkeys(
        groups, ("redis_rescan", 0)
    )
    # The bystander's items are all still there.
    assert r.exists(f"session:{other}", f"chat:{other}:1", f"mail:{email_other}:inbox") == 3
    assert r.zrange("leaderboard", 0, -1) == [other.encode()]
    assert [f for _, f in r.xrange("events")] == [{b"user_id": other.encode()}]
    assert [f for _, f in r.xrange(f"audit:{b}")] == [{b"actor": other.encode()}]
    assert r.hgetall(f"user:{other}") == {b"email": b"e", b"name": b"n"}
    assert r.hkeys("profiles") == [email_other.encode()]
    assert r.smembers("newsletter") == {email_other.encode()}
    assert all(r.hgetall(f"user:{u}") == {b"name": b"n"} for u in (a1, a2, b, shared))


def test_a_group_with_nothing_stored_is_told_so(r):
    r.set("session:present", "x")
    erased = store(keys=["session:{user_id}", "chat:{user_id}:*"]).erase_groups(
        {1: {"user_id": ["present"]}, 2: {"user_id": ["absent"]}}
    )
    assert [(erased[k].op, erased[k].count) for k in (1, 2)] == [("delete", 1), ("none", 0)]


def test_fifty_groups_scan_the_keyspace_once(r, calls):
    """One SCAN pass for a pattern template, however many requests: the cursor starts at 0
    once, always with the same MATCH, and takes as many steps as one pass over the keyspace."""
    users = [f"u{n}" for n in range(50)]
    # Enough keys that the server's last table resize finishes while they are written, so the
    # two passes below see the same table.
    with r.pipeline() as pipe:
        for u in users:
            for n in range(3):
                pipe.set(f"chat:{u}:{n}", "x")
        for n in range(500):
            pipe.set(f"other:{n}", "x")
            pipe.set(f"chat:bystander{n}:1", "x")
        pipe.execute()

    def steps_of_one_pass() -> int:
        cursor, steps = None, 0
        while cursor != 0:
            cursor, _ = r.scan(cursor or 0, match=b"chat:*:*", count=20)
            steps += 1
        return steps

    # A pass over a table Redis is still rehashing (incrementally, after the last resize)
    # visits both tables, so it is measured until two passes agree.
    one_pass, previous = steps_of_one_pass(), None
    for _ in range(50):
        if one_pass == previous:
            break
        time.sleep(0.1)
        one_pass, previous = steps_of_one_pass(), one_pass
    calls["scan"].clear()
    target = store(keys=["chat:{user_id}:*"], scan_count=20)

    erased = target.erase_groups({u: {"user_id": [u]} for u in users})

    assert {e.count for e in erased.values()} == {3}
    scans = calls["scan"]
    assert [cursor for cursor, _, _ in scans].count(0) == 1
    assert [cursor for cursor, _, _ in scans[1:]] == [following for _, _, following in scans[:-1]]
    assert scans[-1][2] == 0
    assert {match for _, match, _ in scans} == {b"chat:*:*"}
    # As many steps as one pass (the chain above already shows a single pass); a step more or
    # less where the keys the pass unlinks let Redis start a resize while it runs.
    assert abs(len(scans) - one_pass) <= 1, (len(scans), one_pass)
    assert r.dbsize() == 1000


def test_one_xrange_pass_per_stream_for_the_batch(r, calls):
    users = [identifiers.user_id() for _ in range(10)]
    for n in range(4):
        for u in [*users, "bystander"]:
            r.xadd("events", {"user_id": u, "n": n})
    target = store(
        stream_entries=[{"key": "events", "field": "user_id", "value": "{user_id}"}], scan_count=6
    )
    erased = target.erase_groups({u: {"user_id": [u]} for u in users})
    assert {e.count for e in erased.values()} == {4}
    starts = [start for key, start in calls["xrange"] if key == b"events"]
    assert starts.count(b"-") == 1
    assert len(starts) == 44 // 6 + 1
    assert {f[b"user_id"] for _, f in r.xrange("events")} == {b"bystander"}


@pytest.mark.parametrize("template", ["chat:{user_id}:*", "*:chat:{user_id}:*"])
def test_glob_characters_and_prefixes_are_attributed_exactly(r, template):
    """Values holding glob characters match only themselves, and `u1` does not take `u10`'s
    keys, members or fields (nor the other way round)."""
    values = ["a*", "a?c", "[ab]bc", "a[", "*", "u1", "u10", "x\\y"]
    # With a `*` before it, the placeholder may follow any of the ":chat:" in a key.
    prefix = "" if template.startswith("chat") else "t:chat:q:"
    for v in values:
        r.set(f"{prefix}chat:{v}:1", "x")
        r.set(f"session:{v}", "x")
        r.zadd("leaderboard", {v: 1})
        r.hset("profiles", v, "1")
    bystanders = [
        f"{prefix}chat:abc:1",
        f"{prefix}chat:bbc:1",
        f"{prefix}chat:u100:1",
        f"{prefix}chat:xu1:1",
        f"{prefix}chat:u1",
        "session:u100",
    ]
    for key in bystanders:
        r.set(key, "x")
    target = store(
        keys=[template, "session:{user_id}"],
        hash_fields=[{"key": "profiles", "field": "{user_id}"}],
        zset_members=[{"key": "leaderboard", "member": "{user_id}"}],
    )
    groups = {v: {"user_id": [v]} for v in values}
    erased = target.erase_groups(groups)
    assert {v: e.count for v, e in erased.items()} == dict.fromkeys(values, 4)
    assert r.exists(*bystanders) == len(bystanders)
    assert r.dbsize() == len(bystanders)


def test_a_key_two_values_can_name_counts_for_both(r):
    """`chat:a:b:1` is matched by `chat:{user_id}:*` for `a` and for `a:b`: each request's
    count is what it would find alone (which is why separators must not occur in values)."""
    for key in ("chat:a:b:1", "chat:a:1", "chat:a:b", "chat:a:bc:1"):
        r.set(key, "x")
    target = store(keys=["chat:{user_id}:*"])
    groups = {"short": {"user_id": ["a"]}, "long": {"user_id": ["a:b"]}}
    located = {key: target.locate(ids).count for key, ids in groups.items()}
    assert located == {"short": 4, "long": 1}
    erased = target.erase_groups(groups)
    assert {key: e.count for key, e in erased.items()} == located
    assert r.dbsize() == 0


def test_repeated_placeholders_and_keys_with_newlines(r):
    for key in ("x:u1:y:u1:1", "x:u1:y:u2:1", "x:u2:y:u2:\n", "x:u3:y:u3"):
        r.set(key, "x")
    target = store(keys=["x:{user_id}:y:{user_id}:*"])
    erased = target.erase_groups(
        {1: {"user_id": ["u1"]}, 2: {"user_id": ["u2"]}, 3: {"user_id": ["u3"]}}
    )
    assert {key: e.count for key, e in erased.items()} == {1: 1, 2: 1, 3: 0}
    assert sorted(r.scan_iter()) == [b"x:u1:y:u2:1", b"x:u3:y:u3"]


def test_verify_groups_counts_what_remains_per_group(r, calls):
    for u in ("u1", "u2", "u3"):
        r.set(f"session:{u}", "x")
        r.set(f"chat:{u}:1", "x")
        r.zadd("leaderboard", {u: 0})
        r.xadd("events", {"user_id": u})
    r.set("chat:u2:2", "x")
    target = store(
        keys=["session:{user_id}", "chat:{user_id}:*"],
        zset_members=[{"key": "leaderboard", "member": "{user_id}"}],
        stream_entries=[{"key": "events", "field": "user_id", "value": "{user_id}"}],
    )
    groups = {1: {"user_id": ["u1"]}, 2: {"user_id": ["u2"]}, 4: {"user_id": ["u4"]}}
    checks = target.verify_groups(groups)
    assert {key: c.remaining for key, c in checks.items()} == {1: 4, 2: 5, 4: 0}
    assert len({match for _, match, _ in calls["scan"]}) == 1
    assert [start for _, start in calls["xrange"]] == [b"-"]


def test_the_deadline_bounds_a_batch(r, monkeypatch):
    """Running out of time during the SCAN stops the batch before anything is unlinked."""
    with r.pipeline() as pipe:
        for n in range(100):
            pipe.set(f"chat:u{n}:1", "x")
        pipe.execute()
    now = [0.0]
    monkeypatch.setattr(Deadline, "clock", staticmethod(lambda: now[0]))
    real_scan = redis.Redis.scan
    scans = []

    def slow_scan(self, *args, **kwargs):
        now[0] += 10
        scans.append(args)
        return real_scan(self, *args, **kwargs)

    monkeypatch.setattr(redis.Redis, "scan", slow_scan)
    target = store(keys=["chat:{user_id}:*"], scan_count=10, timeout_seconds=25)
    with pytest.raises(ConnectorTimeout):
        target.erase_groups({n: {"user_id": [f"u{n}"]} for n in range(100)})
    assert len(scans) == 3  # 0 s, 10 s, 20 s left; the check after the third one stops it
    assert r.dbsize() == 100


def test_batch_logs_hold_counts_only(r):
    r.set("session:u1", "x")
    r.set("chat:u2:1", "x")
    target = store(keys=["session:{user_id}", "chat:{user_id}:*"])
    groups = {1: {"user_id": ["u1"]}, 2: {"user_id": ["u2"]}}
    with capture_logs() as logs:
        target.erase_groups(groups)
        target.verify_groups(groups)
    assert [e["event"] for e in logs] == ["connector.erase", "connector.verify"]
    assert logs[0]["count"] == 2
    assert "u1" not in repr(logs)
    assert "u2" not in repr(logs)
    assert "chat" not in repr(logs)
