"""What a `purged` history costs: the post-check of an erasure with and without the policy.

Run from the project root against a PostgreSQL database that has the `pg_dirtyread` extension
(scripts/services.sh installs it): `python bench/history.py --rows 1000000 --subjects 100`.
Measures, median of --repeat runs, the deleted rows put back (and the table vacuumed) between:
- postgres: --subjects emails deleted from `bench_history` (--rows rows, email indexed, autovacuum
  off) through `postgres_table`, then the post-check: without `history` (an indexed count),
  and with `{"policy": "purged"}` (VACUUM, then every row version read with pg_dirtyread),
  beside a bare `VACUUM (INDEX_CLEANUP ON)` plus one `pg_dirtyread` pass by hand;
- iceberg: an Iceberg table of --iceberg-rows rows written in --snapshots appends (a SQL catalog
  in SQLite, a warehouse in a temporary folder), one subject deleted through `iceberg_table`,
  then its `purged` post-check (empty append, expiry, file removal, every snapshot read).
"""

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import psycopg
from django.conf import settings
from django.db import connection

from _setup import migrate
from connectors import connector_for

TABLE = "bench_history"
DSN_ENV = "LUP_BENCH_HISTORY_DSN"
TIMEOUT_SECONDS = 3600


def dsn() -> str:
    db = settings.DATABASES["default"]
    return psycopg.conninfo.make_conninfo(
        dbname=db["NAME"],
        user=db["USER"],
        password=db["PASSWORD"] or None,
        host=db["HOST"] or None,
        port=str(db["PORT"]) if db["PORT"] else None,
    )


def build(rows: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_dirtyread")
        cursor.execute(f"DROP TABLE IF EXISTS {TABLE}")
        cursor.execute(
            f"CREATE TABLE {TABLE} (email text, name text) WITH (autovacuum_enabled = false)"
        )
        with cursor.copy(f"COPY {TABLE} (email, name) FROM STDIN") as copy:
            for lo in range(0, rows, 200_000):
                copy.write(
                    "".join(
                        f"user-{i}@example.org\tName {i}\n"
                        for i in range(lo, min(rows, lo + 200_000))
                    )
                )
        cursor.execute(f"CREATE INDEX {TABLE}_email ON {TABLE} (email)")
    with psycopg.connect(dsn(), autocommit=True) as conn:
        conn.execute(f"VACUUM ANALYZE {TABLE}")


def put_back(emails: list[str]) -> None:
    with psycopg.connect(dsn(), autocommit=True) as conn:
        with conn.cursor() as cur, cur.copy(f"COPY {TABLE} (email, name) FROM STDIN") as copy:
            for email in emails:
                copy.write_row((email, "again"))
        conn.execute(f"VACUUM {TABLE}")


def by_hand() -> None:
    with psycopg.connect(dsn(), autocommit=True) as conn:
        conn.execute(f"VACUUM (INDEX_CLEANUP ON) {TABLE}")
        conn.execute(f"SELECT count(*) FROM pg_dirtyread('{TABLE}') AS t(email text)")


def bench_postgres(args) -> None:
    build(args.rows)
    emails = [f"user-{i}@example.org" for i in range(0, args.rows, args.rows // args.subjects)]
    emails = emails[: args.subjects]
    base = {"dsn_env": DSN_ENV, "table": TABLE, "match": {"email": "email"}}
    base["timeout_seconds"] = TIMEOUT_SECONDS
    plain = connector_for("postgres_table", base)
    purging = connector_for("postgres_table", {**base, "history": {"policy": "purged"}})
    samples: dict[str, list[float]] = {"plain": [], "purged": [], "by hand": []}
    for _ in range(args.repeat):
        for name, check in (
            ("plain", lambda: plain.verify({"email": emails})),
            ("purged", lambda: purging.verify({"email": emails})),
            ("by hand", by_hand),
        ):
            assert plain.erase({"email": emails}).count == len(emails)
            start = time.perf_counter()
            check()
            samples[name].append(time.perf_counter() - start)
            put_back(emails)
    print(f"postgres: post-check after deleting {len(emails)} of {args.rows:,} rows")
    for name, values in samples.items():
        print(f"  {name:<10} {statistics.median(values) * 1000:10.1f} ms")


def bench_iceberg(args) -> None:
    import pyarrow as pa
    from pyiceberg.catalog.sql import SqlCatalog

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        settings.LUP_FILE_ROOTS = [str(root)]
        uri = f"sqlite:///{root}/catalog.db"
        catalog = SqlCatalog("bench", uri=uri, warehouse=f"file://{root}/warehouse")
        catalog.create_namespace("crm")
        schema = pa.schema([("email", pa.string()), ("name", pa.string())])
        table = catalog.create_table("crm.people", schema=schema)
        per = args.iceberg_rows // args.snapshots
        for n in range(args.snapshots):
            emails = [f"user-{n}-{i}@example.org" for i in range(per)]
            table.append(pa.table({"email": emails, "name": emails}, schema=schema))
        os.environ["LUP_BENCH_ICEBERG_URI"] = uri
        target = connector_for(
            "iceberg_table",
            {
                "catalog_uri_env": "LUP_BENCH_ICEBERG_URI",
                "catalog_name": "bench",
                "table": "crm.people",
                "match": {"email": "email"},
                "history": {"policy": "purged"},
                "timeout_seconds": TIMEOUT_SECONDS,
            },
        )
        subject = {"email": ["user-0-0@example.org"]}
        start = time.perf_counter()
        assert target.erase(subject).count == 1
        erased = time.perf_counter() - start
        start = time.perf_counter()
        checked = target.verify(subject)
        verified = time.perf_counter() - start
        assert checked.remaining == 0
        catalog.engine.dispose()
    print(f"iceberg: one subject in {args.iceberg_rows:,} rows over {args.snapshots} snapshots")
    print(f"  {'erase':<10} {erased * 1000:10.1f} ms")
    print(f"  {'purged':<10} {verified * 1000:10.1f} ms   (snapshots read: 1)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--subjects", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--iceberg-rows", type=int, default=100_000)
    parser.add_argument("--snapshots", type=int, default=10)
    args = parser.parse_args()
    migrate()
    os.environ.setdefault(DSN_ENV, dsn())
    bench_postgres(args)
    bench_iceberg(args)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {TABLE}")


if __name__ == "__main__":
    main()
