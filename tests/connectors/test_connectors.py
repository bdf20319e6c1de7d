"""Connectors: the protocol, `postgres_table` against a real table on the test database, and
`jsonl_file` against real files under a configured root."""

import gzip
import hashlib
import json
import os
import stat
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from connectors import CONNECTORS, JsonlFile, PostgresTable, connector_for
from connectors.base import ConnectorTimeout, Deadline
from core.errors import ApplicationError
from tests import identifiers

TABLE = "lup_connector_people"
DSN_ENV = "LUP_TEST_TARGET_DSN"


def refused(excinfo) -> str:
    return excinfo.value.code


# --- the table of kinds ---------------------------------------------------------------------------


def test_an_unknown_kind_is_refused_and_told_where_to_add_it():
    with pytest.raises(ApplicationError) as excinfo:
        connector_for("s3_bucket", {})
    assert refused(excinfo) == "unknown_connector_kind"
    assert "CONNECTORS" in excinfo.value.detail
    assert set(CONNECTORS) == {
        "postgres_table",
        "sqlite_table",
        "jsonl_file",
        "django_cache",
        "sql_table",
        "manual",
        "webhook",
        "text_log",
        "redis",
        "csv_file",
        "parquet_file",
        "s3_objects",
        "delta_table",
        "hf_dataset",
        "lance_table",
        "iceberg_table",
    }


def test_an_ability_a_connector_lacks_is_refused_plainly(roots):
    path = roots / "eval.jsonl"
    path.write_bytes(b'{"uid": "u1"}\n')
    target = connector_for("jsonl_file", {"path": "eval.jsonl", "match": {"user_id": "uid"}})
    with pytest.raises(ApplicationError) as excinfo:
        target.erase({"user_id": ["u1"]}, op="mask")
    assert refused(excinfo) == "capability_not_supported"
    assert excinfo.value.fields == {"capability": "mask", "kind": "jsonl_file"}
    assert path.read_bytes() == b'{"uid": "u1"}\n'


def test_identifiers_of_no_type_the_target_is_keyed_by_are_refused(roots):
    (roots / "eval.jsonl").write_bytes(b"")
    target = connector_for("jsonl_file", {"path": "eval.jsonl", "match": {"user_id": "uid"}})
    with pytest.raises(ApplicationError) as excinfo:
        target.locate({"email": [identifiers.email().lower()]})
    assert refused(excinfo) == "identifier_type_not_supported"


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"path": "x.jsonl", "match": {}}, "match"),
        ({"path": "x.jsonl", "match": {"user_id": "a..b"}}, "match.user_id"),
        ({"path": "x.jsonl", "match": {"user_id": "uid"}, "timeout_seconds": 0}, "timeout_seconds"),
        ({"match": {"user_id": "uid"}}, "path"),
    ],
)
def test_a_bad_config_names_its_key(roots, config, field):
    with pytest.raises(ApplicationError) as excinfo:
        connector_for("jsonl_file", config)
    assert refused(excinfo) == "invalid_target_config"
    assert field in excinfo.value.fields


# --- postgres_table -------------------------------------------------------------------------------


@pytest.fixture
def people(transactional_db, monkeypatch):
    """A real table on the test database, and the DSN of that database in DSN_ENV."""
    db = settings.DATABASES["default"]
    assert db["NAME"] == connection.settings_dict["NAME"]
    dsn = psycopg.conninfo.make_conninfo(
        dbname=db["NAME"],
        user=db["USER"],
        password=db["PASSWORD"] or None,
        host=db["HOST"] or None,
        port=str(db["PORT"]) if db["PORT"] else None,
    )
    monkeypatch.setenv(DSN_ENV, dsn)
    with connection.cursor() as cur:
        cur.execute(
            f"CREATE TABLE {TABLE} (id serial PRIMARY KEY, email text, uid varchar(80), "
            "account integer, name text, note text)"
        )
    yield
    with connection.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {TABLE}")


def insert(*rows):
    with connection.cursor() as cur:
        for email, uid, account, name in rows:
            cur.execute(
                "INSERT INTO lup_connector_people (email, uid, account, name, note) "
                "VALUES (%s, %s, %s, %s, %s)",
                [email, uid, account, name, "kept"],
            )


def rows():
    with connection.cursor() as cur:
        cur.execute(
            "SELECT id, email, uid, account, name, note FROM lup_connector_people ORDER BY id"
        )
        return cur.fetchall()


def table_config(**extra):
    return {
        "dsn_env": DSN_ENV,
        "table": f"public.{TABLE}",
        "match": {"email": "email", "user_id": "uid", "account_id": "account"},
        **extra,
    }


def subjects(n):
    return [(identifiers.email(), identifiers.user_id()) for _ in range(n)]


