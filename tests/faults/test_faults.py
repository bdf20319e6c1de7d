"""Faults on the production topology: `scripts/stack.sh` runs gunicorn, a worker for the fast
queues, a worker for the file queues and beat, against the test database and a redis-server of
the test's own (stopping or flushing it disturbs no other test).

Each fault test files 50 erasure requests through the API, each planned onto a JSONL file and
a PostgreSQL table (both `always`), breaks something while they run, and then holds Lup to
invariants 2 and 3 (DESIGN.md): every request completes, every (request, target) has exactly
one `erasure.target` receipt and every request one closing receipt, no subject is left in
either target, and `ledger_audit` finds the log intact. Random moments come from
`LUP_FAULTS_SEED`.

Lost work is found by the sweeper, so the stack runs it often: `LUP_SWEEP_AFTER_SECONDS=5`, and
beat sends `erasure.sweep` every 2 seconds.
"""

import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.utils import timezone

from access.services import api_token_create
from erasure.models import ErasureRequest, TargetRun
from ledger.models import Receipt
from tests import identifiers
from tests.conftest import _database_url
from tests.erasure.approvals import approve_proposed_targets

# The stack starts once for the module; the whole file takes a few minutes on 2 cores. The
# private Redis it flushes and restarts is a redis-server of its own, which scripts/services.sh
# installs with the rest.
pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
STACK = ROOT / "scripts" / "stack.sh"
SEED = int(os.environ.get("LUP_FAULTS_SEED", "20260301"))
SUBJECTS = 50
SWEEP_AFTER_SECONDS = 5
SWEEP_EVERY_SECONDS = 2
FILLER_LINES = 100_000  # the JSONL file: large enough that each pass over it takes a while
FILLER_ROWS = 20_000
TABLE = "faults_contacts"
DSN_ENV = "LUP_FAULTS_DSN"
WORKERS = ("worker-fast", "worker-files")
URL = "/api/v1/erasure-requests"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.25)
    return False


def running(pid: int) -> bool:
    """Alive and not a zombie (the stack's processes outlive the script that started them,
    and not every container's init reaps orphans)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


class PrivateRedis:
    """A redis-server of the test's own, without persistence: a restart comes back empty."""

    def __init__(self, workdir: Path):
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        assert wait_for(self._answers, seconds=10), "the private redis-server did not start"

    def _answers(self) -> bool:
        try:
            return bool(self.client().ping())
        except redis.ConnectionError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


