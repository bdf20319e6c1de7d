"""Batches on the three SQL connectors: one statement per batch of values serves every group,
and each group still gets its own count.

Every test uses the same five groups over the same rows: "a" and "b" share a row (it counts
for both and is erased once), "c" is named by two identifier types (one row holds both and
counts once), "d" matches nothing, and "e" gives a number with leading zeros that an integer
column holds without them. With `batch_size=2` the six values take three statements."""

import os
import random
import sqlite3
import time

import psycopg
import pytest
from django.conf import settings
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from connectors import connector_for
from connectors.errors import ConnectorTimeout
from connectors.sql_table import RowTally
from tests import identifiers
from tests.aliases import extra_alias, sqlite_database

pytestmark = pytest.mark.django_db

EXPECTED = {"a": 2, "b": 2, "c": 3, "d": 0, "e": 1}
STATEMENTS = 3  # six values, two per statement
NONE_LEFT = dict.fromkeys(EXPECTED, 0)


def people():
    """The groups and the rows: (n, email, uid, account, name); rows 8 and 9 are nobody's."""
    a, c, d, other, bystander = (identifiers.email().lower() for _ in range(5))
    b, c_uid, stranger = identifiers.user_id(), identifiers.user_id(), identifiers.user_id()
    number = random.randint(10**8, 10**9 - 1)
    padded = f"00{number}"
    identifiers.USED.add(padded)
    groups = {
        "a": {"email": [a]},
        "b": {"user_id": [b]},
        "c": {"email": [c], "user_id": [c_uid]},
        "d": {"email": [d]},
        "e": {"account_id": [padded]},
    }
    rows = [
        (1, a, b, None, "shared"),
        (2, a, None, None, "a"),
        (3, None, b, 7, "b"),
        (4, c, None, None, "c"),
        (5, other, c_uid, None, "c"),
        (6, c, c_uid, None, "c"),
        (7, None, None, number, None),  # a NULL mask column must not hide the row
        (8, bystander, stranger, number + 1, "kept"),
        (9, None, None, None, "kept"),
    ]
    return groups, rows


def counts(results) -> dict:
    return {key: erased.count for key, erased in results.items()}


def remaining(checks) -> dict:
    return {key: verified.remaining for key, verified in checks.items()}


def ops(results) -> dict:
    return {key: r.op for key, r in results.items()}


# --- postgres_table -------------------------------------------------------------------------------

PG_TABLE = "lup_batch_people"
DSN_ENV = "LUP_TEST_BATCH_DSN"


@pytest.fixture
def pg_table(transactional_db, monkeypatch):
    """A real table on the test database (committed, as the connector connects on its own)."""
    db = settings.DATABASES["default"]
    monkeypatch.setenv(
        DSN_ENV,
        psycopg.conninfo.make_conninfo(
            dbname=connection.settings_dict["NAME"],
            user=db["USER"],
            password=db["PASSWORD"] or None,
            host=db["HOST"] or None,
            port=str(db["PORT"]) if db["PORT"] else None,
        ),
    )
    groups, rows = people()
    with connection.cursor() as cur:
        cur.execute(
            f"CREATE TABLE {PG_TABLE} (n integer PRIMARY KEY, email text, "
            "uid varchar(80), account integer, name text)"
        )
        cur.executemany("INSERT INTO lup_batch_people VALUES (%s, %s, %s, %s, %s)", rows)
    yield groups, rows
    with connection.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {PG_TABLE}")


def pg_rows():
    with connection.cursor() as cur:
        cur.execute("SELECT n, email, uid, account, name FROM lup_batch_people ORDER BY n")
        return cur.fetchall()


def pg_target(**extra):
    return connector_for(
        "postgres_table",
        {
            "dsn_env": DSN_ENV,
            "table": PG_TABLE,
            "batch_size": 2,
            "match": {"email": "email", "user_id": "uid", "account_id": "account"},
            **extra,
        },
    )