def test_postgres_delete_removes_exactly_the_matching_rows(people):
    (a_email, _), (b_email, b_uid), (c_email, c_uid) = subjects(3)
    insert(
        (a_email.lower(), "other-1", 1, "A"),
        (None, b_uid, 2, "B"),
        (a_email.lower(), None, 3, "A2"),
        (c_email.lower(), c_uid, 4, "C"),
        (b_email.lower() + ".x", "other-2", 5, "D"),
    )
    untouched = [r for r in rows() if r[4] in ("C", "D")]
    target = connector_for("postgres_table", table_config())
    ids = {"email": [a_email.lower()], "user_id": [b_uid]}

    assert target.locate(ids).count == 3
    erased = target.erase(ids)
    assert (erased.op, erased.count, erased.method) == ("delete", 3, "sql_bound_statements")
    assert erased.before is None and erased.started_at <= erased.completed_at
    assert rows() == untouched
    assert target.verify(ids).remaining == 0
    again = target.erase(ids)
    assert (again.op, again.count) == ("none", 0)


def test_postgres_mask_rewrites_only_the_configured_columns_of_matching_rows(people):
    (a_email, a_uid), (b_email, b_uid) = subjects(2)
    insert(
        (a_email.lower(), a_uid, 1, "A"),
        (b_email.lower(), b_uid, 2, "B"),
        (None, a_uid, 3, "A again"),
    )
    before = rows()
    target = connector_for(
        "postgres_table", table_config(mask={"email": "redacted@invalid", "name": None})
    )
    ids = {"user_id": [a_uid]}

    erased = target.erase(ids, op="mask")
    assert (erased.op, erased.count) == ("mask", 2)
    after = rows()
    assert after[1] == before[1]  # the other subject
    for old, new in ((before[0], after[0]), (before[2], after[2])):
        assert new == (old[0], "redacted@invalid", old[2], old[3], None, "kept")
    # The rows still carry the uid, but nothing the mask covers: nothing remains.
    assert target.locate(ids).count == 2
    assert target.verify(ids).remaining == 0
    assert target.erase(ids, op="mask").count == 0  # already masked rows are not counted again


def test_postgres_without_mask_config_cannot_mask(people):
    target = connector_for("postgres_table", table_config())
    with pytest.raises(ApplicationError) as excinfo:
        target.erase({"user_id": ["x"]}, op="mask")
    assert refused(excinfo) == "capability_not_supported"


def test_postgres_erases_in_one_statement_per_batch(people, monkeypatch):
    people_ = subjects(5)
    insert(*[(e.lower(), u, i, "S") for i, (e, u) in enumerate(people_)], (None, "x", 99, "K"))
    statements = []
    original = PostgresTable._write_statement

    def spy(self, op, types, batch):
        statements.append(sum(len(v) for v in batch.values()))
        return original(self, op, types, batch)

    monkeypatch.setattr(PostgresTable, "_write_statement", spy)
    target = connector_for("postgres_table", table_config(batch_size=2))
    # A subject named by two identifiers is one row, deleted once, counted once.
    ids = {"email": [e.lower() for e, _ in people_], "user_id": [people_[0][1]]}
    erased = target.erase(ids)
    assert statements == [2, 2, 2]
    assert erased.count == 5
    assert [r[4] for r in rows()] == ["K"]
    assert target.verify(ids).remaining == 0


