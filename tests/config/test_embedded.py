"""The embedded default: no database, broker or secret configured, and Lup still starts."""

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "LUP_SUBJECT_PEPPER", "LUP_LOG_FILE")


def manage(*args: str, data_dir: Path, **extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in CONFIG}
    env.update(LUP_DATA_DIR=str(data_dir), **extra)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_first_run_migrates_and_loads_demo_data_once(tmp_path):
    migrate = manage("migrate", "--noinput", data_dir=tmp_path)
    assert migrate.returncode == 0, migrate.stderr
    assert (tmp_path / "lup.sqlite3").exists()
    for secret in ("secret_key", "subject_pepper"):
        assert (tmp_path / secret).stat().st_mode & 0o777 == 0o600

    first = manage("load_demo", data_dir=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "Demo consent events added: 0" not in first.stdout
    assert "Demo admin login: admin / " in first.stdout
    second = manage("load_demo", data_dir=tmp_path)
    assert "Demo consent events added: 0." in second.stdout
    assert "Demo lineage added: 3 datasets" in first.stdout
    assert "150 members" in first.stdout  # the demo subjects in the raw chat logs
    assert "Demo lineage added: nothing." in second.stdout
    # The same generated pepper is reused, so keys stay stable across restarts.
    assert (tmp_path / "subject_pepper").read_text() == (tmp_path / "subject_pepper").read_text()

    check = manage("check", "--deploy", "--fail-level", "ERROR", data_dir=tmp_path)
    assert check.returncode == 0, check.stderr


def test_the_server_announces_embedded_mode_in_one_line(tmp_path):
    code = "import config.wsgi"
    env = {k: v for k, v in os.environ.items() if k not in CONFIG}
    env["LUP_DATA_DIR"] = str(tmp_path)
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    lines = [line for line in run.stdout.splitlines() if "embedded_mode" in line]
    assert len(lines) == 1
    assert '"level": "warning"' in lines[0]


def test_a_real_deployment_without_secrets_refuses_to_start(tmp_path):
    run = manage("check", data_dir=tmp_path, DATABASE_URL="postgres://postgres@127.0.0.1/lup")
    assert run.returncode != 0
    assert "SECRET_KEY must be set" in run.stderr


def test_a_short_pepper_fails_the_system_check(tmp_path):
    run = manage("check", data_dir=tmp_path, LUP_SUBJECT_PEPPER="short")
    assert run.returncode != 0
    assert "lup.E001" in run.stderr


def test_lineage_queries_run_on_sqlite(tmp_path):
    """The recursive graph queries have a SQLite form for the embedded mode."""
    assert manage("migrate", "--noinput", data_dir=tmp_path).returncode == 0
    assert manage("load_demo", data_dir=tmp_path).returncode == 0
    script = (
        "from lineage import selectors;"
        "from lineage.membership import subject_locations;"
        "from core.subject_keys import key_for;"
        "g = selectors.graph(node_id='dataset:s3://sea-chat-raw-sg:chat-logs', depth=5);"
        "k = key_for('email', 'demo-subject-0@example.org');"
        "print(len(g['graph']), len(subject_locations(keys=[k])['versions']))"
    )
    run = manage("shell", "-c", script, data_dir=tmp_path)
    assert run.returncode == 0, run.stderr
    nodes, versions = map(int, run.stdout.split()[-2:])
    assert nodes >= 6  # the demo pipeline: datasets, jobs and models
    assert versions >= 3  # the raw logs holding the subject, and what derives from them


def test_a_malformed_request_key_fails_the_system_check(tmp_path):
    run = manage("check", data_dir=tmp_path, LUP_REQUEST_KEK="not-hex")
    assert run.returncode != 0
    assert "lup.E030" in run.stderr


@pytest.mark.parametrize(
    ("roots_at_load", "roots_later"),
    [(None, None), (None, "mine"), ("mine", "mine,other")],
    ids=["default-roots", "roots-set-after-the-demo", "roots-set-before-the-demo"],
)
def test_a_newcomer_files_a_request_and_watches_it_complete(tmp_path, roots_at_load, roots_later):
    """Embedded mode end to end: SQLite, tasks in-process, the demo targets in the data folder;
    they keep working when LUP_FILE_ROOTS is set to one's own folders, before or after."""

    def roots(names):
        if names is None:
            return {}
        folders = [tmp_path / name for name in names.split(",")]
        for folder in folders:
            folder.mkdir(exist_ok=True)
        return {"LUP_FILE_ROOTS": ",".join(map(str, folders))}

    assert manage("migrate", "--noinput", data_dir=tmp_path).returncode == 0
    first = manage("load_demo", data_dir=tmp_path, **roots(roots_at_load))
    assert "Demo erasure targets added: 3." in first.stdout, first.stdout + first.stderr
    again = manage("load_demo", data_dir=tmp_path, **roots(roots_later))
    assert "Demo erasure targets added: 0." in again.stdout
    script = "\n".join(
        [
            "from erasure.gate import affected_model_decide, erasure_request_approve,"
            " erasure_request_gate",
            "from erasure.planning import erasure_request_plan",
            "from erasure.services import erasure_request_create, erasure_request_mark_verified",
            "from erasure.models import ErasureRequest",
            "r, _ = erasure_request_create(identifiers=[{'id_type': 'email',"
            " 'value': 'demo-subject-0@example.org'}], country='KH', channel='admin',"
            " actor='staff:admin')",
            "r = erasure_request_mark_verified(request=r, actor='staff:admin', reason='demo')",
            "r = erasure_request_gate(request=erasure_request_plan(request=r, actor='staff:admin'),"
            " actor='staff:admin')",
            "for m in r.affected_models.all():",
            "    affected_model_decide(request=r, model_version_id=m.model_version_id,"
            " decision='retrain', justification='', actor='staff:admin')",
            "erasure_request_approve(request=r, actor='staff:dpo', reason='demo')",
            "r = ErasureRequest.objects.get(pk=r.pk)",
            "print('STATE', r.state, r.plan.count(), r.runs.filter(outcome='erased').count())",
        ]
    )
    run = manage("shell", "-c", script, data_dir=tmp_path, **roots(roots_later))
    assert run.returncode == 0, run.stderr[-3000:]
    assert "STATE completed 3 3" in run.stdout, run.stdout[-2000:]
    demo = tmp_path / "targets" / "demo"
    evals = (demo / "khmer-qa-eval.jsonl").read_text()
    log = gzip.decompress((demo / "app-log.jsonl.gz").read_bytes()).decode()
    assert "demo-subject-0@example.org" not in evals + log
    assert "demo-subject-2@example.org" in evals and "demo-subject-2@example.org" in log
    import sqlite3

    with sqlite3.connect(demo / "app.db") as db:
        emails = {row[0] for row in db.execute("SELECT email FROM users")}
    assert "demo-subject-0@example.org" not in emails and len(emails) == 149


def test_the_readiness_report_runs_on_sqlite(tmp_path):
    """The report's queries have SQLite forms too, so `make run` shows it on the demo data."""
    assert manage("migrate", "--noinput", data_dir=tmp_path).returncode == 0
    assert manage("load_demo", data_dir=tmp_path).returncode == 0
    script = (
        "import json;"
        "from django.utils import timezone;"
        "from consent.selectors import subject_jurisdictions;"
        "from core.subject_keys import key_for;"
        "from reports.readiness import Period, readiness_report;"
        "now = timezone.now();"
        "r = readiness_report(period=Period.of_dates(start=None, end=None, now=now), now=now);"
        "k = key_for('email', 'demo-subject-0@example.org');"
        "places = subject_jurisdictions(keys=[k, 'f' * 64]);"
        "print(json.dumps({'gaps': r['gaps'], 'places': places, 'key': k}))"
    )
    run = manage("shell", "-c", script, data_dir=tmp_path)
    assert run.returncode == 0, run.stderr
    found = json.loads(run.stdout.strip().splitlines()[-1])
    assert set(found["gaps"]) == {
        "data",
        "deletion",
        "cross_border",
        "evaluations",
        "oversight",
        "explainability",
        "strictest_market",
    }
    assert list(found["places"]) == [found["key"]]  # the demo subject has consent events
    assert len(next(iter(found["places"].values()))) == 2


def test_a_failing_target_never_leaves_a_request_stuck(tmp_path):
    """Embedded mode, a target whose file is missing: planning answers 201 (the run failed
    inside that HTTP request, and says so on the run, not in a 500); the in-process beat that
    the server starts tries the run again, and the request closes `partially_completed`."""
    assert manage("migrate", "--noinput", data_dir=tmp_path).returncode == 0
    script = "\n".join(
        [
            "import time",
            "from django.test import Client",
            "from access.services import api_token_create",
            "from erasure.models import ErasureRequest, TargetRun",
            "from targets.services import target_save",
            "_, token = api_token_create(name='t', scopes=['erasure:write', 'erasure:read'])",
            "c = Client(HTTP_AUTHORIZATION='Bearer ' + token)",
            "target_save(name='gone', kind='jsonl_file', country='KH', always=True,"
            " config={'path': 'gone.jsonl', 'match': {'email': 'email'}}, check=False,"
            " preapproved='the operator, in their own shell')",
            "r = c.post('/api/v1/erasure-requests', {'identifiers': [{'id_type': 'email',"
            " 'value': 'someone@example.org'}]}, content_type='application/json').json()['id']",
            "c.post(f'/api/v1/erasure-requests/{r}/verified-manually', {'reason': 'x'},"
            " content_type='application/json')",
            "p = c.post(f'/api/v1/erasure-requests/{r}/plan')",
            "run = TargetRun.objects.get(request_id=r)",
            "print(f\"PLAN {p.status_code} {p.json()['state']} {run.attempts} {run.last_error}\","
            " flush=True)",
            "import config.wsgi  # what a server does as it starts: the in-process beat",
            "deadline = time.monotonic() + 60",
            "while time.monotonic() < deadline:",
            "    if ErasureRequest.objects.get(pk=r).state != 'executing':",
            "        break",
            "    time.sleep(0.3)",
            "run = TargetRun.objects.get(request_id=r)",
            "state = ErasureRequest.objects.get(pk=r).state",
            "print(f'END {state} {run.status} {run.attempts} {run.last_error}', flush=True)",
        ]
    )
    run = manage(
        "shell",
        "-c",
        script,
        data_dir=tmp_path,
        LUP_FILE_ROOTS=str(tmp_path),
        LUP_SWEEP_INTERVAL_SECONDS="1",
        LUP_RUN_RETRY_BACKOFF_SECONDS="0",
        LUP_RUN_MAX_ATTEMPTS="3",
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "PLAN 201 executing 1 file_not_found" in run.stdout, run.stdout[-2000:]
    assert "END partially_completed failed 3 file_not_found" in run.stdout, run.stdout[-2000:]


def test_links_carry_the_port_the_server_serves_on(tmp_path):
    """`PORT=18811 make run`: the e-mailed bundle link, the status page's key URL and webhook
    callbacks name 127.0.0.1:18811 unless LUP_PUBLIC_URL says otherwise."""
    assert manage("migrate", "--noinput", data_dir=tmp_path).returncode == 0
    script = "\n".join(
        [
            "from django.conf import settings",
            "from erasure.bundle_links import send_bundle_link",
            "from erasure.services import erasure_request_create",
            "r, _ = erasure_request_create(identifiers=[{'id_type': 'email',"
            " 'value': 'someone@example.org'}], country='KH', channel='api', actor='staff:t')",
            "send_bundle_link(request=r, address='someone@example.org')",
            "print(f'URL {settings.LUP_PUBLIC_URL}', flush=True)",
        ]
    )
    run = manage("shell", "-c", script, data_dir=tmp_path, PORT="18811")
    assert run.returncode == 0, run.stderr[-3000:]
    assert "URL http://127.0.0.1:18811" in run.stdout
    (mail,) = (tmp_path / "mail").glob("*.log")
    assert "http://127.0.0.1:18811/api/v1/bundles/" in mail.read_text()
    given = manage(
        "shell",
        "-c",
        "from django.conf import settings; print('URL', settings.LUP_PUBLIC_URL)",
        data_dir=tmp_path,
        PORT="18811",
        LUP_PUBLIC_URL="https://lup.example.org/",
    )
    assert "URL https://lup.example.org\n" in given.stdout


@pytest.mark.slow  # big data: ten thousand datasets on SQLite
def test_a_ten_thousand_input_event_and_its_graph_never_fail_on_sqlite(tmp_path):
    """The embedded mode's SQLite takes the widest event the default limits allow: it is
    ingested, its graph query answers within the node budget (no "Expression tree is too large"),
    and the readiness report stays small."""
    assert manage("migrate", "--noinput", data_dir=tmp_path).returncode == 0
    event = {
        "eventType": "COMPLETE",
        "eventTime": "2026-11-02T08:00:00Z",
        "producer": "https://github.com/OpenLineage/OpenLineage/tree/1.24.2/integration/spark",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": "01930c2e-7e4b-7c2a-9d1e-3b5c0f6a8e21"},
        "job": {"namespace": "jobs", "name": "wide"},
        "inputs": [{"namespace": "s3://lake", "name": f"part-{i:05}"} for i in range(10_000)],
        "outputs": [{"namespace": "s3://lake", "name": "merged"}],
    }
    (tmp_path / "event.json").write_text(json.dumps(event))
    script = "\n".join(
        [
            "import json",
            "from django.test import Client",
            "from access.services import api_token_create",
            "_, token = api_token_create(name='t', scopes=['lineage:write', 'lineage:read',"
            " 'erasure:read'])",
            "c = Client(HTTP_AUTHORIZATION='Bearer ' + token)",
            f"body = open({str(tmp_path / 'event.json')!r}, 'rb').read()",
            "posted = c.post('/api/v1/lineage', body, content_type='application/json')",
            "ingested = len(posted.json()['versions']['inputs'])",
            "print('POST', posted.status_code, ingested, flush=True)",
            "wide = ('job:jobs:wide', 'dataset:s3://lake:merged', 'dataset:s3://lake:part-00042')",
            "for node in wide:",
            "    g = c.get('/api/v1/lineage', {'nodeId': node, 'depth': 20})",
            "    a = g.json()",
            "    print('GRAPH', g.status_code, a['truncated'], len(a['graph']), flush=True)",
            "r = c.get('/api/v1/reports/readiness')",
            "print('REPORT', r.status_code, len(r.content), flush=True)",
        ]
    )
    run = manage("shell", "-c", script, data_dir=tmp_path, LUP_LINEAGE_MAX_NODES="500")
    assert run.returncode == 0, run.stderr[-3000:]
    assert "POST 201 10000" in run.stdout or "POST 200 10000" in run.stdout, run.stdout[-2000:]
    graphs = [line.split() for line in run.stdout.splitlines() if line.startswith("GRAPH")]
    assert len(graphs) == 3
    for _, status, _, nodes in graphs:
        assert status == "200"
        assert int(nodes) <= 500
    assert graphs[0][2] == "True"  # the job touches 10,001 datasets: the budget cuts it
    (report,) = [line.split() for line in run.stdout.splitlines() if line.startswith("REPORT")]
    assert report[1] == "200"
    assert int(report[2]) < 1_000_000
