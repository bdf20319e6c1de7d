"""`scan`: what the subject index is built from. Each kind that can enumerate identifiers
yields every record's match values as stored, streaming; the others refuse plainly."""

import gzip
import io
import json
import sqlite3
import uuid

import datasets
import lancedb
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable, write_deltalake
from django.conf import settings
from django.db import connection
from pyiceberg.catalog.sql import SqlCatalog

from connectors import CONNECTORS, Capability, NotSupported, connector_for, jsonl_file
from connectors import tables as table_kinds
from tests.connectors.test_iceberg_table import URI_ENV as ICEBERG_URI_ENV
from tests.connectors.test_iceberg_table import catalog_uri as iceberg_uri

SCANNING = {
    "delta_table",
    "hf_dataset",
    "iceberg_table",
    "lance_table",
    "s3_objects",
    "jsonl_file",
    "csv_file",
    "parquet_file",
    "text_log",
    "postgres_table",
    "sql_table",
    "sqlite_table",
}


@pytest.fixture
def roots(tmp_path, settings):
    settings.LUP_FILE_ROOTS = [str(tmp_path)]
    return tmp_path


def test_the_kinds_that_scan_say_so_and_the_others_refuse():
    assert {kind for kind, cls in CONNECTORS.items() if Capability.SCAN in cls.capabilities} == (
        SCANNING
    )
    manual = connector_for("manual", {"instructions": "Ask the desk.", "id_types": ["email"]})
    with pytest.raises(NotSupported) as excinfo:
        next(manual.scan())
    assert excinfo.value.fields == {"capability": "scan", "kind": "manual"}


@pytest.mark.parametrize("compressed", [False, True])
def test_jsonl_yields_each_lines_match_fields(roots, compressed):
    lines = [
        {"id": 1, "user": {"email": "Sok@Example.org", "uid": 41}},
        {"id": 2, "user": {"uid": "u-2"}},
        {"id": 3, "user": {"email": ["not", "text"]}},
    ]
    data = b"".join(json.dumps(line).encode() + b"\n" for line in lines) + b"not json\n\n"
    name = "evals.jsonl.gz" if compressed else "evals.jsonl"
    (roots / name).write_bytes(gzip.compress(data) if compressed else data)
    target = connector_for(
        "jsonl_file", {"path": name, "match": {"email": "user.email", "user_id": "user.uid"}}
    )

    assert list(target.scan()) == [
        (("email", "Sok@Example.org"), ("user_id", "41")),
        (("user_id", "u-2"),),
        (),
        (),
        (),
    ]


ODD_LINES = [
    b'{"user": {"email": "a@example.org"}, "uid": "u1"}\n',
    b'{"user": {"email": 41}, "uid": "u2"}\n',  # a number where text is expected
    b'{"user": "a@example.org", "uid": "u3"}\n',  # text where an object is expected
    b'{"user": {"email": "a@example.org", "email": "b@example.org"}}\n',  # a key twice
    b'{"uid": "u4"}{"uid": "u5"}\n',  # two objects on one line
    b'[{"uid": "u6"}]\n',
    b'{"user": null, "uid": null}\n',
    b'{"user": {"email": "\\u0041@example.org"}}\r\n',
    b"\xef\xbb\xbf" + b'{"uid": "u7"}\n',  # a byte order mark
    b'{"uid": "caf\xe9"}\n',  # not UTF-8
    b"   \n",
    b'{"uid": true}\n',
    b'{"uid": "u8"}',  # the last line, without a line break
]


@pytest.mark.parametrize("block_bytes", [16, 1 << 20])
def test_jsonl_scan_reads_as_json_loads_does_whatever_the_lines(roots, monkeypatch, block_bytes):
    """Blocks go through pyarrow's reader; any line it would read otherwise than `json.loads`
    sends its block through `json.loads`, so the result is the same line by line."""
    monkeypatch.setattr("connectors.prefilter.BLOCK_BYTES", block_bytes)
    (roots / "odd.jsonl").write_bytes(b"".join(ODD_LINES))
    target = connector_for(
        "jsonl_file", {"path": "odd.jsonl", "match": {"email": "user.email", "user_id": "uid"}}
    )
    expected = list(target._scan_lines(b"".join(ODD_LINES)))
    assert len(expected) == len(ODD_LINES)
    assert list(target.scan()) == expected
    assert expected[0] == (("email", "a@example.org"), ("user_id", "u1"))
    assert expected[1] == (("email", "41"), ("user_id", "u2"))
    assert expected[3] == (("email", "b@example.org"),)  # json.loads keeps the last
    options = jsonl_file._arrow_options(target.match)
    assert jsonl_file._arrow_block(ODD_LINES[0], target.match, options) == [expected[0]]
    assert all(
        jsonl_file._arrow_block(line, target.match, options) is None for line in ODD_LINES[1:6]
    )


