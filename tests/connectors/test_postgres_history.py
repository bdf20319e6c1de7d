"""`postgres_table` history: a deleted row, or the old version of a masked one, stays on disk as a
dead row version that `pg_dirtyread` still returns, until a VACUUM removes it. With the history
`purged` the post-check vacuums the table and reads every row version on disk; with `retained` it
reads the current rows only and says until when older versions are kept.

The test database gets the `pg_dirtyread` extension (Debian's `postgresql-<major>-dirtyread`,
installed by scripts/services.sh), and `pageinspect` (PostgreSQL's own) to read index pages;
autovacuum is off on the test's table, so a dead version is removed by the connector's VACUUM
or not at all."""

from datetime import timedelta

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from connectors import History, connector_for
from connectors.base import ConnectorConfigError
from connectors.errors import TargetUnreachable
from erasure.models import TargetRun
from tests import identifiers
from tests.connectors.test_connectors import DSN_ENV
from tests.erasure.approvals import approve_proposed_targets
from tests.erasure.test_masking import target_receipts

TABLE = "lup_history_people"


def dsn() -> str:
    db = settings.DATABASES["default"]
    return psycopg.conninfo.make_conninfo(
        dbname=db["NAME"],
        user=db["USER"],
        password=db["PASSWORD"] or None,
        host=db["HOST"] or None,
        port=str(db["PORT"]) if db["PORT"] else None,
    )


@pytest.fixture
def people(transactional_db, monkeypatch):
    """A table on the test database that only VACUUMs run by hand clean, and pg_dirtyread."""
    monkeypatch.setenv(DSN_ENV, dsn())
    with connection.cursor() as cur:
        cur.execute("CREATE EXTENSION IF NOT EXISTS pg_dirtyread")
        cur.execute("CREATE EXTENSION IF NOT EXISTS pageinspect")  # PostgreSQL's own contrib
        cur.execute(
            f"CREATE TABLE {TABLE} (id serial PRIMARY KEY, email varchar(120), name text, "
            "note text) WITH (autovacuum_enabled = false, toast.autovacuum_enabled = false)"
        )
        cur.execute(f"CREATE INDEX {TABLE}_email ON {TABLE} (email)")
    yield
    with connection.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {TABLE}")


def insert(*rows: tuple[str, str]) -> None:
    with connection.cursor() as cur:
        cur.executemany(
            f"INSERT INTO {TABLE} (email, name, note) VALUES (%s, %s, 'kept')",  # noqa: S608
            list(rows),
        )


def on_disk(email: str) -> list[tuple]:
    """Every row version holding `email`, live or dead, as pg_dirtyread reads the pages."""
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT email, name FROM pg_dirtyread('{TABLE}') "  # noqa: S608
            "AS t(email varchar(120), name text) WHERE email = %s ORDER BY name",
            [email],
        )
        return cur.fetchall()


def in_index(email: str) -> int:
    """Entries of the email index (one page, at this size) whose key is `email`."""
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT count(*) FROM bt_page_items('{TABLE}_email', 1) "  # noqa: S608
            "WHERE replace(data, ' ', '') LIKE '%%' || encode(convert_to(%s, 'UTF8'), 'hex') "
            "|| '%%'",
            [email],
        )
        return cur.fetchone()[0]


def live(email: str) -> int:
    with connection.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {TABLE} WHERE email = %s", [email])  # noqa: S608
        return cur.fetchone()[0]


def config(**extra):
    return {"dsn_env": DSN_ENV, "table": TABLE, "match": {"email": "email"}, **extra}


def test_without_the_option_the_deleted_row_is_still_on_disk(people):
    email, other = identifiers.email().lower(), identifiers.email().lower()
    insert((email, "Sokha"), (other, "Dara"))
    target = connector_for("postgres_table", config())
    assert target.erase({"email": [email]}).count == 1
    checked = target.verify({"email": [email]})
    assert (checked.remaining, checked.history) == (0, None)
    assert live(email) == 0
    # The ordinary read no longer finds the row; its dead version is still on the page, and
    # the index still holds its key.
    assert on_disk(email) == [(email, "Sokha")]
    assert in_index(email) == 1


