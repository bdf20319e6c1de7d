"""The engineers' guide (`docs/guide.md`) runs as written: its `bash` blocks, pasted in order
into one shell against a live service, register an eval set, filter a training set, add
targets (a log, a table, a bucket in a real SeaweedFS) and follow an erasure request to a
bundle that verifies."""

import csv
import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from erasure.models import ErasureRequest, Target
from lineage.models import Membership
from tests.objectstore import KEY_ID, SECRET, ObjectStore

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "guide.md"
BLOCK = re.compile(r"^```bash\n(.*?)^```$", re.MULTILINE | re.DOTALL)
# Where the guide puts the eval set's object.
BUCKET, KEY = "sea-evals-kh", "khmer-qa/v1/khmer-qa.jsonl"


def guide_script() -> str:
    blocks = BLOCK.findall(GUIDE.read_text("utf-8"))
    assert len(blocks) >= 8, "the guide's commands are in ```bash blocks"
    return "set -euo pipefail\n" + "\n".join(blocks)


def database_url() -> str:
    """The test database, for the guide's `manage.py create_api_token`."""
    s = connection.settings_dict
    return f"postgres://{s['USER']}@{s['HOST']}:{s['PORT']}/{s['NAME']}"


@pytest.fixture
def shell(live_server, settings, tmp_path, object_store, monkeypatch):
    """A shell as the guide's reader has one: in Lup's folder, `python` and `lup` on the PATH
    (this checkout's, whatever is installed), the service at LUP_URL, a file root to work in,
    and an S3 store named by the variables the guide asks for, set for the service too (it
    serves in this process, and reads the keys when it erases)."""
    from config.celery import app

    monkeypatch.setenv("AWS_ENDPOINT_URL", object_store.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)

    work = tmp_path / "guide"
    settings.LUP_FILE_ROOTS = [str(work)]
    # Tasks run in the serving process, as in the embedded deployment the guide starts with.
    was = app.conf.task_always_eager
    app.conf.task_always_eager = True
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, command in (("python", ""), ("lup", " -m lup")):
        (bin_dir / name).write_text(f'#!/bin/sh\nexec "{sys.executable}"{command} "$@"\n')
        (bin_dir / name).chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("LUP_TOKEN", "LUP_URL")}
    env.update(
        PATH=f"{bin_dir}:{env['PATH']}",
        PYTHONPATH=str(ROOT),
        DATABASE_URL=database_url(),
        LUP_URL=live_server.url,
        LUP_CONFIG=str(tmp_path / "none.toml"),
        GUIDE=str(work),
    )

    def run(script: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["bash", "-c", script], cwd=ROOT, env=env, capture_output=True, timeout=300
        )

    yield run, work
    app.conf.task_always_eager = was


def test_the_guide_runs_as_written(shell, object_store: ObjectStore, transactional_db):
    run, work = shell
    done = run(guide_script())
    out, err = done.stdout.decode(), done.stderr.decode()
    assert done.returncode == 0, f"{out[-3000:]}\n{err[-3000:]}"

    # 1. The eval set's version holds its three people.
    assert Membership.objects.filter(version__dataset__name="khmer-qa").count() == 3
    # 2. Only the rows of people who agreed, in order, byte for byte.
    with open(work / "train.consented.csv", newline="", encoding="utf-8") as kept:
        emails = [row["email"] for row in csv.DictReader(kept)]
    assert emails == ["dara@example.org", "sophea@example.org", "DARA@example.org"]
    assert "5 rows: kept 3, dropped 2 (1 withdrawn, 1 no_consent)." in err
    # 3. The three targets, planned by the version they store.
    assert set(Target.objects.values_list("kind", "state")) == {
        ("text_log", "active"),
        ("sqlite_table", "active"),
        ("s3_objects", "active"),
    }
    # 4. The request closed, its bundle verified, and no target holds Dara any more.
    request = ErasureRequest.objects.get()
    assert request.state == "completed"
    assert "opens with the bundle's nonce" in out
    log = (work / "eval-harness.log").read_text()
    assert "dara@example.org" not in log and "sophea@example.org" in log
    rows = sqlite3.connect(work / "evals.db").execute("SELECT email FROM khmer_qa").fetchall()
    assert sorted(rows) == [("sophea@example.org",), ("vanna@example.org",)]
    lines = object_store.read(BUCKET, KEY).decode().splitlines()
    assert [json.loads(line)["email"] for line in lines] == [
        "sophea@example.org",
        "vanna@example.org",
    ]
    # The guide's last commands print what the reader should see: one line redacted, no row,
    # no record in the object.
    assert out.rstrip().endswith("1\n0\n0")


def test_the_readme_links_the_guide():
    assert "](docs/guide.md)" in (ROOT / "README.md").read_text("utf-8")
