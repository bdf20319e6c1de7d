"""/metrics: Lup's figures counted in PostgreSQL, django-prometheus' HTTP and database metrics,
access by token or network, and no personal data anywhere in the page (invariant 7)."""

import json
import os
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from core.metrics import COLLECTOR, SourcesCollector
from erasure import metrics as erasure_metrics
from erasure.models import ErasureRequest, RequestSubjectKey, Target, TargetRun
from erasure.services import erasure_request_create
from ledger import metrics as ledger_metrics
from ledger.selectors import latest_checkpoint, log_size
from ledger.services import checkpoint_create
from tests import identifiers
from tests.ledger.factories import issue

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "scrape-" + uuid.uuid4().hex
AUTH = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}
NOW = timezone.now().replace(microsecond=0)
DAY = 86_400.0
# Every label name Lup's own families may use: closed sets, never identifiers.
LUP_LABELS = {"state", "due", "kind", "status", "outcome", "deadline", "quantile", "source"}


@pytest.fixture(autouse=True)
def metrics_settings(settings, monkeypatch):
    settings.LUP_METRICS_TOKEN = TOKEN
    settings.LUP_METRICS_ALLOW_NETWORKS = []
    settings.LUP_METRICS_WINDOW_DAYS = 30
    monkeypatch.setattr(erasure_metrics, "clock", lambda: NOW)
    COLLECTOR.clear()
    yield
    COLLECTOR.clear()


def scrape(client, **extra) -> str:
    response = client.get("/metrics", **{**AUTH, **extra})
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"].startswith("text/plain; version=")
    return response.content.decode()


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found: dict, name: str, **labels) -> float:
    return found[(name, frozenset(labels.items()))]


def filed(state: str, *, deadline=None, received=None, closed=None) -> ErasureRequest:
    request, _ = erasure_request_create(
        identifiers=[{"id_type": "email", "value": identifiers.email()}],
        country="KH",
        channel="api",
        actor="staff:test",
    )
    ErasureRequest.objects.filter(pk=request.pk).update(
        state=state,
        deadline=deadline,
        received_at=received or NOW - timedelta(hours=1),
        closed_at=closed,
    )
    return ErasureRequest.objects.get(pk=request.pk)


@pytest.fixture
def seeded(db):
    """Requests in most states, some closed in the window and one before it; runs with each
    outcome on two kinds of target."""
    d = timedelta(days=1)
    requests = {
        "received": filed("received"),
        "verified": filed("verified", deadline=NOW + timedelta(hours=3)),
        "planned": filed("planned", deadline=NOW + 3 * d),
        "approval": filed("awaiting_approval", deadline=NOW + 20 * d),
        "executing": filed("executing", deadline=NOW + 40 * d),
        "overdue": filed("executing", deadline=NOW - 2 * d),
        # Closed in the last 30 days: 6 days (deadline met), 4 days (missed), 1 day (met).
        "six_days": filed(
            "completed", received=NOW - 10 * d, closed=NOW - 4 * d, deadline=NOW - 3 * d
        ),
        "four_days": filed(
            "completed", received=NOW - 5 * d, closed=NOW - 1 * d, deadline=NOW - 2 * d
        ),
        "partial": filed(
            "partially_completed", received=NOW - 3 * d, closed=NOW - 2 * d, deadline=NOW
        ),
        # Denied before verification: no deadline.
        "denied": filed("denied", received=NOW - 1 * d, closed=NOW - timedelta(hours=1)),
        # Closed before the window: counted by state, not in the summary.
        "old": filed(
            "completed", received=NOW - 100 * d, closed=NOW - 60 * d, deadline=NOW - 70 * d
        ),
    }
    crm = Target.objects.create(name=f"crm-{uuid.uuid4().hex[:8]}", kind="manual", country="SG")
    evals = Target.objects.create(
        name=f"evals-{uuid.uuid4().hex[:8]}", kind="jsonl_file", country="SG"
    )
    TargetRun.objects.create(
        request=requests["overdue"],
        target=crm,
        status="failed",
        outcome="failed",
        attempts=3,
        last_error="target_unavailable",
    )
    TargetRun.objects.create(
        request=requests["overdue"], target=evals, status="done", outcome="erased", attempts=1
    )
    TargetRun.objects.create(
        request=requests["six_days"],
        target=evals,
        status="done",
        outcome="nothing_found",
        attempts=2,
    )
    TargetRun.objects.create(request=requests["executing"], target=crm)
    return requests, [crm, evals]


