"""Five-target erasure requests end to end on the production topology (`scripts/stack.sh`).

Every request names one subject found in five targets: a PostgreSQL table, Redis keys, a JSON
Lines eval set, a Parquet eval set and a text log. The bench starts `scripts/stack.sh` (gunicorn
2x4 threads, the `fast` worker for the table and Redis, the `files` worker for the files, beat)
on the current settings, files --requests requests over HTTP from --threads threads, each in one
call (a token holding `erasure:verify`: `verified` and `plan: true`), and waits until every one
reads `completed`. It prints requests/min from the first POST to the last close, latency
received -> closed (p50, p99), and how many passes each target took, beside the goal and beside
one request filed alone on an idle stack (the same path without company). Then it checks every
request's receipts (one `erasure.target` a target, one closing receipt) and that every subject is
gone from every store while every other subject's data is intact.

Needs PostgreSQL and Redis (DATABASE_URL of a database for the bench alone, REDIS_URL,
SECRET_KEY, LUP_SUBJECT_PEPPER, LUP_REQUEST_KEK, LUP_SIGNING_KEY_FILE). From the project root:

    DATABASE_URL=postgres://…/lup_five .venv/bin/python bench/five_targets.py \
        [--requests 300 --threads 8 --rows 1000000 --file-mb 32]
"""

import argparse
import http.client
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import redis
from django.conf import settings

from _setup import ROOT, migrate, percentile
from access.services import api_token_create
from erasure.models import ErasureRequest, Target, TargetRun
from ledger.models import Receipt
from targets.services import target_save

ACTOR = "bench"
GOAL_RATE = 1000
TABLE_DSN_ENV = "LUP_FIVE_TABLE_DSN"
REDIS_URL_ENV = "LUP_FIVE_REDIS_URL"
VERIFIED = {"method": "bench", "reason": "subjects made up by bench/five_targets.py"}


def email_of(n: int) -> str:
    return f"five-{n}@example.org"