def test_jsonl_fields_inside_one_another_are_read_line_by_line(roots):
    (roots / "nested.jsonl").write_text('{"user": {"email": "a@example.org"}}\n{"user": "u1"}\n')
    target = connector_for(
        "jsonl_file", {"path": "nested.jsonl", "match": {"email": "user.email", "user_id": "user"}}
    )
    assert list(target.scan()) == [(("email", "a@example.org"),), (("user_id", "u1"),)]


def test_jsonl_scan_streams(roots):
    """The scan is a generator over the file: the first record comes before the rest is read."""
    (roots / "big.jsonl").write_text("".join(f'{{"e": "p{n}@example.org"}}\n' for n in range(10)))
    target = connector_for("jsonl_file", {"path": "big.jsonl", "match": {"email": "e"}})
    records = target.scan()
    assert next(records) == (("email", "p0@example.org"),)
    assert sum(1 for _ in records) == 9


def test_text_log_finds_addresses_and_e164_numbers_in_free_text(roots):
    (roots / "app.log").write_text(
        "2026-12-06T01:00:00Z login ok user=Sok.Dara@Example.org ip=10.0.0.1\n"
        "sms to 85512345678 sent; callback +66812345678, order 2026120601\n"
        "ផ្ញើទៅ dara@example.com។ retry at 1733450000123\n"
        "nothing here: a@b, @example.org, x@example.org.kh.\n"
    )
    (roots / "app.log.1").write_text("old line mail=old@example.org\n")
    target = connector_for(
        "text_log", {"path": "app.log", "id_types": ["email", "phone"], "rotated": True}
    )
    assert list(target.scan()) == [
        (("email", "Sok.Dara@Example.org"),),
        (("phone", "+85512345678"), ("phone", "+66812345678"), ("phone", "+2026120601")),
        (("email", "dara@example.com"), ("phone", "+1733450000123")),
        (("email", "x@example.org.kh"),),
        (("email", "old@example.org"),),
    ]


def test_text_log_keyed_by_a_type_no_pattern_finds_cannot_scan(roots):
    (roots / "app.log").write_text("user=u-1\n")
    target = connector_for("text_log", {"path": "app.log", "id_types": ["email", "user_id"]})
    assert not target.supports(Capability.SCAN)
    with pytest.raises(NotSupported):
        next(target.scan())


def test_csv_yields_each_rows_match_cells(roots):
    (roots / "users.csv").write_bytes(
        b"\xef\xbb\xbfname,email,phone\r\n"
        b'"Dara, S.",dara@example.org,+855 12 345 678\r\n'
        b'"multi\nline",,+855 12 000 001\r\n'
        b"short\r\n"
    )
    target = connector_for(
        "csv_file", {"path": "users.csv", "match": {"email": "email", "phone": "phone"}}
    )
    assert list(target.scan()) == [
        (("email", "dara@example.org"), ("phone", "+855 12 345 678")),
        (("phone", "+855 12 000 001"),),  # an empty cell holds nobody
        (),
    ]


def test_parquet_yields_each_rows_values_a_batch_at_a_time(roots, monkeypatch):
    monkeypatch.setattr("connectors.parquet_file.SCAN_BATCH_ROWS", 2)
    table = pa.table(
        {
            "user": pa.array(
                [{"email": "a@example.org"}, {"email": None}, {"email": "c@example.org"}],
                pa.struct([("email", pa.string())]),
            ),
            "account": pa.array([7, 8, None], pa.int64()),
        }
    )
    pq.write_table(table, roots / "set.parquet", row_group_size=2)
    target = connector_for(
        "parquet_file",
        {"path": "set.parquet", "match": {"email": "user.email", "account_id": "account"}},
    )
    assert list(target.scan()) == [
        (("email", "a@example.org"), ("account_id", "7")),
        (("account_id", "8"),),
        (("email", "c@example.org"),),
    ]