class Stack:
    """The processes `scripts/stack.sh` started, and a client of its gunicorn."""

    def __init__(self, env: dict[str, str]):
        self.env = env
        self.port = int(env["PORT"])
        self.dir = Path(env["LUP_STACK_DIR"])
        self.token = ""
        self.connections_ended = False

    def script(self, *args: str, check: bool = True) -> None:
        result = subprocess.run(
            ["bash", str(STACK), *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=240,
        )
        if check:
            assert result.returncode == 0, (
                f"stack.sh {' '.join(args)} failed:\n{result.stderr[-2000:]}\n{self.logs()}"
            )

    def pid(self, name: str) -> int:
        return int((self.dir / "pids" / f"{name}.pid").read_text())

    def all_running(self) -> bool:
        return all(running(self.pid(name)) for name in ("web", *WORKERS, "beat"))

    def kill(self, name: str, *, pool_only: bool) -> None:
        """SIGKILL a worker: only its pool process (the worker forks another, and the task it
        ran is delivered again), or the worker and its pool, then restarted as a supervisor
        would."""
        pid = self.pid(name)
        if pool_only:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            for child in children:
                os.kill(int(child), signal.SIGKILL)
            return
        os.killpg(pid, signal.SIGKILL)
        assert wait_for(lambda: not running(pid), seconds=10)
        self.script("restart", name)

    def logs(self, lines: int = 15) -> str:
        out = []
        for log in sorted((self.dir / "logs").glob("*.log")):
            tail = log.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {log.name}\n" + "\n".join(tail))
        return "\n".join(out)

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request(
                method,
                path,
                body=json.dumps(body or {}).encode(),
                headers={
                    "Authorization": f"Bearer {self.token}",
                    "Content-Type": "application/json",
                },
            )
            response = conn.getresponse()
            text = response.read()
        finally:
            conn.close()
        try:
            return response.status, (json.loads(text) if text else {})
        except ValueError:
            return response.status, {"body": text[:500].decode(errors="replace")}


@dataclass
class Workload:
    """The stack, its two targets, and the subjects in them."""

    stack: Stack
    roots: Path
    emails: list[str]
    target_ids: list[str] = field(default_factory=list)
    request_ids: list[str] = field(default_factory=list)

    def file(self, email: str) -> str:
        """File a request through the API, verify it and start it: it is `executing`."""
        status, body = self.stack.call(
            "POST", URL, {"identifiers": [{"id_type": "email", "value": email}]}
        )
        assert status == 201, body
        request_id = body["id"]
        status, body = self.stack.call(
            "POST",
            f"{URL}/{request_id}/verified-manually",
            {"reason": "identity checked by the fault test"},
        )
        assert status == 200, body
        status, body = self.stack.call("POST", f"{URL}/{request_id}/plan")
        assert status == 201 and body["state"] == "executing", body
        self.request_ids.append(request_id)
        return request_id

    def file_all(self, emails: list[str] | None = None) -> None:
        """File every request (or those of `emails`), four at a time (gunicorn serves 2 x 4
        threads)."""
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(self.file, self.emails if emails is None else emails))

    def unfinished_runs(self) -> int:
        return (
            TargetRun.objects.filter(request_id__in=self.request_ids)
            .exclude(status=TargetRun.Status.DONE)
            .count()
        )

    def completed(self) -> int:
        return ErasureRequest.objects.filter(pk__in=self.request_ids, state="completed").count()

    def wait_until_completed(self, seconds: float = 150) -> None:
        done = wait_for(lambda: self.completed() == SUBJECTS, seconds)
        if not done:
            states = Counter(
                ErasureRequest.objects.filter(pk__in=self.request_ids).values_list(
                    "state", flat=True
                )
            )
            runs = Counter(
                TargetRun.objects.filter(request_id__in=self.request_ids).values_list(
                    "target__kind", "status", "last_error"
                )
            )
            pytest.fail(
                f"not every request completed: {dict(states)}; runs {dict(runs)}\n"
                f"{self.stack.logs()}"
            )

    def assert_erased_once(self) -> None:
        """Invariants 2 and 3 after the fault: nothing lost, nothing done twice."""
        assert len(self.request_ids) == SUBJECTS
        assert self.completed() == SUBJECTS
        per_target = Counter()
        per_request = Counter()
        for kind, payload in Receipt.objects.filter(
            type__in=["erasure.target", "erasure.request"]
        ).values_list("type", "payload"):
            body = json.loads(bytes(payload))
            if kind == "erasure.target":
                per_target[(body["request"]["id"], body["target"]["id"])] += 1
            else:
                per_request[body["request"]["id"]] += 1
        expected = {(r, t) for r in self.request_ids for t in self.target_ids}
        assert set(per_target) == expected
        twice = {pair: n for pair, n in per_target.items() if n != 1}
        assert not twice, f"(request, target) pairs with more than one receipt: {twice}"
        assert per_request == dict.fromkeys(self.request_ids, 1)
        runs = TargetRun.objects.filter(request_id__in=self.request_ids)
        assert set(runs.values_list("status", flat=True)) == {"done"}
        assert {str(r) for r in runs.values_list("receipt_id", flat=True)} == {
            str(r)
            for r in Receipt.objects.filter(type="erasure.target").values_list(
                "receipt_id", flat=True
            )
        }

        # No subject is left in either target, and everyone else still is.
        lines = (self.roots / "eval.jsonl").read_text().splitlines()
        assert len(lines) == FILLER_LINES
        text = "\n".join(lines)
        assert not [e for e in self.emails if e.lower() in text]
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT email FROM {TABLE}")  # noqa: S608 (a constant)
            left = {row[0] for row in cursor.fetchall()}
        assert len(left) == FILLER_ROWS
        assert not left & {e.lower() for e in self.emails}

        audit = subprocess.run(
            [sys.executable, "manage.py", "ledger_audit"],
            cwd=ROOT,
            env=self.stack.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert audit.returncode == 0, audit.stderr[-2000:]


def write_targets(roots: Path, emails: list[str]) -> None:
    """The JSONL file and the table, each holding every subject among filler."""
    every = FILLER_LINES // len(emails)
    filler = json.dumps({"email": "someone@example.org", "text": "x" * 150}) + "\n"
    with open(roots / "eval.jsonl", "w") as handle:
        for n, email in enumerate(emails):
            handle.write(filler * every)
            handle.write(json.dumps({"email": email.lower(), "text": f"sample {n}"}) + "\n")
        handle.write(filler * (FILLER_LINES - every * len(emails)))
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {TABLE}")
        cursor.execute(
            f"CREATE TABLE {TABLE} (id bigserial PRIMARY KEY, email text NOT NULL,"
            " plan text NOT NULL)"
        )
        cursor.execute(
            f"INSERT INTO {TABLE} (email, plan) SELECT 'filler-' || g || "  # noqa: S608
            "'@example.org', 'free' FROM generate_series(1, %s) AS g",
            [FILLER_ROWS],
        )
        cursor.executemany(
            f"INSERT INTO {TABLE} (email, plan) VALUES (%s, 'pro')",  # noqa: S608
            [(e.lower(),) for e in emails],
        )
        cursor.execute(f"CREATE INDEX ON {TABLE} (email)")


def end_connections(stack: Stack) -> int:
    """End every connection to the test database but this one, as a failover would."""
    stack.connections_ended = True
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            [settings.DATABASES["default"]["NAME"]],
        )
        return cursor.fetchone()[0]


