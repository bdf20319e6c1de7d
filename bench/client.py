"""Consent filtering of a Parquet file through `lup consent filter`, beside the API's raw filter.

Needs PostgreSQL and Redis (see the README). Populates --subjects subjects as bench/consent.py
does (same addresses, so the two share a database), writes a Parquet file of --rows rows (an
e-mail column, an id and a text column), serves the API with gunicorn, then times, median of
--repeat runs:
- raw: the whole e-mail column in one POST /api/v1/consent/filter (the allowed lines back);
- CLI: `python -m lup consent filter` from the Parquet file to a Parquet file, rows and schema
  kept (one call a --batch rows).
Goal: the CLI at 0.5x the raw rate or better.
"""

import argparse
import http.client
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from django.conf import settings
from django.db import connection

from _setup import BENCH, ROOT, migrate
from access.services import api_token_create

# bench/consent.py's subjects and server (loaded by path: its name is the consent app's).
_spec = importlib.util.spec_from_file_location("bench_consent", BENCH / "consent.py")
bench_consent = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_consent)

PURPOSE = bench_consent.PURPOSE


def write_parquet(path: Path, rows: int, subjects: int) -> None:
    chunk = 200_000
    schema = pa.schema(
        [("id", pa.int64()), ("email", pa.string()), ("text", pa.string())],
        metadata={b"origin": b"bench"},
    )
    with pq.ParquetWriter(path, schema) as writer:
        for lo in range(0, rows, chunk):
            ids = range(lo, min(rows, lo + chunk))
            writer.write_table(
                pa.table(
                    {
                        "id": list(ids),
                        "email": [bench_consent.email(i % subjects) for i in ids],
                        "text": [f"turn {i}" for i in ids],
                    },
                    schema=schema,
                )
            )


def raw_filter(port: int, token: str, body: bytes) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=3600)
    conn.request(
        "POST",
        f"/api/v1/consent/filter?purpose={PURPOSE}&id_type=email",
        body,
        {"Authorization": f"Bearer {token}", "Content-Type": "text/plain"},
    )
    response = conn.getresponse()
    out = response.read()
    assert response.status == 200, out[:300]
    return out.count(b"\n")


def cli_filter(port: int, token: str, source: Path, target: Path, batch: int) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update(LUP_URL=f"http://127.0.0.1:{port}", LUP_TOKEN=token)
    done = subprocess.run(
        [sys.executable, "-m", "lup", "consent", "filter", "--purpose", PURPOSE,
         "--id-type", "email", "--column", "email", "--batch", str(batch),
         str(source), str(target)],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stderr.strip()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--subjects", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=100_000, help="rows a CLI call")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    assert connection.vendor == "postgresql", "run against PostgreSQL (DATABASE_URL)"
    assert not settings.CELERY_TASK_ALWAYS_EAGER, "run with Redis (REDIS_URL)"
    migrate()
    bench_consent.populate(args.subjects)
    _, token = api_token_create(name="bench", scopes=["consent:read"])
    port = bench_consent.free_port()
    server = bench_consent.start_server(port)
    with tempfile.TemporaryDirectory() as folder:
        source, target = Path(folder) / "in.parquet", Path(folder) / "out.parquet"
        write_parquet(source, args.rows, args.subjects)
        column = pq.read_table(source, columns=["email"]).column("email").to_pylist()
        body = ("\n".join(column) + "\n").encode()
        del column
        print(f"== consent filter of {args.rows:,} rows ({args.subjects:,} subjects), {PURPOSE}")
        try:
            raw, cli = [], []
            for _ in range(args.repeat):
                start = time.perf_counter()
                allowed = raw_filter(port, token, body)
                raw.append(time.perf_counter() - start)
                start = time.perf_counter()
                summary = cli_filter(port, token, source, target, args.batch)
                cli.append(time.perf_counter() - start)
                assert pq.read_metadata(target).num_rows == allowed, summary
        finally:
            server.terminate()
            server.wait()
    raw_s, cli_s = statistics.median(raw), statistics.median(cli)
    raw_rate, cli_rate = args.rows / raw_s, args.rows / cli_s
    print(f"raw API (one call, lines back)         {raw_s:7.2f} s {raw_rate:>10,.0f} rows/s")
    print(
        f"lup consent filter (Parquet to Parquet) {cli_s:6.2f} s {cli_rate:>10,.0f} rows/s"
        f"   x{cli_rate / raw_rate:.2f} of raw (goal >= 0.5)"
    )
    print(f"kept {allowed:,} rows; CLI summary: {summary}")


if __name__ == "__main__":
    main()
