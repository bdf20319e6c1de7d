"""Erasure connectors and the request pipeline, each beside its baseline in the same run.

Needs PostgreSQL and Redis (DATABASE_URL, REDIS_URL, SECRET_KEY, LUP_SUBJECT_PEPPER,
LUP_REQUEST_KEK, LUP_SIGNING_KEY_FILE) and a writable first LUP_FILE_ROOTS folder; run from the
project root. Measures:
- table: --subjects emails erased from `bench_users` (--rows rows, email indexed) through the
  `postgres_table` connector, beside a hand-written `DELETE … WHERE email = ANY(%s)` of the same
  values (new connection, one statement, commit); the deleted rows are put back after every run,
  so each run deletes the same rows; median of --repeat runs of each, alternating;
- file: --subjects emails (one line each) removed from a --jsonl-mb MB JSON Lines file through
  the `jsonl_file` connector (a batch of one request per subject: the erase pass, then the
  post-check pass), each pass beside one `LC_ALL=C grep -vF -f patterns` pass writing the kept
  lines to a new file; both must remove the same lines and keep identical bytes; median of
  --file-repeat runs of each, alternating (likewise for the text log and CSV);
- redis: --redis-keys keys in a dedicated Redis database (LUP_BENCH_REDIS_URL, default db 9,
  flushed first): per user `session:u<n>` and two `chat:u<n>:<m>` keys; a batch of --subjects
  users' keys erased through the `redis` connector (one `erase_groups` call, one request per
  user), beside a hand-written redis-py pass (`SCAN MATCH chat:*` + the session keys, `UNLINK`
  in pipelines); the deleted keys are put back after every run; median of --repeat runs of each;
  and a sample of --one-by-one requests erased one at a time (each its own SCAN), extrapolated;
- text log: a --log-mb MB plain-text log with --subjects emails (one line each); the batch of
  --subjects requests through the `text_log` connector, its erase pass and its post-check pass
  each beside one grep -vF pass, with one sequential read of the file (1 MiB reads, from the
  page cache: the floor) and one pass splitting it into lines in Python for reference;
- csv: a --csv-mb MB CSV export with --subjects emails (one row each), the batch through the
  `csv_file` connector, each pass beside one grep -vF pass (identical kept bytes checked);
- parquet: a --parquet-mb MB Parquet eval set (row groups of 100,000 rows) with --subjects
  emails, the same batch through the `parquet_file` connector, beside one sequential read of
  every row group with pyarrow;
- delta: a --delta-rows row Delta table (appended in files of 1,000,000 rows) with --subjects
  emails; the batch through the `delta_table` connector (erase: the scan and MERGE, then the
  vacuum of the retained policy; then the post-check) beside the library's own
  `DeltaTable.delete("email IN (...)")` of the same values on a copy of the table; both must
  delete the same rows;
- iceberg: a --iceberg-rows row Iceberg table (a SQL catalog in SQLite, a warehouse on local
  files, appended in files of 1,000,000 rows) with --subjects emails; the batch through the
  `iceberg_table` connector with the history `purged` (erase: the scan and one delete; then the
  post-check: older snapshots expired, their files removed, every snapshot left read) beside
  pyiceberg's own `table.delete(In("email", [...]))` of the same values on a second table of
  the same rows; both must delete the same rows; both tables written anew for each of
  --iceberg-repeat runs, median of each;
- lance: a --lance-rows row LanceDB table of --lance-dim float32 vectors with --subjects emails;
  the batch through the `lance_table` connector (delete by row id, compaction of the deletions,
  clean-up; then the post-check with its vector search, no vector index) beside the library's
  own `table.delete("email IN (...)")` on a copy, alone and followed by the compaction that
  takes the deleted rows out of the files; both must delete the same rows;
- batch vs one by one: the same --subjects requests against a --batch-mb MB JSON Lines file,
  as one batch (`erase_groups` + `verify_groups`) and one request at a time (`erase` + `verify`
  each), as the worker does with and without batching;
- end to end: --requests requests (one subject each), each planned onto 5 `jsonl_file` targets
  (always, no approval), run by one real Celery worker (solo pool): requests per minute and
  targets per second from the first request filed to the last one closed, and the median
  per-request latency from received to closed.
"""

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
from django.conf import settings
from django.db import connection

from _setup import ROOT, migrate, percentile
from connectors import connector_for
from erasure.gate import erasure_request_gate
from erasure.models import CLOSED_STATES, ErasureRequest, State, Target
from erasure.planning import erasure_request_plan
from erasure.services import erasure_request_create, erasure_request_mark_verified
from targets.services import target_save

DSN_ENV = "LUP_BENCH_ERASURE_DSN"
TABLE = "bench_users"
ACTOR = "bench"
# Generous: the connectors' default of 30 s is for one subject, not a 1 GB rewrite.
TIMEOUT_SECONDS = 3600
E2E_TARGETS = 5
E2E_FILLER_LINES = 1000


def ratio(value: float, baseline: float) -> str:
    return f"x{value / baseline:6.2f} of baseline" if baseline else "x   n/a"


# --- table ------------------------------------------------------------------------------------


def user_row(i: int) -> tuple[str, str]:
    return f"user-{i}@example.org", f"Name {i}"


