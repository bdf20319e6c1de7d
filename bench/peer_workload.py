"""The workload a peer benchmark uses, on Lup alone, through its HTTP API, as shipped.

A PostgreSQL table `customer_events(id bigserial, email text, payload text)` of --rows rows over
--emails e-mails (about ten rows each, indexed on email), seeded with COPY, registered as one
`postgres_table` target; requests for subjects the caller has already verified, identity
verification and approval off: each is one `POST /api/v1/erasure-requests` with
`verified` and `plan: true` (a token holding `erasure:verify`). The clock runs from the first
POST until the request reads `completed` on `GET /api/v1/erasure-requests/{id}`. Measures:
- one request, submit -> complete: p50 of --samples requests filed one at a time;
- 20 requests back to back (each POST as soon as the last answered, then wait for all) and
  20 from 8 threads: requests/min from the first POST to the last completed, median of
  --repeat runs;
and checks with SQL that every subject's rows are gone and no other row changed (count and a
hash of every other row). Figures are printed beside the goal and the peer's baseline
(Fides 2.78.2 with a Celery worker, measured on the same kind of machine).

Runs its own processes on the current settings (defaults unless the environment sets them):
gunicorn with deploy/gunicorn.conf.py and one Celery worker (prefork, one process a core) on
the `celery` and `erasure.postgres_table` queues. Needs PostgreSQL and Redis (DATABASE_URL,
REDIS_URL, SECRET_KEY, LUP_SUBJECT_PEPPER, LUP_REQUEST_KEK, LUP_SIGNING_KEY_FILE), and a
DATABASE_URL of a database for the bench alone (migrated here; the bench's target must be the
only one planned); the customer table goes in `<that database>_customers`, created if missing
and seeded again on every run. From the project root:

    DATABASE_URL=postgres://…/lup_peer .venv/bin/python bench/peer_workload.py \
        [--rows 1000000 --emails 100000]
"""

import argparse
import http.client
import json
import os
import random
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
from django.conf import settings
from django.db import connection

from _setup import ROOT, migrate, percentile
from access.services import api_token_create
from config.celery import app
from erasure.models import Target, TargetRun
from targets.services import target_save

CUSTOMER_DSN_ENV = "LUP_PEER_CUSTOMERS_DSN"
TARGET = "customer-events"
ACTOR = "bench"
# The peer's figures on this workload (issue 19), and the goals.
PEER_ONE = "0.44-0.50 s"
PEER_BURST = "160-241 req/min"
GOAL_ONE_MS = 45
GOAL_RATE = 2400
VERIFIED = {"method": "bench", "reason": "subjects made up by bench/peer_workload.py"}