def test_the_erasure_figures_are_right(client, seeded):
    found = samples(scrape(client))
    by_state = {
        "received": 1,
        "verifying": 0,
        "verified": 1,
        "planned": 1,
        "awaiting_approval": 1,
        "executing": 2,
        "completed": 3,
        "partially_completed": 1,
        "denied": 1,
        "failed": 0,
    }
    for state, count in by_state.items():
        assert value(found, "lup_erasure_requests", state=state) == count, state

    due = {"overdue": 1, "within_1d": 1, "within_7d": 1, "within_30d": 1, "later": 1, "none": 1}
    for band, count in due.items():
        assert value(found, "lup_erasure_open_requests_by_deadline", due=band) == count, band
    assert value(found, "lup_erasure_open_deadline_margin_seconds") == -2 * DAY

    summary = "lup_erasure_time_to_close_seconds"
    assert value(found, f"{summary}_count", state="completed") == 2
    assert value(found, f"{summary}_sum", state="completed") == 10 * DAY
    # percentile_cont between 4 and 6 days.
    assert value(found, summary, state="completed", quantile="0.5") == 5 * DAY
    assert value(found, summary, state="completed", quantile="0.9") == pytest.approx(5.8 * DAY)
    assert value(found, summary, state="partially_completed", quantile="0.99") == 1 * DAY
    assert value(found, f"{summary}_count", state="failed") == 0
    assert (summary, frozenset({"state": "failed", "quantile": "0.5"}.items())) not in found

    closed = "lup_erasure_closed_requests"
    assert value(found, closed, state="completed", deadline="met") == 1
    assert value(found, closed, state="completed", deadline="missed") == 1
    assert value(found, closed, state="partially_completed", deadline="met") == 1
    assert value(found, closed, state="denied", deadline="none") == 1


def test_target_runs_by_outcome_and_retries(client, seeded):
    found = samples(scrape(client))
    runs = {
        labels: count
        for (name, labels), count in found.items()
        if name == "lup_erasure_target_runs"
    }
    assert runs == {
        frozenset({"kind": "manual", "status": "failed", "outcome": "failed"}.items()): 1,
        frozenset({"kind": "manual", "status": "pending", "outcome": "none"}.items()): 1,
        frozenset({"kind": "jsonl_file", "status": "done", "outcome": "erased"}.items()): 1,
        frozenset({"kind": "jsonl_file", "status": "done", "outcome": "nothing_found"}.items()): 1,
    }
    assert value(found, "lup_erasure_target_run_retries", kind="manual") == 2
    assert value(found, "lup_erasure_target_run_retries", kind="jsonl_file") == 1


def test_the_ledger_figures_are_right(client, db, monkeypatch):
    issue(5)
    checkpoint_create()
    issue(2)
    call_command("ledger_audit", verbosity=0)
    signed = latest_checkpoint()
    monkeypatch.setattr(ledger_metrics, "clock", lambda: signed.created_at + timedelta(seconds=90))
    found = samples(scrape(client))
    assert value(found, "lup_ledger_leaves") == log_size() == 7
    assert value(found, "lup_ledger_unsigned_leaves") == 2
    assert value(found, "lup_ledger_checkpoint_age_seconds") == 90
    assert value(found, "lup_ledger_audit_ok") == 1
    assert value(found, "lup_metrics_source_up", source="ledger") == 1


def test_no_label_and_no_line_holds_personal_data_or_an_id(client, seeded):
    requests, targets = seeded
    client.get("/healthz")
    client.get(f"/api/v1/erasure-requests/{requests['executing'].pk}")  # an id in a URL
    text = scrape(client)
    secrets = set(identifiers.all_forms())
    secrets |= {str(r.pk) for r in requests.values()} | {r.pk.hex for r in requests.values()}
    secrets |= set(RequestSubjectKey.objects.values_list("key", flat=True))
    secrets |= {t.name for t in targets}
    assert secrets
    lowered = text.lower()
    assert not [s for s in secrets if s.lower() in lowered]
    for family in text_string_to_metric_families(text):
        if family.name.startswith("lup_"):
            for sample in family.samples:
                assert set(sample.labels) <= LUP_LABELS, sample


def test_django_prometheus_http_and_database_metrics_are_there(client, db):
    client.get("/healthz")
    found = samples(scrape(client))
    assert (
        value(
            found,
            "django_http_requests_total_by_view_transport_method_total",
            view="healthz",
            transport="http",
            method="GET",
        )
        >= 1
    )
    assert value(found, "django_db_execute_total", alias="default", vendor="postgresql") >= 1