def database_url(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the five stores -----------------------------------------------------------------------------


def seed_table(dsn: str, rows: int, emails: int) -> None:
    admin = database_url(dsn, "postgres")
    name = urlsplit(dsn).path.lstrip("/")
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS events")
        conn.execute("CREATE TABLE events (id bigserial PRIMARY KEY, email text, payload text)")
        with conn.cursor() as cur, cur.copy("COPY events (email, payload) FROM STDIN") as copy:
            for lo in range(0, rows, 100_000):
                copy.write(
                    "".join(
                        f"{email_of(i % emails)}\tevent {i}\n"
                        for i in range(lo, min(rows, lo + 100_000))
                    )
                )
        conn.execute("CREATE INDEX events_email ON events (email)")
        conn.execute("ANALYZE events")


def seed_redis(url: str, emails: int) -> None:
    client = redis.Redis.from_url(url)
    client.flushdb()
    pipe = client.pipeline(transaction=False)
    for n in range(emails):
        pipe.set(f"session:{email_of(n)}", b"s")
        pipe.set(f"chat:{email_of(n)}:0", b"c")
        if n % 10_000 == 9_999:
            pipe.execute()
    pipe.execute()


def seed_files(folder: Path, size: int, emails: int, rng: random.Random) -> dict[str, Path]:
    """A JSON Lines eval set, a text log and a Parquet eval set of about `size` bytes each,
    every e-mail in each of them (the rest of the lines are filler without one)."""
    paths = {
        "jsonl": folder / "eval.jsonl",
        "log": folder / "app.log",
        "parquet": folder / "eval.parquet",
    }
    every = max(1, size // 120 // emails)  # lines per e-mail, filler included
    with paths["jsonl"].open("w") as jsonl, paths["log"].open("w") as log:
        for n in range(emails):
            email = email_of(n)
            jsonl.write(json.dumps({"user": {"email": email}, "q": f"question {n}"}) + "\n")
            log.write(f"2026-12-06T00:00:00Z INFO login ok user={email} id={n}\n")
            for m in range(every - 1):
                jsonl.write(json.dumps({"user": {"email": None}, "q": f"filler {n}.{m}"}) + "\n")
                log.write(f"2026-12-06T00:00:01Z DEBUG cache hit key={rng.getrandbits(64):x}\n")
    column = [email_of(n) if m == 0 else None for n in range(emails) for m in range(every)]
    text = [f"answer {i} {rng.getrandbits(64):x}" for i in range(len(column))]
    pq.write_table(
        pa.table({"email": column, "answer": text}), paths["parquet"], row_group_size=100_000
    )
    return paths


def register(paths: dict[str, Path]) -> list[Target]:
    specs = [
        ("five-table", "postgres_table", {"dsn_env": TABLE_DSN_ENV, "table": "events",
                                          "match": {"email": "email"}}),
        ("five-redis", "redis", {"url_env": REDIS_URL_ENV,
                                 "keys": ["session:{email}", "chat:{email}:*"]}),
        ("five-jsonl", "jsonl_file", {"path": str(paths["jsonl"]),
                                      "match": {"email": "user.email"}}),
        ("five-parquet", "parquet_file", {"path": str(paths["parquet"]),
                                          "match": {"email": "email"}}),
        ("five-log", "text_log", {"path": str(paths["log"]), "id_types": ["email"]}),
    ]  # fmt: skip
    return [
        target_save(
            target=Target.objects.filter(name=name).first(),
            name=name,
            kind=kind,
            config=config,
            country="SG",
            always=True,
            actor=ACTOR,
            preapproved="the benchmark's targets, registered by the operator's own run",
        )
        for name, kind, config in specs
    ]


def left_in_stores(subjects: list[str], paths: dict[str, Path], dsn: str, url: str) -> dict:
    """How much of the subjects each store still holds (all zero after the bench)."""
    wanted = set(subjects)
    with psycopg.connect(dsn) as conn:
        table = conn.execute(
            "SELECT count(*) FROM events WHERE email = ANY(%s)", [subjects]
        ).fetchone()[0]
    client = redis.Redis.from_url(url)
    keys = sum(client.exists(f"session:{s}", f"chat:{s}:0") for s in subjects)
    with paths["jsonl"].open() as f:
        jsonl = sum(json.loads(line)["user"]["email"] in wanted for line in f)
    with paths["log"].open() as f:
        log = sum(any(s in line for s in wanted) for line in f if "user=" in line)
    column = pq.read_table(paths["parquet"], columns=["email"]).column("email").to_pylist()
    return {
        "table": table,
        "redis": keys,
        "jsonl": jsonl,
        "parquet": sum(v in wanted for v in column),
        "log": log,
    }


# --- HTTP ----------------------------------------------------------------------------------------


class Client:
    """One keep-alive HTTP connection holding the bench's token."""

    def __init__(self, port: int, token: str):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def file(self, email: str) -> str:
        body = {
            "identifiers": [{"id_type": "email", "value": email}],
            "verified": VERIFIED,
            "plan": True,
        }
        self.conn.request(
            "POST", "/api/v1/erasure-requests", body=json.dumps(body), headers=self.headers
        )
        response = self.conn.getresponse()
        answer = json.loads(response.read())
        assert response.status == 201, (response.status, answer)
        return answer["id"]


def wait_closed(ids: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while ErasureRequest.objects.filter(pk__in=ids, closed_at__isnull=True).exists():
        assert time.monotonic() < deadline, "requests still open: see the stack's logs"
        time.sleep(0.02)


def file_all(port: int, token: str, emails: list[str], threads: int) -> list[str]:
    ids: list[str] = []
    lock = threading.Lock()

    def submit(chunk: list[str]) -> None:
        client = Client(port, token)
        for email in chunk:
            request_id = client.file(email)
            with lock:
                ids.append(request_id)

    workers = [threading.Thread(target=submit, args=(emails[i::threads],)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(ids) == len(emails), "a filing thread failed"
    return ids


def stack(command: str, env: dict) -> None:
    result = subprocess.run(
        ["bash", "scripts/stack.sh", command], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if result.returncode != 0:
        sys.exit(f"scripts/stack.sh {command} failed:\n{result.stderr[-3000:]}")


def passes(targets: list[Target], ids: list[str]) -> dict[str, int]:
    """Passes a target took for these requests: the runs of one pass share its erase step's
    start."""
    return {
        target.name: len(
            {
                erased["started_at"]
                for erased in TargetRun.objects.filter(
                    target=target, request_id__in=ids
                ).values_list("erased", flat=True)
            }
        )
        for target in targets
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--emails", type=int, default=100_000, help="subjects in every store")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the table")
    parser.add_argument("--file-mb", type=int, default=32, help="size of each file")
    parser.add_argument("--singles", type=int, default=3, help="requests filed alone first")
    parser.add_argument("--timeout", type=int, default=900, help="seconds")
    args = parser.parse_args()
    migrate()
    if Target.objects.filter(state=Target.State.ACTIVE).exclude(name__startswith="five-").exists():
        sys.exit("other targets are registered: use a database of the bench's own")
    if TargetRun.objects.exclude(status__in=[TargetRun.Status.DONE, TargetRun.Status.FAILED]):
        sys.exit("unfinished erasures in the database: use a fresh one")

    rng = random.Random(5)
    # Under the first file root, so the targets' paths pass registration's root check.
    Path(settings.LUP_FILE_ROOTS[0]).mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="bench-five-", dir=settings.LUP_FILE_ROOTS[0]))
    database = urlsplit(os.environ["DATABASE_URL"]).path.lstrip("/")
    dsn = database_url(os.environ["DATABASE_URL"], f"{database}_five")
    redis_url = os.environ.get("LUP_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
    os.environ[TABLE_DSN_ENV], os.environ[REDIS_URL_ENV] = dsn, redis_url
    started = time.perf_counter()
    seed_table(dsn, args.rows, args.emails)
    seed_redis(redis_url, args.emails)
    paths = seed_files(folder, args.file_mb << 20, args.emails, rng)
    sizes = {name: path.stat().st_size for name, path in paths.items()}
    print(
        f"seeded in {time.perf_counter() - started:.1f} s: table {args.rows:,} rows, Redis "
        f"{2 * args.emails:,} keys, "
        + ", ".join(f"{name} {size / 2**20:.0f} MiB" for name, size in sizes.items())
        + f"; {args.emails:,} subjects in each"
    )
    targets = register(paths)
    _, token = api_token_create(
        name="five-targets", scopes=["erasure:write", "erasure:verify", "erasure:read"]
    )

    port = free_port()
    env = dict(
        os.environ,
        PORT=str(port),
        LUP_STACK_DIR=str(folder / "stack"),
        LUP_FILE_ROOTS=",".join(settings.LUP_FILE_ROOTS[:-1]),  # the demo root comes last
        LOG_LEVEL="warning",
    )
    subjects = [email_of(n) for n in rng.sample(range(args.emails), args.singles + args.requests)]
    stack("start", env)
    try:
        singles = []
        for email in subjects[: args.singles]:
            t = time.perf_counter()
            ids = file_all(port, token, [email], 1)
            wait_closed(ids, args.timeout)
            singles.append(time.perf_counter() - t)
        burst = subjects[args.singles :]
        t = time.perf_counter()
        ids = file_all(port, token, burst, args.threads)
        filed = time.perf_counter() - t
        wait_closed(ids, args.timeout)
        wall = time.perf_counter() - t
    finally:
        stack("stop", env)

    requests = list(ErasureRequest.objects.filter(pk__in=ids))
    states = {r.state for r in requests}
    assert states == {"completed"}, f"not all completed: {states}"
    latencies = [(r.closed_at - r.received_at).total_seconds() for r in requests]
    runs = TargetRun.objects.filter(request_id__in=ids)
    assert runs.count() == 5 * len(ids) and not runs.exclude(outcome="erased").exists()
    receipts = Receipt.objects.filter(receipt_id__in=runs.values("receipt_id")).count()
    closing = sum(r.closing_receipt_id is not None for r in requests)
    assert receipts == 5 * len(ids) and closing == len(ids), (receipts, closing)
    left = left_in_stores(subjects, paths, dsn, redis_url)
    assert not any(left.values()), f"subjects' data left: {left}"
    rate = len(ids) / wall * 60
    print(
        f"five targets (postgres_table, redis, jsonl_file, parquet_file, text_log) on "
        f"scripts/stack.sh (gunicorn 2x4 threads, two workers, beat), {os.cpu_count()} cores"
    )
    print(
        f"  {len(ids)} requests from {args.threads} threads: filed in {filed:.1f} s, all "
        f"completed after {wall:.1f} s"
    )
    print(f"  {rate:10.0f} requests/min     goal >= {GOAL_RATE:,}     ({rate / GOAL_RATE:.2f}x)")
    print(
        f"  latency received -> closed: p50 {percentile(latencies, 50):.2f} s, "
        f"p99 {percentile(latencies, 99):.2f} s; one request alone on the idle stack: "
        f"median {statistics.median(singles):.2f} s of {len(singles)}"
    )
    print("  passes per target: " + ", ".join(f"{n} {c}" for n, c in passes(targets, ids).items()))
    print(
        f"  checked: {receipts} target receipts and {closing} closing receipts; none of the "
        f"{len(subjects)} subjects left in any store"
    )
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