def table_build(rows: int) -> None:
    """Create and fill `bench_users` once (kept when it already holds --rows rows)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [TABLE])
        if cursor.fetchone()[0] is not None:
            cursor.execute(f"SELECT count(*) FROM {TABLE}")
            if cursor.fetchone()[0] == rows:
                return
        start = time.perf_counter()
        cursor.execute(f"DROP TABLE IF EXISTS {TABLE}")
        cursor.execute(f"CREATE TABLE {TABLE} (email text, name text)")
        chunk = 200_000
        with cursor.copy(f"COPY {TABLE} (email, name) FROM STDIN") as copy:
            for lo in range(0, rows, chunk):
                copy.write(
                    "".join(
                        f"user-{i}@example.org\tName {i}\n"
                        for i in range(lo, min(rows, lo + chunk))
                    )
                )
        cursor.execute(f"CREATE INDEX {TABLE}_email ON {TABLE} (email)")
        cursor.execute(f"ANALYZE {TABLE}")
    print(
        f"table: {rows:,} rows copied, indexed and analyzed in {time.perf_counter() - start:.1f} s"
    )


def table_reinsert(indices: list[int]) -> None:
    with connection.cursor() as cursor, cursor.copy(f"COPY {TABLE} (email, name) FROM STDIN") as c:
        for i in indices:
            c.write_row(user_row(i))


def raw_delete(dsn: str, emails: list[str]) -> int:
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(f"DELETE FROM {TABLE} WHERE email = ANY(%s)", [emails])
        return cur.rowcount


def bench_table(args, rng: random.Random) -> None:
    table_build(args.rows)
    dsn = os.environ[DSN_ENV]
    indices = rng.sample(range(args.rows), args.subjects)
    emails = [user_row(i)[0] for i in indices]
    connector = connector_for(
        "postgres_table",
        {
            "dsn_env": DSN_ENV,
            "table": TABLE,
            "match": {"email": "email"},
            "batch_size": 1000,
            "timeout_seconds": TIMEOUT_SECONDS,
        },
    )

    def via_connector() -> int:
        return connector.erase({"email": emails}).count

    def via_sql() -> int:
        return raw_delete(dsn, emails)

    samples: dict[str, list[float]] = {"connector": [], "sql": []}
    for round_ in range(args.repeat):
        order = [("connector", via_connector), ("sql", via_sql)]
        for name, fn in order if round_ % 2 == 0 else order[::-1]:
            t = time.perf_counter()
            deleted = fn()
            samples[name].append(time.perf_counter() - t)
            assert deleted == args.subjects, f"{name} deleted {deleted} of {args.subjects} rows"
            table_reinsert(indices)
    connector_ms = statistics.median(samples["connector"]) * 1000
    sql_ms = statistics.median(samples["sql"]) * 1000
    print(f"table: erase {args.subjects:,} of {args.rows:,} rows, median of {args.repeat} each")
    print(
        f"  {'postgres_table connector':<40} {connector_ms:10.1f} ms   "
        f"{ratio(connector_ms, sql_ms)}"
    )
    print(f"  {'raw DELETE … WHERE email = ANY(%s)':<40} {sql_ms:10.1f} ms   (baseline)")


# --- file -------------------------------------------------------------------------------------


def jsonl_line(email: str, i: int) -> str:
    text = f"message {i} about order {i * 7919 % 1_000_003} and its delivery window"
    return json.dumps({"user": {"email": email}, "text": text}) + "\n"


def jsonl_write(path: Path, size: int, targets: list[str], rng: random.Random) -> int:
    """Write about `size` bytes of lines, with one line per target email at random places."""
    per_line = len(jsonl_line("keep-1000000@example.org", 1_000_000).encode())
    lines = max(size // per_line, len(targets) * 2)
    at = dict(zip(rng.sample(range(lines), len(targets)), targets, strict=True))
    chunk = 100_000
    with path.open("w") as out:
        for lo in range(0, lines, chunk):
            out.write(
                "".join(
                    jsonl_line(at.get(i) or f"keep-{i}@example.org", i)
                    for i in range(lo, min(lines, lo + chunk))
                )
            )
    return lines


def count_lines(path: Path) -> int:
    return int(
        subprocess.run(
            ["wc", "-l", str(path)], check=True, capture_output=True, text=True
        ).stdout.split()[0]
    )


def grep_pass(source: Path, patterns: Path, out: Path) -> float:
    """One `LC_ALL=C grep -vF -f patterns source > out` pass: the baseline of a file pass."""
    t = time.perf_counter()
    with out.open("wb") as kept:
        subprocess.run(
            ["grep", "-vF", "-f", str(patterns), str(source)],
            stdout=kept,
            env=dict(os.environ, LC_ALL="C"),
            check=False,  # 1: no line kept
        )
    return time.perf_counter() - t


def passes_beside_grep(
    args, label: str, original: Path, patterns: Path, connector, groups, expected: int
) -> Path:
    """The connector's erase pass (`erase_groups`, on a fresh copy each run) and post-check
    pass (`verify_groups`) beside one grep -vF pass over the same file, alternating, median of
    --file-repeat runs of each; returns grep's output (kept lines) for the caller's checks."""
    mine = Path(connector.path)
    kept = original.with_name("grep.out")
    samples: dict[str, list[float]] = {"erase": [], "check": [], "grep": []}
    for _ in range(args.file_repeat):
        shutil.copyfile(original, mine)
        t = time.perf_counter()
        erased = sum(e.count for e in connector.erase_groups(groups).values())
        samples["erase"].append(time.perf_counter() - t)
        t = time.perf_counter()
        remaining = sum(v.remaining for v in connector.verify_groups(groups).values())
        samples["check"].append(time.perf_counter() - t)
        assert (erased, remaining) == (expected, 0), (erased, remaining)
        samples["grep"].append(grep_pass(original, patterns, kept))
    size_mb = original.stat().st_size / 2**20
    grep_s = statistics.median(samples["grep"])
    print(
        f"{label}: a batch of {len(groups):,} requests over {size_mb:,.0f} MB, median of "
        f"{args.file_repeat} runs of each; {expected:,} items erased, none left"
    )
    for name, key in (("erase pass", "erase"), ("post-check pass", "check")):
        took = statistics.median(samples[key])
        print(
            f"  {f'{label} connector, {name}':<40} {took:10.2f} s    {ratio(took, grep_s)}"
            f"   {size_mb / took:7.1f} MB/s"
        )
    print(
        f"  {'LC_ALL=C grep -vF -f patterns > out':<40} {grep_s:10.2f} s    (baseline)"
        f"           {size_mb / grep_s:7.1f} MB/s"
    )
    return kept


def bench_file(args, folder: Path, rng: random.Random) -> None:
    emails = [f"erase-{i}@example.org" for i in range(args.subjects)]
    original = folder / "events.jsonl"
    t = time.perf_counter()
    lines = jsonl_write(original, args.jsonl_mb * 2**20, emails, rng)
    size_mb = original.stat().st_size / 2**20
    print(f"file: {lines:,} lines ({size_mb:,.0f} MB) written in {time.perf_counter() - t:.1f} s")
    patterns = folder / "patterns.txt"
    patterns.write_text("".join(json.dumps({"email": e})[1:-1] + "\n" for e in emails))
    mine = folder / "connector.jsonl"
    connector = connector_for(
        "jsonl_file",
        {
            "path": str(mine),
            "match": {"email": "user.email"},
            "timeout_seconds": TIMEOUT_SECONDS,
        },
    )
    groups = {n: {"email": [e]} for n, e in enumerate(emails)}
    kept = passes_beside_grep(
        args, "jsonl_file", original, patterns, connector, groups, len(emails)
    )
    assert lines - count_lines(kept) == args.subjects
    same = subprocess.run(["cmp", "-s", str(mine), str(kept)]).returncode == 0
    assert same, "the connector and grep kept different bytes"
    print("  (the connector and grep removed the same lines and kept identical bytes)")
    for path in (original, mine, kept, patterns):
        path.unlink(missing_ok=True)


def csv_write(path: Path, size: int, targets: list[str], rng: random.Random) -> int:
    """A CSV export of about `size` bytes, one row per target email at random places."""
    row = "{i},{email},Name {i},message {i} about order {o} and its delivery window\n"
    per_line = len(row.format(i=1_000_000, email="keep-1000000@example.org", o=1).encode())
    lines = max(size // per_line, len(targets) * 2)
    at = dict(zip(rng.sample(range(lines), len(targets)), targets, strict=True))
    with path.open("w") as out:
        out.write("id,email,name,note\n")
        for lo in range(0, lines, 100_000):
            out.write(
                "".join(
                    row.format(i=i, email=at.get(i) or f"keep-{i}@example.org", o=i * 7919 % 1003)
                    for i in range(lo, min(lines, lo + 100_000))
                )
            )
    return lines


def bench_csv(args, folder: Path, rng: random.Random) -> None:
    emails = [f"erase-{i}@example.org" for i in range(args.subjects)]
    original = folder / "export.csv"
    lines = csv_write(original, args.csv_mb * 2**20, emails, rng)
    patterns = folder / "patterns.txt"
    patterns.write_text("".join(f",{e},\n" for e in emails))
    mine = folder / "connector.csv"
    connector = connector_for(
        "csv_file",
        {"path": str(mine), "match": {"email": "email"}, "timeout_seconds": TIMEOUT_SECONDS},
    )
    groups = {n: {"email": [e]} for n, e in enumerate(emails)}
    kept = passes_beside_grep(args, "csv_file", original, patterns, connector, groups, len(emails))
    assert lines + 1 - count_lines(kept) == args.subjects
    same = subprocess.run(["cmp", "-s", str(mine), str(kept)]).returncode == 0
    assert same, "the connector and grep kept different bytes"
    print("  (the connector and grep removed the same rows and kept identical bytes)")
    for path in (original, mine, kept, patterns):
        path.unlink(missing_ok=True)


# --- end to end -------------------------------------------------------------------------------


def start_worker(log_path: Path) -> subprocess.Popen:
    from config.celery import app

    tag = f"bench-{os.getpid()}"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--pool=solo",
                "--concurrency=1",
                f"--hostname={tag}@%h",
                "--loglevel=WARNING",
                "--queues=celery,erasure.jsonl_file,erasure.postgres_table",
                "--without-gossip",
                "--without-mingle",
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        replies = app.control.ping(timeout=1.0)
        if any(name.startswith(f"{tag}@") for reply in replies for name in reply):
            return proc
        if proc.poll() is not None:
            raise RuntimeError(f"the worker exited:\n{log_path.read_text()[-2000:]}")
    stop_worker(proc)
    raise RuntimeError("the worker did not start within 60 s")


def stop_worker(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def bench_end_to_end(args, folder: Path) -> None:
    from config.celery import app

    run = uuid.uuid4().hex[:8]
    emails = [f"e2e-{run}-{i}@example.org" for i in range(args.requests)]
    for n in range(E2E_TARGETS):
        path = folder / f"e2e-{n}" / "events.jsonl"
        path.parent.mkdir()
        lines = [jsonl_line(e, i) for i, e in enumerate(emails)]
        lines += [jsonl_line(f"keep-{i}@example.org", i) for i in range(E2E_FILLER_LINES)]
        random.Random(n).shuffle(lines)
        path.write_text("".join(lines))
        name = f"bench-e2e-{n}"
        target_save(
            target=Target.objects.filter(name=name).first(),
            name=name,
            kind="jsonl_file",
            config={"path": str(path), "match": {"email": "user.email"}},
            country="SG",
            always=True,
            actor=ACTOR,
            preapproved="benchmark targets, registered by the operator's own run",
        )
    app.control.purge()
    worker = start_worker(folder / "worker.log")
    try:
        ids = []
        start = time.perf_counter()
        for email in emails:
            request, _ = erasure_request_create(
                identifiers=[{"id_type": "email", "value": email}],
                country="SG",
                channel="api",
                actor=ACTOR,
            )
            request = erasure_request_mark_verified(
                request=request, actor=ACTOR, reason="bench subject"
            )
            request = erasure_request_plan(request=request, actor=ACTOR)
            erasure_request_gate(request=request, actor=ACTOR)
            ids.append(request.pk)
        filed = time.perf_counter() - start
        timeout = time.monotonic() + args.e2e_timeout
        while ErasureRequest.objects.filter(pk__in=ids).exclude(state__in=CLOSED_STATES).exists():
            if time.monotonic() > timeout:
                raise RuntimeError(
                    f"requests still open after {args.e2e_timeout} s:\n"
                    f"{(folder / 'worker.log').read_text()[-2000:]}"
                )
            if worker.poll() is not None:
                raise RuntimeError(
                    f"the worker exited:\n{(folder / 'worker.log').read_text()[-2000:]}"
                )
            time.sleep(0.05)
        wall = time.perf_counter() - start
    finally:
        stop_worker(worker)
    closed = list(
        ErasureRequest.objects.filter(pk__in=ids).values_list("state", "received_at", "closed_at")
    )
    states = {state for state, _, _ in closed}
    assert states == {State.COMPLETED}, f"not all requests completed: {states}"
    latencies = [(c - r).total_seconds() for _, r, c in closed]
    print(
        f"end to end: {args.requests} requests x {E2E_TARGETS} jsonl_file targets "
        f"({args.requests + E2E_FILLER_LINES} lines each), one worker (solo pool), "
        f"{os.cpu_count()} cores"
    )
    print(
        f"  filed, verified, planned and gated all in {filed:.2f} s; "
        f"all completed after {wall:.2f} s"
    )
    print(
        f"  {args.requests / wall * 60:8.1f} requests/min   "
        f"{args.requests * E2E_TARGETS / wall:6.1f} targets/s"
    )
    print(
        f"  latency received -> closed: p50 {percentile(latencies, 50):.2f} s   "
        f"p99 {percentile(latencies, 99):.2f} s   "
        f"(wall / requests: {wall / args.requests:.2f} s)"
    )


# --- redis ------------------------------------------------------------------------------------

REDIS_URL_ENV = "LUP_BENCH_REDIS_URL"


def redis_fill(client, users: int) -> int:
    pipe = client.pipeline(transaction=False)
    for n in range(users):
        pipe.set(f"session:u{n}", b"s")
        pipe.set(f"chat:u{n}:0", b"c")
        pipe.set(f"chat:u{n}:1", b"c")
        if n % 10_000 == 9_999:
            pipe.execute()
    pipe.execute()
    return client.dbsize()


def redis_restore(client, users: list[int]) -> None:
    pipe = client.pipeline(transaction=False)
    for n in users:
        pipe.mset({f"session:u{n}": b"s", f"chat:u{n}:0": b"c", f"chat:u{n}:1": b"c"})
    pipe.execute()


def redis_raw_erase(client, ids: set[str]) -> int:
    """The baseline: what one would write by hand with redis-py for the same batch."""
    doomed = [f"session:{uid}" for uid in ids]
    for key in client.scan_iter(match="chat:*", count=1000):
        if key.split(b":")[1].decode() in ids:
            doomed.append(key)
    removed = 0
    for lo in range(0, len(doomed), 500):
        pipe = client.pipeline(transaction=False)
        for key in doomed[lo : lo + 500]:
            pipe.unlink(key)
        removed += sum(pipe.execute())
    return removed


def bench_redis(args, rng: random.Random) -> None:
    import redis

    url = os.environ.setdefault(REDIS_URL_ENV, "redis://127.0.0.1:6379/9")
    client = redis.Redis.from_url(url)
    client.flushdb()
    users = args.redis_keys // 3
    t = time.perf_counter()
    keys = redis_fill(client, users)
    print(f"redis: {keys:,} keys written in {time.perf_counter() - t:.1f} s")
    chosen = rng.sample(range(users), args.subjects)
    ids = [f"u{n}" for n in chosen]
    connector = connector_for(
        "redis",
        {
            "url_env": REDIS_URL_ENV,
            "keys": ["session:{user_id}", "chat:{user_id}:*"],
            "timeout_seconds": TIMEOUT_SECONDS,
        },
    )
    groups = {n: {"user_id": [uid]} for n, uid in enumerate(ids)}

    def via_connector() -> int:
        return sum(e.count for e in connector.erase_groups(groups).values())

    def via_raw() -> int:
        return redis_raw_erase(client, set(ids))

    samples: dict[str, list[float]] = {"connector": [], "raw": []}
    for round_ in range(args.repeat):
        order = [("connector", via_connector), ("raw", via_raw)]
        for name, fn in order if round_ % 2 == 0 else order[::-1]:
            t = time.perf_counter()
            removed = fn()
            samples[name].append(time.perf_counter() - t)
            assert removed == 3 * args.subjects, f"{name} removed {removed} keys"
            redis_restore(client, chosen)
    one = []
    for uid in ids[: args.one_by_one]:
        t = time.perf_counter()
        assert connector.erase({"user_id": [uid]}).count == 3
        one.append(time.perf_counter() - t)
    redis_restore(client, chosen)
    client.flushdb()
    connector_s = statistics.median(samples["connector"])
    raw_s = statistics.median(samples["raw"])
    one_s = statistics.median(one) * args.subjects
    print(
        f"redis: erase {args.subjects:,} users' {3 * args.subjects:,} keys among {keys:,}, "
        f"median of {args.repeat} each"
    )
    print(
        f"  {'redis connector, one batch':<40} {connector_s:10.2f} s    {ratio(connector_s, raw_s)}"
    )
    print(f"  {'redis-py SCAN MATCH + UNLINK pipeline':<40} {raw_s:10.2f} s    (baseline)")
    print(
        f"  {'redis connector, one by one':<40} {one_s:10.2f} s    {ratio(one_s, raw_s)}"
        f"   (median of {args.one_by_one} single requests x {args.subjects:,})"
    )


# --- text log and parquet -------------------------------------------------------------------


def log_line(email: str, i: int) -> str:
    return (
        f"2026-11-27T07:{i // 60 % 60:02d}:{i % 60:02d}Z INFO req={i:08x} user={email} "
        f"path=/api/v1/chat status=200 took={i % 97}ms\n"
    )


def log_write(path: Path, size: int, targets: list[str], rng: random.Random) -> int:
    per_line = len(log_line("keep-1000000@example.org", 1_000_000).encode())
    lines = max(size // per_line, len(targets) * 2)
    at = dict(zip(rng.sample(range(lines), len(targets)), targets, strict=True))
    chunk = 100_000
    with path.open("w") as out:
        for lo in range(0, lines, chunk):
            out.write(
                "".join(
                    log_line(at.get(i) or f"keep-{i}@example.org", i)
                    for i in range(lo, min(lines, lo + chunk))
                )
            )
    return lines


def sequential_read(path: Path, *, lines: bool = False) -> float:
    """One pass over the file: 1 MiB reads, or (lines=True) every line split out in Python."""
    t = time.perf_counter()
    with path.open("rb") as f:
        if lines:
            for _ in f:
                pass
        else:
            while f.read(2**20):
                pass
    return time.perf_counter() - t


def batch_pass(connector, groups) -> tuple[int, int]:
    """What the worker does for a batch: one erase pass, one post-check pass."""
    erased = sum(e.count for e in connector.erase_groups(groups).values())
    remaining = sum(v.remaining for v in connector.verify_groups(groups).values())
    return erased, remaining


def bench_text_log(args, folder: Path, rng: random.Random) -> None:
    emails = [f"erase-{i}@example.org" for i in range(args.subjects)]
    path = folder / "app.log"
    t = time.perf_counter()
    lines = log_write(path, args.log_mb * 2**20, emails, rng)
    size_mb = path.stat().st_size / 2**20
    print(
        f"text log: {lines:,} lines ({size_mb:,.0f} MB) written in {time.perf_counter() - t:.1f} s"
    )
    read_s = statistics.median(sequential_read(path) for _ in range(3))
    lines_s = statistics.median(sequential_read(path, lines=True) for _ in range(3))
    patterns = folder / "patterns.txt"
    patterns.write_text("".join(f"user={e} \n" for e in emails))
    mine = folder / "connector.log"
    connector = connector_for(
        "text_log",
        {"path": str(mine), "id_types": ["email"], "timeout_seconds": TIMEOUT_SECONDS},
    )
    groups = {n: {"email": [e]} for n, e in enumerate(emails)}
    kept = passes_beside_grep(args, "text_log", path, patterns, connector, groups, len(emails))
    assert lines - count_lines(kept) == args.subjects
    print(
        f"  {'one sequential read (1 MiB reads)':<40} {read_s:10.2f} s"
        f"                         {size_mb / read_s:7.1f} MB/s"
    )
    print(
        f"  {'one pass splitting lines in Python':<40} {lines_s:10.2f} s"
        f"                         {size_mb / lines_s:7.1f} MB/s"
    )
    for leftover in (path, mine, kept, patterns):
        leftover.unlink(missing_ok=True)


def parquet_write(path: Path, size: int, targets: list[str], rng: random.Random) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema(
        [
            ("id", pa.int64()),
            ("email", pa.string()),
            ("prompt", pa.string()),
            ("expected", pa.string()),
        ],
        metadata={b"dataset": b"bench-eval", b"license": b"internal"},
    )
    per_row = 30  # bytes per row on disk, about, for this text with snappy
    rows = max(size // per_row, len(targets) * 2)
    at = dict(zip(rng.sample(range(rows), len(targets)), targets, strict=True))
    chunk = 100_000
    with pq.ParquetWriter(path, schema) as writer:
        for lo in range(0, rows, chunk):
            ids = list(range(lo, min(rows, lo + chunk)))
            writer.write_table(
                pa.table(
                    {
                        "id": ids,
                        "email": [at.get(i) or f"keep-{i}@example.org" for i in ids],
                        "prompt": [
                            f"Translate sentence {i * 7919 % 1_000_003} into Khmer" for i in ids
                        ],
                        "expected": [f"answer {i % 9973} {rng.random():.6f}" for i in ids],
                    },
                    schema=schema,
                )
            )
    return rows


def bench_parquet(args, folder: Path, rng: random.Random) -> None:
    import pyarrow.parquet as pq

    emails = [f"erase-{i}@example.org" for i in range(args.subjects)]
    path = folder / "eval.parquet"
    t = time.perf_counter()
    rows = parquet_write(path, args.parquet_mb * 2**20, emails, rng)
    size_mb = path.stat().st_size / 2**20
    print(f"parquet: {rows:,} rows ({size_mb:,.0f} MB) written in {time.perf_counter() - t:.1f} s")

    def read_all() -> float:
        t = time.perf_counter()
        source = pq.ParquetFile(path)
        for group in range(source.num_row_groups):
            source.read_row_group(group)
        return time.perf_counter() - t

    read_s = statistics.median(read_all() for _ in range(3))
    connector = connector_for(
        "parquet_file",
        {
            "path": str(path),
            "match": {"email": "email"},
            "timeout_seconds": TIMEOUT_SECONDS,
        },
    )
    groups = {n: {"email": [e]} for n, e in enumerate(emails)}
    t = time.perf_counter()
    erased, remaining = batch_pass(connector, groups)
    batch_s = time.perf_counter() - t
    assert (erased, remaining) == (args.subjects, 0), (erased, remaining)
    assert pq.ParquetFile(path).metadata.num_rows == rows - args.subjects
    print(
        f"parquet: a batch of {args.subjects:,} requests over {size_mb:,.0f} MB "
        f"(erase and post-check passes); {erased:,} rows removed"
    )
    print(
        f"  {'parquet_file connector, one batch':<40} {batch_s:10.2f} s    {ratio(batch_s, read_s)}"
    )
    print(f"  {'one sequential read (every row group)':<40} {read_s:10.2f} s    (baseline)")
    path.unlink()


def delta_write(path: Path, rows: int, targets: list[str], rng: random.Random) -> None:
    import numpy as np
    import pyarrow as pa
    from deltalake import write_deltalake

    at = dict(zip(rng.sample(range(rows), len(targets)), targets, strict=True))
    chunk = 1_000_000
    for lo in range(0, rows, chunk):
        ids = np.arange(lo, min(rows, lo + chunk))
        emails = pa.array([f"keep-{i}@example.org" for i in ids])
        marked = [(i - lo, e) for i, e in at.items() if lo <= i < lo + len(ids)]
        if marked:
            values = emails.to_pylist()
            for offset, email in marked:
                values[offset] = email
            emails = pa.array(values)
        write_deltalake(
            path,
            pa.table({"id": ids, "email": emails, "score": (ids % 997) / 997.0}),
            mode="append",
        )


def bench_delta(args, folder: Path, rng: random.Random) -> None:
    from deltalake import DeltaTable

    emails = [f"erase-{i}@example.org" for i in range(args.subjects)]
    path, copy = folder / "delta", folder / "delta-copy"
    t = time.perf_counter()
    delta_write(path, args.delta_rows, emails, rng)
    print(f"delta: {args.delta_rows:,} rows written in {time.perf_counter() - t:.1f} s")
    shutil.copytree(path, copy)
    connector = connector_for(
        "delta_table",
        {"path": str(path), "match": {"email": "email"}, "timeout_seconds": TIMEOUT_SECONDS},
    )
    groups = {n: {"email": [e]} for n, e in enumerate(emails)}
    t = time.perf_counter()
    erased = sum(e.count for e in connector.erase_groups(groups).values())
    erase_s = time.perf_counter() - t
    t = time.perf_counter()
    remaining = sum(v.remaining for v in connector.verify_groups(groups).values())
    verify_s = time.perf_counter() - t
    assert (erased, remaining) == (args.subjects, 0), (erased, remaining)
    listed = ", ".join("'" + e + "'" for e in emails)
    t = time.perf_counter()
    deleted = DeltaTable(copy).delete(f"email IN ({listed})")["num_deleted_rows"]
    library_s = time.perf_counter() - t
    assert deleted == erased, (deleted, erased)
    print(f"delta: a batch of {args.subjects:,} requests over {args.delta_rows:,} rows")
    versus = ratio(erase_s, library_s)
    print(f"  {'delta_table connector, erase':<40} {erase_s:10.2f} s    {versus}")
    print(f"  {'delta_table connector, post-check':<40} {verify_s:10.2f} s")
    print(f"  {'DeltaTable.delete, same predicate':<40} {library_s:10.2f} s    (baseline)")
    shutil.rmtree(path)
    shutil.rmtree(copy)


def bench_lance(args, folder: Path, rng: random.Random) -> None:
    import lancedb
    import numpy as np
    import pyarrow as pa

    emails = [f"erase-{i}@example.org" for i in range(args.subjects)]
    rows, dim = args.lance_rows, args.lance_dim
    at = dict(zip(rng.sample(range(rows), len(emails)), emails, strict=True))
    values = [at.get(i) or f"keep-{i}@example.org" for i in range(rows)]
    vectors = np.random.default_rng(args.seed).random((rows, dim), dtype=np.float32)
    data = pa.table(
        {
            "email": values,
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), dim),
        }
    )
    t = time.perf_counter()
    for name in ("lance", "lance-copy"):
        lancedb.connect(str(folder / name)).create_table("chunks", data)
    print(f"lance: {rows:,} vectors of {dim} written twice in {time.perf_counter() - t:.1f} s")
    connector = connector_for(
        "lance_table",
        {
            "path": str(folder / "lance"),
            "table": "chunks",
            "match": {"email": "email"},
            "vector_column": "vector",
            "timeout_seconds": TIMEOUT_SECONDS,
        },
    )
    groups = {n: {"email": [e]} for n, e in enumerate(emails)}
    t = time.perf_counter()
    erased = sum(e.count for e in connector.erase_groups(groups).values())
    erase_s = time.perf_counter() - t
    t = time.perf_counter()
    remaining = sum(v.remaining for v in connector.verify_groups(groups).values())
    verify_s = time.perf_counter() - t
    assert (erased, remaining) == (args.subjects, 0), (erased, remaining)
    listed = ", ".join("'" + e + "'" for e in emails)
    copy = lancedb.connect(str(folder / "lance-copy")).open_table("chunks")
    t = time.perf_counter()
    deleted = copy.delete(f"email IN ({listed})").num_deleted_rows
    library_s = time.perf_counter() - t
    assert deleted == erased, (deleted, erased)
    # What the connector does besides: the deleted rows compacted out of the files.
    t = time.perf_counter()
    copy.to_lance().optimize.compact_files(materialize_deletions_threshold=0.0)
    compact_s = time.perf_counter() - t
    print(f"lance: a batch of {args.subjects:,} requests over {rows:,} vectors")
    versus = ratio(erase_s, library_s)
    print(f"  {'lance_table connector, erase':<40} {erase_s:10.2f} s    {versus}")
    print(f"  {'lance_table connector, post-check':<40} {verify_s:10.2f} s")
    print(f"  {'table.delete, same predicate':<40} {library_s:10.2f} s    (baseline)")
    both = library_s + compact_s
    print(f"  {'table.delete, then compact_files':<40} {both:10.2f} s    {ratio(erase_s, both)}")
    shutil.rmtree(folder / "lance")
    shutil.rmtree(folder / "lance-copy")


def iceberg_write(tables: list, rows: int, targets: list[str], rng: random.Random) -> None:
    """The same rows appended to each table, 1,000,000 at a time (a data file each)."""
    import numpy as np
    import pyarrow as pa

    at = dict(zip(rng.sample(range(rows), len(targets)), targets, strict=True))
    chunk = 1_000_000
    for lo in range(0, rows, chunk):
        ids = np.arange(lo, min(rows, lo + chunk))
        values = [f"keep-{i}@example.org" for i in ids]
        for i, email in at.items():
            if lo <= i < lo + len(ids):
                values[i - lo] = email
        data = pa.table(
            {
                "id": pa.array(ids, pa.int64()),
                "email": pa.array(values, pa.large_string()),
                "score": pa.array((ids % 997) / 997.0, pa.float64()),
            }
        )
        for table in tables:
            table.append(data)


def bench_iceberg(args, folder: Path, rng: random.Random) -> None:
    import pyarrow as pa
    from pyiceberg.catalog.sql import SqlCatalog
    from pyiceberg.expressions import In

    emails = [f"erase-{i}@example.org" for i in range(args.subjects)]
    uri = f"sqlite:///{folder}/iceberg-catalog.db"
    os.environ["LUP_BENCH_ICEBERG_URI"] = uri
    catalog = SqlCatalog("bench", uri=uri, warehouse=f"file://{folder}/iceberg")
    catalog.create_namespace("crm")
    schema = pa.schema([("id", pa.int64()), ("email", pa.large_string()), ("score", pa.float64())])
    connector = connector_for(
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
    groups = {n: {"email": [e]} for n, e in enumerate(emails)}
    samples: dict[str, list[float]] = {"erase": [], "verify": [], "library": []}
    for round_ in range(args.iceberg_repeat):
        for name in ("crm.people", "crm.copy"):
            if catalog.table_exists(name):
                catalog.purge_table(name)
        tables = [catalog.create_table(name, schema=schema) for name in ("crm.people", "crm.copy")]
        t = time.perf_counter()
        iceberg_write(tables, args.iceberg_rows, emails, rng)
        if round_ == 0:
            print(
                f"iceberg: {args.iceberg_rows:,} rows written twice in "
                f"{time.perf_counter() - t:.1f} s"
            )
        # Alternate which goes first, so neither always meets a cold page cache.
        order = ["connector", "library"] if round_ % 2 == 0 else ["library", "connector"]
        for who in order:
            t = time.perf_counter()
            if who == "connector":
                erased = sum(e.count for e in connector.erase_groups(groups).values())
                samples["erase"].append(time.perf_counter() - t)
                t = time.perf_counter()
                remaining = sum(v.remaining for v in connector.verify_groups(groups).values())
                samples["verify"].append(time.perf_counter() - t)
                assert (erased, remaining) == (args.subjects, 0), (erased, remaining)
            else:
                copy = catalog.load_table("crm.copy")
                before = copy.scan().count()
                copy.delete(In("email", emails))
                samples["library"].append(time.perf_counter() - t)
                deleted = before - copy.refresh().scan().count()
                assert deleted == args.subjects, deleted
    for name in ("crm.people", "crm.copy"):
        catalog.purge_table(name)
    catalog.engine.dispose()
    erase_s, verify_s, library_s = (statistics.median(samples[k]) for k in samples)
    print(
        f"iceberg: a batch of {args.subjects:,} requests over {args.iceberg_rows:,} rows, "
        f"median of {args.iceberg_repeat} each"
    )
    versus = ratio(erase_s, library_s)
    print(f"  {'iceberg_table connector, erase':<40} {erase_s:10.2f} s    {versus}")
    print(f"  {'iceberg_table connector, post-check':<40} {verify_s:10.2f} s    (purged)")
    print(f"  {'table.delete(In(email, ...)), same':<40} {library_s:10.2f} s    (baseline)")


def bench_batch_vs_one(args, folder: Path, rng: random.Random) -> None:
    emails = [f"erase-{i}@example.org" for i in range(args.subjects)]
    original = folder / "original.jsonl"
    lines = jsonl_write(original, args.batch_mb * 2**20, emails, rng)
    size_mb = original.stat().st_size / 2**20
    path = folder / "eval.jsonl"
    connector = connector_for(
        "jsonl_file",
        {
            "path": str(path),
            "match": {"email": "user.email"},
            "timeout_seconds": TIMEOUT_SECONDS,
        },
    )
    groups = {n: {"email": [e]} for n, e in enumerate(emails)}
    shutil.copyfile(original, path)
    t = time.perf_counter()
    assert batch_pass(connector, groups) == (args.subjects, 0)
    batch_s = time.perf_counter() - t
    batched = path.read_bytes()
    shutil.copyfile(original, path)
    t = time.perf_counter()
    for email in emails:
        assert connector.erase({"email": [email]}).count == 1
        assert connector.verify({"email": [email]}).remaining == 0
    one_s = time.perf_counter() - t
    assert path.read_bytes() == batched, "batched and one-by-one results differ"
    print(
        f"batch vs one by one: {args.subjects:,} requests on one {size_mb:,.1f} MB JSON Lines "
        f"file ({lines:,} lines); both leave identical bytes"
    )
    print(f"  {'one batch (erase_groups + verify_groups)':<40} {batch_s:10.2f} s    (baseline)")
    print(f"  {'one by one (erase + verify each)':<40} {one_s:10.2f} s    {ratio(one_s, batch_s)}")
    original.unlink()
    path.unlink()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--subjects", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5, help="table runs of each")
    parser.add_argument("--jsonl-mb", type=int, default=1024)
    parser.add_argument(
        "--file-repeat", type=int, default=3, help="JSONL, text log and CSV runs of each"
    )
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--e2e-timeout", type=int, default=1800, help="seconds")
    parser.add_argument("--redis-keys", type=int, default=1_000_000)
    parser.add_argument(
        "--one-by-one",
        type=int,
        default=20,
        help="single redis requests timed to extrapolate one-by-one erasure",
    )
    parser.add_argument("--log-mb", type=int, default=1024)
    parser.add_argument("--parquet-mb", type=int, default=1024)
    parser.add_argument("--csv-mb", type=int, default=1024)
    parser.add_argument(
        "--batch-mb",
        type=int,
        default=2,
        help="small: one by one rewrites the file once per request",
    )
    parser.add_argument("--delta-rows", type=int, default=10_000_000)
    parser.add_argument("--iceberg-rows", type=int, default=10_000_000)
    parser.add_argument("--iceberg-repeat", type=int, default=3, help="Iceberg runs of each")
    parser.add_argument("--lance-rows", type=int, default=200_000)
    parser.add_argument("--lance-dim", type=int, default=128)
    parser.add_argument("--only", choices=PARTS, help="run one part")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    assert connection.vendor == "postgresql", "run against PostgreSQL (DATABASE_URL)"
    assert not settings.CELERY_TASK_ALWAYS_EAGER, "run with Redis (REDIS_URL)"
    os.environ[DSN_ENV] = os.environ["DATABASE_URL"]
    migrate()
    rng = random.Random(args.seed)
    root = Path(settings.LUP_FILE_ROOTS[0])
    root.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="bench-erasure-", dir=root))
    try:
        for part in PARTS:
            if args.only in (None, part):
                PARTS[part](args, folder, rng)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


PARTS = {
    "table": lambda args, folder, rng: bench_table(args, rng),
    "file": bench_file,
    "redis": lambda args, folder, rng: bench_redis(args, rng),
    "textlog": bench_text_log,
    "csv": bench_csv,
    "parquet": bench_parquet,
    "delta": bench_delta,
    "iceberg": bench_iceberg,
    "lance": bench_lance,
    "batch": bench_batch_vs_one,
    "e2e": lambda args, folder, rng: bench_end_to_end(args, folder),
}


if __name__ == "__main__":
    main()