def test_delta_table_yields_the_current_versions_rows_a_batch_at_a_time(roots, monkeypatch):
    monkeypatch.setattr("connectors.delta_table.SCAN_BATCH_ROWS", 2)
    path = roots / "tickets"
    rows = {"email": ["a@example.org", None, "C@Example.org"], "user_id": [7, 8, None]}
    write_deltalake(path, pa.table(rows))
    write_deltalake(path, pa.table({"email": ["d@example.org"], "user_id": [9]}), mode="append")
    DeltaTable(str(path)).delete("user_id = 9")  # gone from the current version
    target = connector_for(
        "delta_table", {"path": "tickets", "match": {"email": "email", "user_id": "user_id"}}
    )
    assert list(target.scan()) == [
        (("email", "a@example.org"), ("user_id", "7")),
        (("user_id", "8"),),
        (("email", "C@Example.org"),),
    ]


def test_lance_table_yields_every_row_of_the_current_version(roots, monkeypatch):
    monkeypatch.setattr("connectors.lance_table.SCAN_BATCH_ROWS", 2)
    database = lancedb.connect(str(roots / "vectors"))
    table = database.create_table(
        "chunks",
        pa.table(
            {
                "email": ["a@example.org", "b@example.org", None],
                "vector": pa.array([[0.1, 0.2]] * 3, pa.list_(pa.float32(), 2)),
            }
        ),
    )
    table.delete("email = 'b@example.org'")
    target = connector_for(
        "lance_table", {"path": "vectors", "table": "chunks", "match": {"email": "email"}}
    )
    assert list(target.scan()) == [(("email", "a@example.org"),), ()]


def test_hf_dataset_yields_every_splits_rows_shard_by_shard(roots, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    built = datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_dict({"email": ["a@example.org", "b@example.org"]}),
            "test": datasets.Dataset.from_dict({"email": [None, "c@example.org"]}),
        }
    )
    built.save_to_disk(roots / "qa", num_shards={"train": 2, "test": 1})
    target = connector_for("hf_dataset", {"path": "qa", "match": {"email": "email"}})
    assert sorted(target.scan()) == [
        (),
        (("email", "a@example.org"),),
        (("email", "b@example.org"),),
        (("email", "c@example.org"),),
    ]


def test_s3_objects_yields_each_objects_records_as_its_file_kind_does(object_store):
    bucket = object_store.bucket()
    lines = b'{"user": {"email": "a@example.org"}}\n{"user": {}}\n'
    object_store.s3.put_object(Bucket=bucket, Key="evals/b.jsonl.gz", Body=gzip.compress(lines))
    object_store.s3.put_object(
        Bucket=bucket, Key="evals/a.jsonl", Body=b'{"user": {"email": "c@example.org"}}\n'
    )
    object_store.s3.put_object(Bucket=bucket, Key="other/c.jsonl", Body=lines)
    target = connector_for(
        "s3_objects",
        object_store.config(bucket, prefix="evals/", format="jsonl", match={"email": "user.email"}),
    )
    assert list(target.scan()) == [
        (("email", "c@example.org"),),
        (("email", "a@example.org"),),
        (),
    ]


def test_s3_parquet_objects_are_scanned_a_batch_at_a_time(object_store):
    bucket = object_store.bucket()
    sink = io.BytesIO()
    pq.write_table(pa.table({"email": ["a@example.org", None], "n": [1, 2]}), sink)
    object_store.s3.put_object(Bucket=bucket, Key="set.parquet", Body=sink.getvalue())
    target = connector_for(
        "s3_objects", object_store.config(bucket, format="parquet", match={"email": "email"})
    )
    assert list(target.scan()) == [(("email", "a@example.org"),), ()]