def test_postgres_binds_values_cast_to_the_column_type(people):
    insert((None, "u", 42, "A"), (None, "v", 43, "B"))
    target = connector_for("postgres_table", table_config(table=TABLE))  # the current schema
    assert target.erase({"account_id": ["42"]}).count == 1
    with pytest.raises(ApplicationError) as excinfo:
        target.locate({"account_id": ["forty-two"]})
    assert refused(excinfo) == "identifier_type_mismatch"
    # A value that looks like SQL is only ever a value.
    assert target.erase({"email": ["x' OR '1'='1"], "user_id": ["v'; DROP TABLE x; --"]}).count == 0
    assert len(rows()) == 1


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"table": "lup_no_such_table"}, "unknown_table", "table"),
        ({"table": f"other.{TABLE}"}, "unknown_table", "table"),
        ({"match": {"email": "mail"}}, "unknown_column", "match.email"),
        ({"mask": {"nickname": "x"}}, "unknown_column", "mask.nickname"),
    ],
)
def test_postgres_names_not_in_the_catalog_are_refused(people, change, code, field):
    insert((None, "u", 1, "A"))
    target = connector_for("postgres_table", {**table_config(), **change})
    for call in (target.locate, target.erase, target.verify):
        with pytest.raises(ApplicationError) as excinfo:
            call({"email": ["a@example.org"], "user_id": ["u"]})
        assert (refused(excinfo), list(excinfo.value.fields)) == (code, [field])
    assert len(rows()) == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"table": f"{TABLE}; DROP TABLE {TABLE}"}, "table"),
        ({"table": f'public."{TABLE}"'}, "table"),
        ({"table": f"{TABLE}\n"}, "table"),
        ({"match": {"email": "email; DROP TABLE x"}}, "match.email"),
        ({"match": {"email": "email = email OR true --"}}, "match.email"),
        ({"mask": {"name = NULL; DROP TABLE x; --": "x"}}, "mask"),
        ({"dsn_env": "A B"}, "dsn_env"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_postgres_names_carrying_sql_are_refused_before_any_statement(people, change, field):
    insert((None, "u", 1, "A"))
    with pytest.raises(ApplicationError) as excinfo:
        connector_for("postgres_table", {**table_config(), **change})
    assert refused(excinfo) == "invalid_target_config"
    assert field in excinfo.value.fields
    assert len(rows()) == 1


def test_postgres_reads_the_dsn_at_call_time_and_never_echoes_it(people, monkeypatch):
    target = connector_for("postgres_table", table_config())
    monkeypatch.delenv(DSN_ENV)
    with pytest.raises(ApplicationError) as excinfo:
        target.locate({"user_id": ["u"]})
    assert refused(excinfo) == "invalid_target_config"
    assert excinfo.value.fields == {"dsn_env": "not set"}
    monkeypatch.setenv(DSN_ENV, "postgresql://lup:s3cret-pw@127.0.0.1:1/none")
    with pytest.raises(ApplicationError) as excinfo:
        target.locate({"user_id": ["u"]})
    assert refused(excinfo) == "target_unavailable"
    assert "s3cret" not in str(excinfo.value.detail)
    assert excinfo.value.__cause__ is None and excinfo.value.__suppress_context__


# --- jsonl_file ---------------------------------------------------------------------------------


@pytest.fixture
def roots(tmp_path, settings):
    root = tmp_path / "targets"
    root.mkdir()
    settings.LUP_FILE_ROOTS = [str(root)]
    return root


def sha(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def eval_lines(people_):
    """Lines of an eval set; returns (lines, indexes of lines belonging to `people_[:2]`)."""
    (a_email, a_uid), (_, b_uid), (c_email, c_uid) = people_
    records = [
        {"user": {"email": f"  {a_email} "}, "uid": "n/a", "prompt": "សួស្តី"},  # 0: a by email
        {"user": {"email": c_email}, "uid": c_uid, "prompt": "keep"},
        {"user": {"email": None}, "uid": b_uid, "prompt": "b by uid"},  # 2
        "not json {",
        [a_uid, "a JSON array is not a record"],
        {"user": "flat", "uid": a_uid, "prompt": "a by uid"},  # 5
        {"user": {"email": a_email + ".org"}, "uid": 7, "prompt": "close, but not a"},
        "",
        {"prompt": "no fields at all", "meta": {"uid": b_uid}},
    ]
    lines = []
    for record in records:
        text = record if isinstance(record, str) else json.dumps(record, ensure_ascii=False)
        lines.append(text.encode() + b"\n")
    lines[-1] = lines[-1].rstrip(b"\n")  # the last line has no newline
    return lines, {0, 2, 5}


def jsonl_target(name, **extra):
    return connector_for(
        "jsonl_file", {"path": name, "match": {"email": "user.email", "user_id": "uid"}, **extra}
    )


def ids_of(people_):
    return {"email": [e.lower() for e, _ in people_], "user_id": [u for _, u in people_]}


@pytest.mark.parametrize("compressed", [False, True])
def test_jsonl_erase_removes_only_matching_lines_atomically(roots, compressed):
    people_ = subjects(3)
    lines, matching = eval_lines(people_)
    original = b"".join(lines)
    path = roots / ("eval.jsonl.gz" if compressed else "eval.jsonl")
    path.write_bytes(gzip.compress(original) if compressed else original)
    path.chmod(0o640)
    target = jsonl_target(path.name)
    ids = ids_of(people_[:2])

    assert target.locate(ids).count == 3
    erased = target.erase(ids)

    data = path.read_bytes()
    content = gzip.decompress(data) if compressed else data
    kept = [line for i, line in enumerate(lines) if i not in matching]
    assert content.splitlines(keepends=True) == kept
    # Skipped: the JSON array holding a's uid; "not json {" holds no value, so it is not read.
    assert (erased.op, erased.count, erased.skipped) == ("delete", 3, 1)
    assert (erased.before, erased.after) == (sha(original), sha(content))
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert sorted(os.listdir(roots)) == [path.name]
    assert target.verify(ids).remaining == 0
    assert target.locate(ids_of(people_[2:])).count == 1


def test_jsonl_erases_several_subjects_in_one_pass(roots, monkeypatch):
    people_ = subjects(6)
    path = roots / "log.jsonl"
    path.write_text("".join(json.dumps({"uid": u}) + "\n" for _, u in people_ * 2))
    opened = []
    original = JsonlFile.open

    def spy(self, p):
        opened.append(p)
        return original(self, p)

    monkeypatch.setattr(JsonlFile, "open", spy)
    erased = jsonl_target("log.jsonl").erase({"user_id": [u for _, u in people_[:4]]})
    assert (erased.count, len(opened)) == (8, 1)
    assert path.read_text().splitlines() == [json.dumps({"uid": u}) for _, u in people_[4:] * 2]


def test_jsonl_with_nothing_matching_is_not_rewritten(roots):
    path = roots / "eval.jsonl"
    path.write_bytes(b'{"uid": "someone-else"}\n')
    inode = path.stat().st_ino
    erased = jsonl_target("eval.jsonl").erase({"user_id": [identifiers.user_id()]})
    assert (erased.op, erased.count) == ("none", 0)
    assert erased.before == erased.after == sha(b'{"uid": "someone-else"}\n')
    assert path.stat().st_ino == inode
    assert os.listdir(roots) == ["eval.jsonl"]


def test_jsonl_a_crash_before_the_rename_leaves_the_original_and_no_temporary_file(
    roots, monkeypatch
):
    people_ = subjects(3)
    lines, _ = eval_lines(people_)
    path = roots / "eval.jsonl"
    path.write_bytes(b"".join(lines))

    def crash(src, dst):
        raise OSError(5, "simulated crash")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(ApplicationError) as excinfo:
        jsonl_target("eval.jsonl").erase(ids_of(people_))
    assert refused(excinfo) == "target_unavailable"
    assert path.read_bytes() == b"".join(lines)
    assert os.listdir(roots) == ["eval.jsonl"]


def test_jsonl_a_call_past_its_timeout_stops_and_changes_nothing(roots, monkeypatch):
    path = roots / "eval.jsonl"
    path.write_text("".join(json.dumps({"uid": f"u{i}"}) + "\n" for i in range(3000)))
    before = path.read_bytes()
    ticks = iter(range(0, 10_000, 10))
    monkeypatch.setattr(Deadline, "clock", staticmethod(lambda: next(ticks)))
    with pytest.raises(ConnectorTimeout) as excinfo:
        jsonl_target("eval.jsonl", timeout_seconds=15).erase({"user_id": ["u1"]})
    assert refused(excinfo) == "connector_timeout"
    assert path.read_bytes() == before
    assert os.listdir(roots) == ["eval.jsonl"]


def test_jsonl_a_missing_file_is_refused_on_erase(roots):
    with pytest.raises(ApplicationError) as excinfo:
        jsonl_target("gone.jsonl").erase({"user_id": ["u"]})
    assert refused(excinfo) == "file_not_found"
    assert os.listdir(roots) == []


def outside_file(tmp_path) -> Path:
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "secrets.jsonl"
    victim.write_bytes(b'{"uid": "u"}\n')
    return victim


@pytest.mark.parametrize("how", ["absolute", "dotdot", "symlink", "symlinked_dir", "root"])
def test_jsonl_paths_outside_the_roots_are_refused(roots, tmp_path, how):
    victim = outside_file(tmp_path)
    if how == "absolute":
        path = str(victim)
    elif how == "dotdot":
        path = "../outside/secrets.jsonl"
    elif how == "symlink":
        (roots / "link.jsonl").symlink_to(victim)
        path = "link.jsonl"
    elif how == "symlinked_dir":
        (roots / "sub").symlink_to(victim.parent)
        path = str(roots / "sub" / "secrets.jsonl")
    else:
        path = "."
    with pytest.raises(ApplicationError) as excinfo:
        jsonl_target(path)
    assert refused(excinfo) == "path_outside_roots"
    assert victim.read_bytes() == b'{"uid": "u"}\n'


def test_jsonl_a_path_that_becomes_a_symlink_later_is_refused_at_call_time(roots, tmp_path):
    victim = outside_file(tmp_path)
    path = roots / "eval.jsonl"
    path.write_bytes(b'{"uid": "u"}\n')
    target = jsonl_target("eval.jsonl")
    path.unlink()
    path.symlink_to(victim)
    for call in (target.locate, target.erase, target.verify):
        with pytest.raises(ApplicationError) as excinfo:
            call({"user_id": ["u"]})
        assert refused(excinfo) == "path_outside_roots"
    assert victim.read_bytes() == b'{"uid": "u"}\n'