def test_purged_vacuums_the_subject_s_dead_row_versions_away(people):
    email, other = identifiers.email().lower(), identifiers.email().lower()
    insert((email, "Sokha"), (other, "Dara"), (email, "Sokha K."))
    target = connector_for("postgres_table", config(history={"policy": "purged"}))
    assert target.erase({"email": [email]}).count == 2
    assert len(on_disk(email)) == 2  # dead, until the post-check's VACUUM
    assert in_index(email) == 2

    checked = target.verify({"email": [email]})
    assert checked.remaining == 0
    assert checked.method == "pg_dirtyread"
    assert checked.history == History(policy="purged", versions_checked=0)
    assert on_disk(email) == []
    assert in_index(email) == 0  # the index entries went with them
    assert on_disk(other) == [(other, "Dara")]  # other rows are left alone
    assert in_index(other) == 1


def test_purged_also_removes_the_unmasked_old_version_of_a_masked_row(people):
    email, other = identifiers.email().lower(), identifiers.email().lower()
    insert((email, "Sokha"), (other, "Dara"))
    mask = {"email": "erased@invalid", "name": None}
    plain = connector_for("postgres_table", config(mask=mask))
    purging = connector_for("postgres_table", config(mask=mask, history={"policy": "purged"}))
    assert purging.erase({"email": [email]}, op="mask").count == 1
    assert live(email) == 0
    # The row is masked, yet its version before the update still holds the subject's cells.
    assert on_disk(email) == [(email, "Sokha")]
    assert plain.verify({"email": [email]}).remaining == 0  # the current rows only

    assert in_index(email) == 1
    assert purging.verify({"email": [email]}).remaining == 0
    assert on_disk(email) == []
    assert in_index(email) == 0
    assert live("erased@invalid") == 1


def test_a_dead_version_an_older_snapshot_still_sees_fails_the_post_check_until_it_is_gone(
    people,
):
    """VACUUM may not remove a version a running transaction can still see: the post-check
    reads it and counts it, so the run fails (and is retried) instead of claiming it purged."""
    email = identifiers.email().lower()
    insert((email, "Sokha"))
    target = connector_for("postgres_table", config(history={"policy": "purged"}))
    with psycopg.connect(dsn()) as reader:
        reader.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        assert reader.execute(f"SELECT count(*) FROM {TABLE}").fetchone() == (1,)  # noqa: S608
        assert target.erase({"email": [email]}).count == 1
        held = target.verify({"email": [email]})
        assert held.remaining == 1
        assert held.history == History(policy="purged", versions_checked=1)
        assert on_disk(email) == [(email, "Sokha")]  # an older snapshot still sees it
        reader.rollback()
    assert target.verify({"email": [email]}).remaining == 0
    assert on_disk(email) == []


def test_retained_reads_the_current_rows_and_says_until_when_older_versions_are_kept(people):
    email = identifiers.email().lower()
    insert((email, "Sokha"))
    target = connector_for(
        "postgres_table", config(history={"policy": "retained", "retain_days": 7})
    )
    target.erase({"email": [email]})
    checked = target.verify({"email": [email]})
    assert (checked.remaining, checked.method) == (0, "sql_count")
    assert checked.history == History(
        policy="retained", versions_checked=0, retained_until=checked.at + timedelta(days=7)
    )
    assert on_disk(email) == [(email, "Sokha")]  # nothing vacuumed


def test_batched_post_checks_give_every_group_the_history(people):
    a, b = identifiers.email().lower(), identifiers.email().lower()
    insert((a, "A"), (b, "B"))
    target = connector_for("postgres_table", config(history={"policy": "purged"}, batch_size=1))
    groups = {1: {"email": [a]}, 2: {"email": [b]}}
    assert {k: e.count for k, e in target.erase_groups(groups).items()} == {1: 1, 2: 1}
    checked = target.verify_groups(groups)
    assert {k: (v.remaining, v.history.policy) for k, v in checked.items()} == {
        1: (0, "purged"),
        2: (0, "purged"),
    }
    assert on_disk(a) == on_disk(b) == []


