import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from access.services import api_token_create
from tests import identifiers

ROOT = Path(__file__).resolve().parent.parent
# The suite's database and broker make it a real deployment, which refuses to start with no
# EMAIL_HOST (lup.E090); its subprocesses (manage.py, workers, gunicorn) mail to files instead.
os.environ.setdefault("LUP_MAIL_TO_FILES", "true")

pytest_plugins = ["tests.browser", "tests.objectstore"]


def pytest_sessionfinish(session, exitstatus):
    """No identifier the suite used may appear in the logs of the whole run (invariant 7)."""
    log_file = os.environ.get("LUP_LOG_FILE")
    if not log_file or not Path(log_file).exists() or not identifiers.USED:
        return
    text = Path(log_file).read_text(errors="replace").lower()
    leaked = sorted(i for i in identifiers.all_forms() if i.lower() in text)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if leaked:
        if reporter:
            reporter.write_line(
                f"FAILED log check: {len(leaked)} test identifier(s) appear in {log_file}", red=True
            )
        session.exitstatus = 1
    elif reporter:
        reporter.write_line(
            f"log check: none of {len(identifiers.USED)} test identifiers appear in the run's "
            f"log ({Path(log_file).stat().st_size} bytes)"
        )


@pytest.fixture
def api():
    """An API client holding a token with the given scopes: `api("consent:read", ...)`."""

    def make(*scopes: str) -> APIClient:
        _, text = api_token_create(name="test", scopes=scopes)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {text}")
        return client

    return make


@pytest.fixture(autouse=True)
def _reference_data(request):
    """What migrations load (purposes, role groups), again after a transactional test's flush."""
    uses_db = {"db", "transactional_db"} & set(request.fixturenames)
    if request.node.get_closest_marker("django_db") is None and not uses_db:
        return
    request.getfixturevalue("transactional_db" if "transactional_db" in uses_db else "db")
    from django.contrib.auth.models import Group

    from access.roles import ROLE_SCOPES, sync_role_permissions
    from consent.models import Purpose
    from consent.services import purposes_sync_taxonomy

    if not Purpose.objects.exists():
        purposes_sync_taxonomy()
    if Group.objects.count() < len(ROLE_SCOPES):
        for name in ROLE_SCOPES:
            Group.objects.get_or_create(name=name)
        sync_role_permissions(sender=None)


@pytest.fixture(autouse=True)
def _no_batch_window(settings):
    """Runs start at once unless a test sets a batch window (the worker gets the same)."""
    settings.LUP_BATCH_WINDOW_SECONDS = 0


@pytest.fixture(autouse=True)
def _fresh_cache():
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture(autouse=True)
def _target_connections_closed():
    """Connections to target databases a test's connector kept open are closed after it, so a
    database the test (or the run) drops is not held open by them."""
    yield
    from connectors import idle_connections

    idle_connections.close_all()


def _database_url(name: str) -> str:
    db = settings.DATABASES["default"]
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{name}"


def _start_worker(tag: str) -> subprocess.Popen:
    """A real `celery -A config worker` process on the test database and the real broker."""
    from config.celery import app

    env = dict(
        os.environ,
        DATABASE_URL=_database_url(settings.DATABASES["default"]["NAME"]),
        LUP_BATCH_WINDOW_SECONDS="0",
    )
    hostname = f"test-{os.getpid()}-{tag}@%h"
    # Its stderr goes to a file, not a pipe: nobody reads a pipe while the worker runs, and a
    # worker whose warnings filled one would block on its next write, its tasks never done.
    with tempfile.TemporaryFile() as log:
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
                f"--hostname={hostname}",
                "--loglevel=WARNING",
                "--without-gossip",
                "--without-mingle",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            replies = app.control.ping(timeout=1.0)
            if any(name.startswith(f"test-{os.getpid()}-{tag}@") for r in replies for name in r):
                return proc
            if proc.poll() is not None:
                log.seek(0)
                raise AssertionError(log.read().decode()[-2000:])
    proc.kill()
    raise AssertionError("the Celery worker did not start within 60 s")


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture
def celery_workers(transactional_db) -> Iterator:
    """Start real workers on demand: `start()` returns the process; all are stopped after."""
    from config.celery import app

    app.control.purge()  # tasks queued by earlier tests that ran without a worker
    started: list[subprocess.Popen] = []

    def start() -> subprocess.Popen:
        proc = _start_worker(str(len(started)))
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            _stop(proc)


@pytest.fixture
def celery_worker_process(celery_workers) -> subprocess.Popen:
    return celery_workers()


@pytest.fixture
def enqueued(monkeypatch) -> list[int]:
    """Runs handed to the broker; the test runs them in-process where a worker would."""
    from erasure import dispatch

    runs: list[int] = []
    monkeypatch.setattr(
        dispatch, "target_run_enqueue", lambda *, run, now=None: runs.append(run.pk)
    )
    return runs