def test_iceberg_table_yields_the_current_snapshots_rows(db, roots, monkeypatch):
    monkeypatch.setenv(ICEBERG_URI_ENV, iceberg_uri())
    name = f"lup_{uuid.uuid4().hex[:12]}"
    catalog = SqlCatalog(name, uri=iceberg_uri(), warehouse=f"file://{roots}/warehouse")
    try:
        catalog.create_namespace("crm")
        schema = pa.schema([("email", pa.string()), ("account", pa.int64())])
        table = catalog.create_table("crm.people", schema=schema)
        table.append(pa.table({"email": ["a@example.org", None], "account": [7, 8]}, schema=schema))
        table.delete(delete_filter="account = 7")  # gone from the current snapshot
        table.append(pa.table({"email": ["C@Example.org"], "account": [None]}, schema=schema))
        target = connector_for(
            "iceberg_table",
            {
                "catalog_uri_env": ICEBERG_URI_ENV,
                "catalog_name": name,
                "table": "crm.people",
                "match": {"email": "email", "account_id": "account"},
            },
        )
        assert sorted(target.scan()) == [(("account_id", "8"),), (("email", "C@Example.org"),)]
        assert target.lineage_dataset() == ("file", str(roots / "warehouse" / "crm" / "people"))
    finally:
        catalog.engine.dispose()


def test_sqlite_table_yields_every_row(roots, monkeypatch):
    monkeypatch.setattr(table_kinds, "SCAN_FETCH_ROWS", 2)
    db = sqlite3.connect(roots / "app.db")
    db.execute("CREATE TABLE users (email text, uid integer, name text)")
    db.executemany(
        "INSERT INTO users VALUES (?, ?, ?)",
        [("a@example.org", 1, "A"), (None, 2, "B"), ("c@example.org", None, "C")],
    )
    db.commit()
    db.close()
    target = connector_for(
        "sqlite_table",
        {"path": "app.db", "table": "users", "match": {"email": "email", "user_id": "uid"}},
    )
    assert sorted(target.scan()) == sorted(
        [
            (("email", "a@example.org"), ("user_id", "1")),
            (("user_id", "2"),),
            (("email", "c@example.org"),),
        ]
    )


@pytest.fixture
def crm(transactional_db, monkeypatch):
    """A real table on the test database, and its DSN in CRM_SCAN_DSN."""
    db = settings.DATABASES["default"]
    monkeypatch.setenv(
        "CRM_SCAN_DSN",
        psycopg.conninfo.make_conninfo(
            dbname=db["NAME"],
            user=db["USER"],
            password=db["PASSWORD"] or None,
            host=db["HOST"] or None,
            port=str(db["PORT"]) if db["PORT"] else None,
        ),
    )
    with connection.cursor() as cur:
        cur.execute("CREATE TABLE crm_scan (email text, account integer, name text)")
        cur.execute(
            "INSERT INTO crm_scan SELECT 'p' || n || '@example.org', n, 'x' "
            "FROM generate_series(1, 25) n"
        )
        cur.execute("INSERT INTO crm_scan VALUES (NULL, NULL, 'nobody')")
    yield
    with connection.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS crm_scan")


def test_postgres_table_scans_through_a_server_side_cursor(crm, monkeypatch):
    monkeypatch.setattr("connectors.postgres_table.SCAN_FETCH_ROWS", 10)
    fetched: list[int] = []
    fetchmany = psycopg.ServerCursor.fetchmany

    def spy(self, size=0):
        rows = fetchmany(self, size)
        fetched.append(len(rows))
        return rows

    monkeypatch.setattr(psycopg.ServerCursor, "fetchmany", spy)
    target = connector_for(
        "postgres_table",
        {
            "dsn_env": "CRM_SCAN_DSN",
            "table": "crm_scan",
            "match": {"email": "email", "account_id": "account"},
        },
    )
    found = list(target.scan())
    assert len(found) == 26
    assert (("email", "p7@example.org"), ("account_id", "7")) in found
    assert () in found
    assert fetched == [10, 10, 6, 0]  # ten rows a fetch, never the table at once


def test_sql_table_scans_a_django_alias(crm, monkeypatch):
    monkeypatch.setattr(table_kinds, "SCAN_FETCH_ROWS", 10)
    target = connector_for(
        "sql_table", {"table": "crm_scan", "match": {"email": "email", "account_id": "account"}}
    )
    found = list(target.scan())
    assert len(found) == 26
    assert (("email", "p25@example.org"), ("account_id", "25")) in found