def database_url(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def ensure_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def email_of(n: int) -> str:
    return f"customer-{n}@example.org"


def seed(dsn: str, rows: int, emails: int) -> None:
    """The customer table, anew: rows spread evenly over the e-mails, each e-mail's rows
    `emails` rows apart."""
    started = time.perf_counter()
    rng = random.Random(1)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS customer_events")
        conn.execute(
            "CREATE TABLE customer_events (id bigserial PRIMARY KEY, email text, payload text)"
        )
        with (
            conn.cursor() as cur,
            cur.copy("COPY customer_events (email, payload) FROM STDIN") as c,
        ):
            chunk = 100_000
            for lo in range(0, rows, chunk):
                c.write(
                    "".join(
                        f"{email_of(i % emails)}\tevent {i} {rng.getrandbits(64):016x}\n"
                        for i in range(lo, min(rows, lo + chunk))
                    )
                )
        conn.execute("CREATE INDEX customer_events_email ON customer_events (email)")
        conn.execute("ANALYZE customer_events")
    print(
        f"seeded {rows:,} rows over {emails:,} e-mails with COPY in "
        f"{time.perf_counter() - started:.1f} s"
    )


def fingerprint(dsn: str, excluded: list[str]) -> tuple[int, int]:
    """Count and hash of every row whose e-mail is not one of `excluded`."""
    with psycopg.connect(dsn) as conn:
        count, digest = conn.execute(
            "SELECT count(*), coalesce(sum(hashtextextended("
            "id::text || ':' || email || ':' || payload, 0)), 0) "
            "FROM customer_events WHERE NOT (email = ANY(%s))",
            [excluded],
        ).fetchone()
    return count, int(digest)


def rows_of(dsn: str, subjects: list[str]) -> int:
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "SELECT count(*) FROM customer_events WHERE email = ANY(%s)", [subjects]
        ).fetchone()[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(command: list[str], log: Path, env: dict) -> subprocess.Popen:
    with log.open("wb") as out:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Client:
    """One keep-alive HTTP connection (one a thread) holding the bench's token."""

    def __init__(self, port: int, token: str):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        data = json.dumps(body).encode() if body is not None else None
        self.conn.request(method, path, body=data, headers=self.headers)
        response = self.conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")

    def file(self, email: str) -> str:
        status, body = self.call(
            "POST",
            "/api/v1/erasure-requests",
            {
                "identifiers": [{"id_type": "email", "value": email}],
                "verified": VERIFIED,
                "plan": True,
            },
        )
        assert status == 201, (status, body)
        return body["id"]

    def wait_completed(self, request_id: str, *, poll: float, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while True:
            status, body = self.call("GET", f"/api/v1/erasure-requests/{request_id}")
            assert status == 200, (status, body)
            if body["state"] == "completed":
                return
            assert body["state"] in ("planned", "executing"), body["state"]
            assert time.monotonic() < deadline, f"still {body['state']} after {timeout} s"
            time.sleep(poll)


def one_request(client: Client, email: str, poll: float) -> float:
    started = time.perf_counter()
    client.wait_completed(client.file(email), poll=poll)
    return time.perf_counter() - started


def burst(port: int, token: str, emails: list[str], threads: int, poll: float) -> float:
    """Requests/min from the first POST until every request reads completed."""
    chunks = [emails[i::threads] for i in range(threads)]
    ids: list[str] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def submit(chunk: list[str]) -> None:
        try:
            client = Client(port, token)
            filed = [client.file(email) for email in chunk]
            with lock:
                ids.extend(filed)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    started = time.perf_counter()
    workers = [threading.Thread(target=submit, args=(chunk,)) for chunk in chunks]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert not errors, errors
    checker = Client(port, token)
    for request_id in ids:
        checker.wait_completed(request_id, poll=poll)
    wall = time.perf_counter() - started
    return len(emails) / wall * 60


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--emails", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=5, help="single requests timed")
    parser.add_argument("--burst", type=int, default=20, help="requests in a burst")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each burst")
    parser.add_argument("--poll-ms", type=float, default=2.0, help="between state reads")
    args = parser.parse_args()
    assert args.samples >= 3 and args.repeat >= 3, "medians of at least 3"
    needed = 1 + args.samples + 2 * args.repeat * args.burst
    assert needed <= args.emails, f"{needed} subjects needed, one e-mail each"

    assert connection.vendor == "postgresql", "run against PostgreSQL (DATABASE_URL)"
    name = settings.DATABASES["default"]["NAME"]
    customers = database_url(os.environ["DATABASE_URL"], f"{name}_customers")
    ensure_database(os.environ["DATABASE_URL"], f"{name}_customers")
    os.environ[CUSTOMER_DSN_ENV] = customers
    assert not settings.CELERY_TASK_ALWAYS_EAGER, "run with Redis (REDIS_URL)"
    migrate()
    seed(customers, args.rows, args.emails)
    others = Target.objects.filter(state=Target.State.ACTIVE).exclude(name=TARGET)
    assert not others.exists(), f"{TARGET} must be the only target: use a database of its own"
    # A run left unfinished by an earlier, interrupted run would be erased with this one's.
    ended = [TargetRun.Status.DONE, TargetRun.Status.FAILED]
    unfinished = TargetRun.objects.exclude(status__in=ended)
    assert not unfinished.exists(), "unfinished erasures in the database: use a fresh one"
    config = {"dsn_env": CUSTOMER_DSN_ENV, "table": "customer_events", "match": {"email": "email"}}
    target_save(
        target=Target.objects.filter(name=TARGET).first(),
        name=TARGET,
        kind="postgres_table",
        config=config,
        country="SG",
        always=True,
        actor=ACTOR,
        preapproved="the benchmark's target, registered by the operator's own run",
    )
    _, token = api_token_create(
        name="peer-workload", scopes=["erasure:write", "erasure:verify", "erasure:read"]
    )

    rng = random.Random(2)
    subjects = [email_of(n) for n in rng.sample(range(args.emails), needed)]
    before_rows = rows_of(customers, subjects)
    before = fingerprint(customers, subjects)

    folder = Path(tempfile.mkdtemp(prefix="bench-peer-"))
    port = free_port()
    env = dict(os.environ, PORT=str(port), LOG_LEVEL="warning")
    app.control.purge()
    web = start(
        [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "config.wsgi"],
        folder / "web.log",
        env,
    )
    worker = start(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--loglevel=WARNING",
            f"--hostname=peer-{os.getpid()}@%h",
            "--queues=celery,erasure.postgres_table",
            "--without-gossip",
            "--without-mingle",
        ],
        folder / "worker.log",
        env,
    )
    poll = args.poll_ms / 1000
    try:
        deadline = time.monotonic() + 60
        while not any(
            n.startswith(f"peer-{os.getpid()}@") for r in app.control.ping(timeout=1) for n in r
        ):
            assert time.monotonic() < deadline, (folder / "worker.log").read_text()[-2000:]
        client = None
        while client is None:
            try:
                client = Client(port, token)
                client.call("GET", "/healthz")
            except OSError:
                client = None
                assert time.monotonic() < deadline, (folder / "web.log").read_text()[-2000:]
                time.sleep(0.2)
        queue = iter(subjects)
        one_request(client, next(queue), poll)  # warm-up: connections, caches, first imports
        singles = [one_request(client, next(queue), poll) for _ in range(args.samples)]
        sequential = [
            burst(port, token, [next(queue) for _ in range(args.burst)], 1, poll)
            for _ in range(args.repeat)
        ]
        threaded = [
            burst(port, token, [next(queue) for _ in range(args.burst)], args.threads, poll)
            for _ in range(args.repeat)
        ]
    finally:
        stop(worker)
        stop(web)

    left = rows_of(customers, subjects)
    after = fingerprint(customers, subjects)
    assert left == 0, f"{left} rows of the subjects are left"
    assert after == before, "a row of someone else changed or went"
    one_ms = percentile(singles, 50) * 1000
    seq, thr = statistics.median(sequential), statistics.median(threaded)
    print(
        f"peer workload: customer_events {args.rows:,} rows over {args.emails:,} e-mails, one "
        f"postgres_table target; {os.cpu_count()} cores; gunicorn (deploy/gunicorn.conf.py) and "
        f"one worker; LUP_BATCH_WINDOW_SECONDS={settings.LUP_BATCH_WINDOW_SECONDS}"
    )
    print(f"  {'':36} {'Lup':>14} {'goal':>14} {'peer (Fides)':>18}")
    print(
        f"  {f'one request, p50 of {args.samples}':36} {one_ms:11.1f} ms "
        f"{f'<= {GOAL_ONE_MS} ms':>14} {PEER_ONE:>18}"
    )
    print(
        f"  {f'{args.burst} back to back, median of {args.repeat}':36} "
        f"{seq:7.0f} req/min {f'>= {GOAL_RATE:,}':>14} {PEER_BURST:>18}"
    )
    print(
        f"  {f'{args.burst} from {args.threads} threads, median of {args.repeat}':36} "
        f"{thr:7.0f} req/min {f'>= {GOAL_RATE:,}':>14} {'-':>18}"
    )
    print(f"  single requests (ms): {', '.join(f'{s * 1000:.1f}' for s in singles)}")
    print(f"  back to back (req/min): {', '.join(f'{r:.0f}' for r in sequential)}")
    print(f"  {args.threads} threads (req/min): {', '.join(f'{r:.0f}' for r in threaded)}")
    print(
        f"  checked with SQL: {before_rows} rows of {len(subjects)} subjects erased, none left; "
        f"the other {after[0]:,} rows unchanged (count and hash)"
    )


if __name__ == "__main__":
    main()