def test_purged_reads_every_partition_of_a_partitioned_table(people):
    email, other = identifiers.email().lower(), identifiers.email().lower()
    with connection.cursor() as cur:
        cur.execute(
            "CREATE TABLE lup_history_parts (region text, email text) PARTITION BY LIST (region)"
        )
        for region in ("kh", "sg"):
            cur.execute(
                f"CREATE TABLE lup_history_parts_{region} PARTITION OF lup_history_parts "
                f"FOR VALUES IN ('{region}') WITH (autovacuum_enabled = false)"
            )
        cur.executemany(
            "INSERT INTO lup_history_parts VALUES (%s, %s)",
            [("kh", email), ("sg", email), ("sg", other)],
        )
    try:
        target = connector_for(
            "postgres_table", config(table="lup_history_parts", history={"policy": "purged"})
        )
        assert target.erase({"email": [email]}).count == 2

        def dead(region: str) -> int:
            with connection.cursor() as cur:
                cur.execute(
                    f"SELECT count(*) FROM pg_dirtyread('lup_history_parts_{region}') "  # noqa: S608
                    "AS t(email text) WHERE email = %s",
                    [email],
                )
                return cur.fetchone()[0]

        assert (dead("kh"), dead("sg")) == (1, 1)
        checked = target.verify({"email": [email]})
        assert (checked.remaining, checked.history.policy) == (0, "purged")
        assert (dead("kh"), dead("sg")) == (0, 0)
    finally:
        with connection.cursor() as cur:
            cur.execute("DROP TABLE lup_history_parts")


@pytest.mark.parametrize(
    ("history", "field"),
    [
        ({"policy": "purged", "retain_days": 3}, "history.retain_days"),
        ({"policy": "kept"}, "history.policy"),
        ({"policy": "retained", "retain_days": 0}, "history.retain_days"),
        ({"policy": "purged", "vacuum": "full"}, "history.vacuum"),
        ({}, "history.policy"),
    ],
)
def test_a_history_config_that_says_nothing_usable_is_refused(history, field):
    with pytest.raises(ConnectorConfigError) as excinfo:
        connector_for("postgres_table", config(history=history))
    assert excinfo.value.code == "invalid_target_config"
    assert field in excinfo.value.fields


def test_purged_on_a_database_without_pg_dirtyread_is_refused_at_registration(people):
    target = connector_for("postgres_table", config(history={"policy": "purged"}))
    target.check()
    with connection.cursor() as cur:
        cur.execute("DROP EXTENSION pg_dirtyread")
    try:
        with pytest.raises(TargetUnreachable) as excinfo:
            target.check()
        assert excinfo.value.fields == {"history.policy": "pg_dirtyread missing"}
        with pytest.raises(ConnectorConfigError) as excinfo:
            target.verify({"email": ["a@example.org"]})
        assert excinfo.value.code == "history_unreadable"
        connector_for("postgres_table", config()).check()  # no history, nothing to read
    finally:
        with connection.cursor() as cur:
            cur.execute("CREATE EXTENSION IF NOT EXISTS pg_dirtyread")


@pytest.fixture
def in_process(settings, people):
    from config.celery import app

    was = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = was


@pytest.mark.parametrize(
    ("history", "member"),
    [
        ({"policy": "purged"}, {"policy": "purged", "versions_checked": "0"}),
        ({"policy": "retained", "retain_days": 30}, {"policy": "retained"}),
    ],
)
def test_the_receipt_states_the_target_s_history_policy(in_process, api, history, member):
    email = identifiers.email().lower()
    insert((email, "Sokha"))
    staff = api("erasure:write", "erasure:read")
    registered = staff.post(
        "/api/v1/erasure/targets",
        {
            "name": "crm-people",
            "kind": "postgres_table",
            "country": "SG",
            "always": True,
            "config": config(history=history),
        },
        format="json",
    )
    assert registered.status_code == 201, registered.json()
    approve_proposed_targets()
    url = "/api/v1/erasure-requests"
    request_id = staff.post(
        url, {"identifiers": [{"id_type": "email", "value": email}]}, format="json"
    ).json()["id"]
    staff.post(f"{url}/{request_id}/verified-manually", {"reason": "checked"}, format="json")
    assert staff.post(f"{url}/{request_id}/plan").status_code == 201

    run = TargetRun.objects.get(request_id=request_id)
    assert (run.status, run.outcome) == ("done", "erased"), run.last_error
    (receipt,) = target_receipts(request_id)
    assert receipt["postcheck"]["remaining"] == "0"
    kept = receipt["history"]
    assert {k: kept[k] for k in member} == member
    if history["policy"] == "retained":
        assert kept["versions_checked"] == "0"
        assert kept["retained_until"] > receipt["postcheck"]["at"]
        assert on_disk(email) == [(email, "Sokha")]
    else:
        assert "retained_until" not in kept
        assert on_disk(email) == []