def test_a_scrape_without_the_token_is_refused(client, db):
    for headers in (
        {},
        {"HTTP_AUTHORIZATION": "Bearer wrong"},
        {"HTTP_AUTHORIZATION": f"Basic {TOKEN}"},
    ):
        response = client.get("/metrics", **headers)
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert b"lup_" not in response.content


def test_networks_alone_or_with_the_token(client, db, settings):
    settings.LUP_METRICS_TOKEN = ""
    settings.LUP_METRICS_ALLOW_NETWORKS = ["127.0.0.0/8", "::1/128"]
    assert client.get("/metrics").status_code == 200  # the test client is 127.0.0.1
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 403
    settings.LUP_METRICS_TOKEN = TOKEN  # both set: both must hold
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9", **AUTH).status_code == 403
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", **AUTH).status_code == 200


def test_with_neither_a_token_nor_networks_nobody_may_scrape(client, db, settings):
    settings.LUP_METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 403


def test_a_burst_of_scrapes_counts_once(client, seeded, monkeypatch, settings):
    settings.LUP_METRICS_CACHE_SECONDS = 5
    now = [1000.0]
    monkeypatch.setattr(SourcesCollector, "clock", staticmethod(lambda: now[0]))

    def erasure_queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            scrape(client)
        return sum("erasure_" in query["sql"] for query in captured.captured_queries)

    assert erasure_queries() > 0
    now[0] += 4
    assert erasure_queries() == 0
    now[0] += 2
    assert erasure_queries() > 0


def broken_source():
    raise RuntimeError("database gone")


def test_a_failing_source_is_reported_and_the_rest_still_answers(client, db, settings):
    settings.LUP_METRICS_SOURCES = [
        *settings.LUP_METRICS_SOURCES,
        "tests.config.test_metrics.broken_source",
    ]
    found = samples(scrape(client))
    assert value(found, "lup_metrics_source_up", source="tests") == 0
    assert value(found, "lup_metrics_source_up", source="erasure") == 1
    assert ("lup_ledger_leaves", frozenset()) in found


def test_the_sqlite_way_of_counting_close_times_matches_postgresql(seeded, monkeypatch):
    since = NOW - timedelta(days=30)
    in_postgres = erasure_metrics.close_times(since=since)
    monkeypatch.setattr(connection, "vendor", "sqlite")
    in_python = erasure_metrics.close_times(since=since)
    assert in_python.keys() == in_postgres.keys() == {"completed", "partially_completed", "denied"}
    for state, (n, total, quantiles) in in_postgres.items():
        assert in_python[state][:2] == (n, pytest.approx(total))
        assert in_python[state][2] == pytest.approx(quantiles)


def test_the_embedded_default_serves_metrics_on_loopback_from_sqlite(tmp_path):
    """No settings at all: SQLite through django-prometheus' backend, and /metrics open to
    this machine only."""
    config = (
        "DATABASE_URL",
        "REDIS_URL",
        "SECRET_KEY",
        "LUP_SUBJECT_PEPPER",
        "LUP_LOG_FILE",
        "LUP_REQUEST_KEK",
        "LUP_SIGNING_KEY_FILE",
    )
    env = {k: v for k, v in os.environ.items() if k not in config}
    env["LUP_DATA_DIR"] = str(tmp_path)
    migrate = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert migrate.returncode == 0, migrate.stderr[-2000:]
    out = tmp_path / "scrape.json"
    code = (
        "import json; from django.conf import settings; from django.test import Client\n"
        # Twice: the first scrape's own queries are the first this process counts.
        "Client().get('/metrics'); page = Client().get('/metrics')\n"
        "json.dump({'engine': settings.DATABASES['default']['ENGINE'],\n"
        "           'loopback': page.status_code, 'page': page.content.decode(),\n"
        "           'remote': Client(REMOTE_ADDR='203.0.113.9').get('/metrics').status_code},\n"
        f"          open({str(out)!r}, 'w'))\n"
    )
    run = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["engine"] == "django_prometheus.db.backends.sqlite3"
    assert (result["loopback"], result["remote"]) == (200, 403)
    found = samples(result["page"])
    assert value(found, "lup_metrics_source_up", source="erasure") == 1
    assert value(found, "lup_erasure_requests", state="received") == 0
    assert value(found, "django_db_execute_total", alias="default", vendor="sqlite") >= 1