@pytest.fixture
def pg_statements(monkeypatch):
    """The text of every statement sent through psycopg (the database itself is real)."""
    sent: list[str] = []
    real = psycopg.Cursor.execute

    def execute(self, query, params=None, **kwargs):
        sent.append(query if isinstance(query, str) else query.as_string(self))
        return real(self, query, params, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", execute)
    return sent


def test_postgres_batch_delete_counts_each_group_with_one_statement_per_batch(
    pg_table, pg_statements
):
    groups, rows = pg_table
    target = pg_target()
    assert remaining(target.verify_groups(groups)) == EXPECTED

    pg_statements.clear()
    results = target.erase_groups(groups)
    deletes = [s for s in pg_statements if s.startswith("DELETE")]
    assert len(deletes) == STATEMENTS
    assert counts(results) == EXPECTED
    assert ops(results) == {"a": "delete", "b": "delete", "c": "delete", "d": "none", "e": "delete"}
    assert len({(r.started_at, r.completed_at) for r in results.values()}) == 1
    assert pg_rows() == rows[7:]
    assert remaining(target.verify_groups(groups)) == NONE_LEFT
    assert counts(target.erase_groups(groups)) == NONE_LEFT


def test_postgres_calls_share_one_connection_and_replace_one_the_server_ended(
    pg_table, monkeypatch
):
    """An erase and its post-check run on one kept connection, not a new one each; a kept
    connection the server ended while it was idle is replaced, and the call still answers."""
    groups, _ = pg_table
    backends: list[int] = []
    real = psycopg.Cursor.execute

    def execute(self, query, params=None, **kwargs):
        backends.append(self.connection.info.backend_pid)
        return real(self, query, params, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", execute)
    target = pg_target()
    assert counts(target.erase_groups(groups)) == EXPECTED
    assert remaining(target.verify_groups(groups)) == NONE_LEFT
    assert len(set(backends)) == 1
    with connection.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(%s)", [backends[0]])

    backends.clear()
    assert remaining(target.verify_groups(groups)) == NONE_LEFT
    assert backends[0] not in backends[1:] and len(set(backends[1:])) == 1


def test_postgres_batch_mask_counts_each_group_by_the_values_before_masking(
    pg_table, pg_statements
):
    groups, rows = pg_table
    # The mask blanks a match column: rows are still told apart by what they held before.
    target = pg_target(mask={"email": "redacted@invalid", "name": None})
    assert remaining(target.verify_groups(groups)) == EXPECTED

    pg_statements.clear()
    results = target.erase_groups(groups, op="mask")
    updates = [s for s in pg_statements if "UPDATE" in s]
    assert len(updates) == STATEMENTS
    assert counts(results) == EXPECTED
    assert results["c"].op == "mask" and results["d"].op == "none"
    assert (
        pg_rows()
        == [(n, "redacted@invalid", uid, account, None) for n, _, uid, account, _ in rows[:7]]
        + rows[7:]
    )
    assert remaining(target.verify_groups(groups)) == NONE_LEFT
    assert counts(target.erase_groups(groups, op="mask")) == NONE_LEFT  # masked rows are skipped


def test_postgres_a_statement_blocked_past_the_time_left_is_cancelled(pg_table, pg_statements):
    """Each statement runs with the time left as its timeout, set in the same round trip: an
    erase waiting on another transaction's row locks gives up at its deadline, erasing
    nothing."""
    groups, rows = pg_table
    with psycopg.connect(os.environ[DSN_ENV]) as blocker:
        blocker.execute("SELECT n FROM lup_batch_people FOR UPDATE")
        started = time.monotonic()
        with pytest.raises(ConnectorTimeout):
            pg_target(timeout_seconds=1).erase_groups(groups)
        waited = time.monotonic() - started
        blocker.rollback()
    assert 0.9 < waited < 5
    assert pg_rows() == rows
    deletes = [i for i, s in enumerate(pg_statements) if s.startswith("DELETE")]
    assert deletes and "statement_timeout" in pg_statements[deletes[0] - 1]


# --- sql_table ------------------------------------------------------------------------------------

LITE_ALIAS = "lup_batch_lite"


@pytest.fixture(params=["postgresql", "sqlite"])
def alias(request, tmp_path):
    """The default alias (the PostgreSQL test database), or a SQLite file added as an alias for
    this test only."""
    if request.param == "postgresql":
        yield "default"
        return
    with extra_alias(LITE_ALIAS, sqlite_database(tmp_path / "crm.sqlite3")) as alias:
        yield alias


@pytest.fixture
def crm(alias):
    groups, rows = people()
    with connections[alias].cursor() as cursor:
        cursor.execute(
            "CREATE TABLE crm_batch (n integer PRIMARY KEY, email text, ext text, "
            "account integer, name text)"
        )
        cursor.executemany("INSERT INTO crm_batch VALUES (%s, %s, %s, %s, %s)", rows)
    return alias, groups, rows


def crm_rows(alias):
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT n, email, ext, account, name FROM crm_batch ORDER BY n")
        return [tuple(row) for row in cursor.fetchall()]


def crm_target(alias):
    return connector_for(
        "sql_table",
        {
            "alias": alias,
            "table": "crm_batch",
            "batch_size": 2,
            "match": {"email": "email", "user_id": "ext", "account_id": "account"},
            "mask": {"name": "[erased]", "email": None},
        },
    )


def test_sql_table_batch_delete_counts_each_group_with_one_statement_per_batch(crm):
    alias, groups, rows = crm
    target = crm_target(alias)
    assert remaining(target.verify_groups(groups)) == EXPECTED

    with CaptureQueriesContext(connections[alias]) as queries:
        results = target.erase_groups(groups)
    deletes = [q["sql"] for q in queries if q["sql"].startswith("DELETE")]
    assert len(deletes) == STATEMENTS
    assert counts(results) == EXPECTED
    assert results["a"].op == "delete" and results["d"].op == "none"
    assert crm_rows(alias) == rows[7:]
    assert remaining(target.verify_groups(groups)) == NONE_LEFT


def test_sql_table_batch_mask_counts_each_group_once(crm):
    alias, groups, rows = crm
    target = crm_target(alias)

    with CaptureQueriesContext(connections[alias]) as queries:
        results = target.erase_groups(groups, op="mask")
    updates = [q["sql"] for q in queries if q["sql"].startswith("UPDATE")]
    assert len(updates) == STATEMENTS
    assert counts(results) == EXPECTED
    assert results["e"].op == "mask" and results["d"].op == "none"
    assert (
        crm_rows(alias)
        == [(n, None, ext, account, "[erased]") for n, _, ext, account, _ in rows[:7]] + rows[7:]
    )
    assert remaining(target.verify_groups(groups)) == NONE_LEFT
    assert counts(target.erase_groups(groups, op="mask")) == NONE_LEFT  # masked rows are skipped


# --- sqlite_table ---------------------------------------------------------------------------------


@pytest.fixture
def app_db(tmp_path, settings):
    settings.LUP_FILE_ROOTS = [str(tmp_path)]
    path = tmp_path / "app.db"
    groups, rows = people()
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE users (n INTEGER PRIMARY KEY, email TEXT, uid TEXT, "
            "account INTEGER, name TEXT)"
        )
        db.executemany("INSERT INTO users VALUES (?, ?, ?, ?, ?)", rows)
    db.close()
    return path, groups, rows


def app_rows(path):
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT n, email, uid, account, name FROM users ORDER BY n").fetchall()
    finally:
        db.close()


def test_sqlite_table_batch_delete_counts_each_group_with_one_statement_per_batch(
    app_db, monkeypatch
):
    path, groups, rows = app_db
    target = connector_for(
        "sqlite_table",
        {
            "path": "app.db",
            "table": "users",
            "batch_size": 2,
            "match": {"email": "email", "user_id": "uid", "account_id": "account"},
        },
    )
    assert remaining(target.verify_groups(groups)) == EXPECTED

    traced: list[str] = []
    real_connect = sqlite3.connect

    def connect(*args, **kwargs):
        db = real_connect(*args, **kwargs)
        db.set_trace_callback(traced.append)
        return db

    monkeypatch.setattr(sqlite3, "connect", connect)
    results = target.erase_groups(groups)
    monkeypatch.setattr(sqlite3, "connect", real_connect)
    assert len([s for s in traced if s.startswith("DELETE")]) == STATEMENTS
    assert "BEGIN IMMEDIATE" in traced
    assert counts(results) == EXPECTED
    assert results["b"].op == "delete" and results["d"].op == "none"
    assert app_rows(path) == rows[7:]
    assert remaining(target.verify_groups(groups)) == NONE_LEFT


# --- attribution ----------------------------------------------------------------------------------


def test_a_row_no_given_value_names_exactly_counts_for_the_groups_it_could_belong_to():
    """A case-insensitive column finds "Ann@x" for "ann@x"; a collation that ignores accents
    finds more still. The count then errs high, never low."""
    owners = {("email", "ann@x"): ["a"], ("email", "bo@x"): ["b"], ("user_id", "u"): ["c"]}
    groups = {"a": {}, "b": {}, "c": {}}
    chunks = [{"email": ["ann@x", "bo@x"]}, {"user_id": ["u"]}]
    tally = RowTally(groups, owners, chunks, ["email", "user_id"])
    tally.add(("Ann@X", None), 0)  # folded: only its own group
    tally.add(("bø@x", None), 0)  # unknown: every group of its chunk
    assert tally.counts == {"a": 2, "b": 1, "c": 0}