@pytest.fixture(scope="module")
def private_redis(tmp_path_factory):
    server = PrivateRedis(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def stack(django_db_setup, private_redis, tmp_path_factory):
    """The stack, started once for the module, on the test database and the private Redis."""
    base = tmp_path_factory.mktemp("stack")
    roots = base / "roots"
    roots.mkdir()
    database_url = _database_url(settings.DATABASES["default"]["NAME"])
    stack = Stack(
        dict(
            os.environ,
            DATABASE_URL=database_url,
            REDIS_URL=private_redis.url,
            PORT=str(free_port()),
            LUP_STACK_DIR=str(base / "run"),
            LUP_STACK_NAME=f"faults-{os.getpid()}",
            LUP_STACK_MIGRATE="0",  # pytest-django migrated the test database
            LUP_SWEEP_AFTER_SECONDS=str(SWEEP_AFTER_SECONDS),
            LUP_SWEEP_INTERVAL_SECONDS=str(SWEEP_EVERY_SECONDS),
            LUP_BATCH_WINDOW_SECONDS="0",
            LUP_FILE_ROOTS=str(roots),
            **{DSN_ENV: database_url},
        )
    )
    try:
        stack.script("start")
        yield stack
    finally:
        stack.script("stop", check=False)


@pytest.fixture
def workload(transactional_db, stack, private_redis):
    """Two `always` targets registered through the stack's API, and 50 subjects in both."""
    private_redis.client().flushall()  # no task or cached value of an earlier test
    for name in ("web", *WORKERS, "beat"):
        if not running(stack.pid(name)):  # left dead by an earlier test that failed
            stack.script("restart", name)
    if stack.connections_ended:
        # gunicorn's threads still hold the connections an earlier test ended (see
        # test_the_api_answers_once_its_database_connections_were_ended).
        stack.script("restart", "web")
        stack.connections_ended = False
    roots = Path(stack.env["LUP_FILE_ROOTS"])
    emails = [identifiers.email() for _ in range(SUBJECTS)]
    write_targets(roots, emails)
    _, stack.token = api_token_create(name="faults", scopes=["erasure:read", "erasure:write"])
    work = Workload(stack=stack, roots=roots, emails=emails)
    try:
        for name, kind, config in (
            ("eval-set", "jsonl_file", {"path": "eval.jsonl", "match": {"email": "email"}}),
            (
                "contacts",
                "postgres_table",
                {"dsn_env": DSN_ENV, "table": TABLE, "match": {"email": "email"}},
            ),
        ):
            status, body = stack.call(
                "POST",
                "/api/v1/erasure/targets",
                {"name": name, "kind": kind, "config": config, "country": "SG", "always": True},
            )
            assert status == 201, body
            work.target_ids.append(str(body["id"]))
        approve_proposed_targets()
        yield work
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {TABLE}")


def test_workers_killed_at_random_moments_lose_nothing(workload):
    """SIGKILL a worker 3 to 5 times while requests are filed and run: a pool process alone
    (its task is delivered again) or the whole worker (its unacknowledged task waits in Redis
    for an hour, so the sweeper enqueues it again). Every request completes, once."""
    rng = random.Random(SEED)
    kills = [
        (rng.uniform(1.0, 4.0), rng.choice(WORKERS), rng.random() < 0.4)
        for _ in range(rng.randint(3, 5))
    ]
    pace = random.Random(SEED + 1)
    killing = threading.Event()
    killing.set()
    failures: list[BaseException] = []

    def intake():
        try:
            for email in workload.emails:
                workload.file(email)
                if killing.is_set():
                    # Spread the requests over the kills: 50 requests at 0.3-0.7 s take longer
                    # than the longest kill schedule (5 kills, 4 s apart), so work is under way
                    # at every kill however fast each request is served.
                    time.sleep(pace.uniform(0.3, 0.7))
        except BaseException as exc:
            failures.append(exc)

    filing = threading.Thread(target=intake, name="intake")
    filing.start()
    busy = []
    try:
        for delay, name, pool_only in kills:
            time.sleep(delay)
            busy.append(filing.is_alive() or workload.unfinished_runs() > 0)
            workload.stack.kill(name, pool_only=pool_only)
    finally:
        killing.clear()
        filing.join(timeout=180)
    assert not failures, failures
    assert all(busy), f"a kill came after the work was done: {list(zip(kills, busy, strict=False))}"

    workload.wait_until_completed()
    workload.assert_erased_once()
    assert workload.stack.all_running()


def test_redis_flushed_and_restarted_mid_run_loses_nothing(workload, private_redis):
    """Every queued and unacknowledged task is lost with Redis; PostgreSQL still says what is
    unfinished, and the sweeper enqueues it again once Redis is back."""
    workload.file_all()
    lost = workload.unfinished_runs()
    private_redis.client().flushall()
    private_redis.stop()
    time.sleep(2)
    private_redis.start()
    assert lost > 0, "the work was done before Redis went; make the file larger"

    workload.wait_until_completed()
    workload.assert_erased_once()
    assert workload.stack.all_running()  # workers and beat reconnected on their own


def test_postgres_connections_terminated_mid_run_lose_nothing(workload):
    """Every connection to the database but the test's own is ended, a few times, while the
    requests run: tasks fail mid-transaction, and whatever they left unfinished is finished
    once, by a retry or by the sweeper.

    The requests are filed in as many rounds as there are terminations, each ended just after
    its round is filed (work on it is then under way however fast requests are served) and
    never while the API files one (a filing cut short is the API test's case, below)."""
    rng = random.Random(SEED + 2)
    rounds = rng.randint(3, 5)
    size = -(-SUBJECTS // rounds)
    terminated, busy = [], []
    for start in range(0, SUBJECTS, size):
        workload.file_all(workload.emails[start : start + size])
        time.sleep(rng.uniform(0.0, 0.05))
        busy.append(workload.unfinished_runs())
        terminated.append(end_connections(workload.stack))
    assert all(busy), f"a round was done before its connections were ended: {busy}"
    assert len(terminated) == rounds and all(terminated), terminated

    workload.wait_until_completed()
    workload.assert_erased_once()
    assert workload.stack.all_running()


def test_the_api_answers_once_its_database_connections_were_ended(workload):
    """The stack keeps connections (DATABASE_CONN_MAX_AGE=60, as deploy/ does). A failover ends
    the ones gunicorn's threads hold, and Django must notice before it uses one (the database
    setting CONN_HEALTH_CHECKS); otherwise each thread answers one request with a 500."""

    def get(_):
        return workload.stack.call("GET", "/api/v1/erasure/targets")[0]

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert set(pool.map(get, range(32))) == {200}  # every thread holds a connection
    assert end_connections(workload.stack) > 0
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = Counter(pool.map(get, range(32)))
    assert set(statuses) == {200}, dict(statuses)


def _one_jsonl_request_executing(api, tmp_path, monkeypatch, settings) -> tuple[str, int]:
    """A verified request with one JSONL target, executing, its run's task left to the test."""
    from erasure import dispatch

    monkeypatch.setenv("LUP_FILE_ROOTS", str(tmp_path))
    settings.LUP_FILE_ROOTS = [str(tmp_path)]
    monkeypatch.setattr(dispatch, "target_run_enqueue", lambda **kwargs: None)  # run here
    email = identifiers.email()
    (tmp_path / "eval.jsonl").write_text(json.dumps({"email": email.lower()}) + "\n")
    staff = api("erasure:write", "erasure:read")
    assert (
        staff.post(
            "/api/v1/erasure/targets",
            {
                "name": "eval-set",
                "kind": "jsonl_file",
                "country": "SG",
                "always": True,
                "config": {"path": "eval.jsonl", "match": {"email": "email"}},
            },
            format="json",
        ).status_code
        == 201
    )
    approve_proposed_targets()
    request_id = staff.post(
        URL, {"identifiers": [{"id_type": "email", "value": email}]}, format="json"
    ).json()["id"]
    staff.post(f"{URL}/{request_id}/verified-manually", {"reason": "checked"}, format="json")
    assert staff.post(f"{URL}/{request_id}/plan").json()["state"] == "executing"
    (run,) = TargetRun.objects.filter(request_id=request_id)
    return request_id, run.pk


def test_a_closing_cut_off_takes_the_run_end_with_it_and_the_retry_ends_both(
    api, tmp_path, monkeypatch, settings, transactional_db
):
    """The run that ends a request's last target closes the request in the same transaction.
    Should its connection be cut while closing, neither the run's end nor the closing stands:
    the run is left erased, and the task's retry checks it again, ends it and closes the
    request, with one receipt of each."""
    from django.db import OperationalError

    from erasure import closing
    from erasure.runs import target_run_execute

    request_id, run_id = _one_jsonl_request_executing(api, tmp_path, monkeypatch, settings)

    def cut(requests, **kwargs):
        raise OperationalError("terminating connection due to administrator command")

    with monkeypatch.context() as patch:
        patch.setattr(closing, "erasure_requests_close_ended", cut)
        with pytest.raises(OperationalError):
            target_run_execute(run_id=run_id)
    run = TargetRun.objects.get(pk=run_id)
    assert (run.status, run.receipt_id) == ("erased", None)
    assert ErasureRequest.objects.get(pk=request_id).state == "executing"
    assert not Receipt.objects.exists()
    assert (tmp_path / "eval.jsonl").read_text() == ""  # the erase itself stands

    assert target_run_execute(run_id=run_id).status == "done"
    assert ErasureRequest.objects.get(pk=request_id).state == "completed"
    types = Counter(Receipt.objects.values_list("type", flat=True))
    assert types == {"erasure.target": 1, "erasure.request": 1}


def test_a_request_whose_closing_was_lost_is_closed_by_the_sweeper(
    api, tmp_path, monkeypatch, settings, transactional_db
):
    """A run whose retries are spent fails, and its request is closed after that commit.
    Should the database connection be cut just then, every run has ended and the request is
    still executing: the sweeper closes it, with one closing receipt."""
    from django.db import OperationalError

    from erasure import closing
    from erasure.runs import target_run_fail
    from erasure.sweeper import erasure_sweep

    request_id, run_id = _one_jsonl_request_executing(api, tmp_path, monkeypatch, settings)

    def cut(*, request_id):
        raise OperationalError("terminating connection due to administrator command")

    with monkeypatch.context() as patch:
        patch.setattr(closing, "erasure_request_close_if_done", cut)
        # The closing follows the run's commit and is robust: its failure is logged, and the
        # run's end stands.
        target_run_fail(run_id=run_id, code="unreachable")
    assert TargetRun.objects.get(pk=run_id).status == "failed"
    assert ErasureRequest.objects.get(pk=request_id).state == "executing"
    assert erasure_sweep() == 0  # too soon: the worker may still be closing it

    later = timezone.now() + timedelta(seconds=settings.LUP_SWEEP_AFTER_SECONDS + 1)
    assert erasure_sweep(now=later) == 1
    assert ErasureRequest.objects.get(pk=request_id).state == "partially_completed"
    assert Receipt.objects.filter(type="erasure.request").count() == 1
    assert erasure_sweep(now=later) == 0
