"""End to end, with a real worker: request, verification, plan, fan-out, post-check, receipts,
and a bundle that `python -m ledger.verify` accepts with the subject's identifier."""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client

from consent.models import ConsentState
from erasure.models import ErasureRequest, TargetRun
from ledger.keys import signer
from lineage import services as lineage
from lineage.membership import membership_upload
from lineage.services import VersionInput
from tests import identifiers
from tests.consent import factories as f
from tests.erasure.approvals import approve_proposed_targets

ROOT = Path(__file__).resolve().parents[2]
URL = "/api/v1/erasure-requests"


@pytest.fixture
def world(tmp_path, monkeypatch, settings, transactional_db):
    """Targets on disk and in PostgreSQL, set up before the worker starts (it reads the env)."""
    monkeypatch.setenv("LUP_FILE_ROOTS", str(tmp_path))
    settings.LUP_FILE_ROOTS = [str(tmp_path)]
    db = settings.DATABASES["default"]
    monkeypatch.setenv(
        "CRM_DSN", f"postgresql://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    )
    return tmp_path


def wait_for(predicate, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.3)
    return False


def test_a_request_runs_to_a_verifiable_bundle(world, celery_worker_process, api, tmp_path):
    email, other = identifiers.email(), identifiers.email()
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE crm_contacts (email text, name text)")
        cursor.execute(
            "INSERT INTO crm_contacts VALUES (%s, 'Sokha'), (%s, 'Dara'), (%s, 'x')",
            [email.lower(), other.lower(), email.lower()],
        )
    lines = [
        {"id": 1, "user": {"email": email.lower()}, "q": "a"},
        {"id": 2, "user": {"email": other.lower()}, "q": "b"},
        {"id": 3, "user": {"email": email.lower()}, "q": "c"},
    ]
    (tmp_path / "khmer-qa.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    version = lineage.version_register(
        dataset=lineage.dataset_register(namespace="s3://evals", name="khmer-qa"),
        data=VersionInput(version="3"),
    )
    membership_upload(
        version=version,
        stream=__import__("io").BytesIO(f"{email}\n".encode()),
        content_type="text/plain",
        id_type="email",
    )
    f.notice()
    f.record(f.event(f.subject(email), "train_ai_system"))

    staff = api("erasure:write", "erasure:read")
    for body in (
        {
            "name": "khmer-qa-eval",
            "kind": "jsonl_file",
            "country": "KH",
            "config": {"path": "khmer-qa.jsonl", "match": {"email": "user.email"}},
            "versions": [str(version.pk)],
        },
        {
            "name": "crm-contacts",
            "kind": "postgres_table",
            "country": "SG",
            "always": True,
            "config": {"dsn_env": "CRM_DSN", "table": "crm_contacts", "match": {"email": "email"}},
        },
    ):
        assert staff.post("/api/v1/erasure/targets", body, format="json").status_code == 201
    approve_proposed_targets()

    request_id = staff.post(
        URL, {"identifiers": [{"id_type": "email", "value": email}], "country": "KH"}, format="json"
    ).json()["id"]
    staff.post(f"{URL}/{request_id}/verified-manually", {"reason": "checked"}, format="json")
    planned = staff.post(f"{URL}/{request_id}/plan").json()
    assert planned["state"] == "executing", planned
    assert wait_for(lambda: ErasureRequest.objects.get(pk=request_id).state == "completed"), list(
        TargetRun.objects.values("status", "outcome", "last_error")
    )

    with connection.cursor() as cursor:
        cursor.execute("SELECT email FROM crm_contacts ORDER BY name")
        assert cursor.fetchall() == [(other.lower(),)]
    kept = [json.loads(x) for x in (tmp_path / "khmer-qa.jsonl").read_text().splitlines()]
    assert kept == [lines[1]]
    runs = list(TargetRun.objects.filter(request_id=request_id))
    assert sorted(r.outcome for r in runs) == ["erased", "erased"]
    assert all(r.receipt_id for r in runs)
    assert ConsentState.objects.get(purpose__key="train_ai_system").status == "withdrawn"

    bundle = staff.get(f"{URL}/{request_id}/bundle").json()
    assert len(bundle["receipts"]) == 3

    # The subject got a signed link to the same bundle, usable without an account. The worker
    # process mailed it (a task of its own, once the closing committed), so it is in its file
    # backend's folder.
    def mailed() -> list[str]:
        mails = [p.read_text() for p in Path(settings.EMAIL_FILE_PATH).glob("*.log")]
        return [m for m in mails if f"To: {email.lower()}" in m]

    assert wait_for(mailed)
    (link,) = mailed()
    path = re.search(r"/api/v1/bundles/\S+", link).group(0)
    assert Client().get(path).json() == bundle
    assert Client().get(path[:-2] + "xx").json()["code"] == "unknown_bundle"
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    checked = subprocess.run(
        [
            sys.executable,
            "-m",
            "ledger.verify",
            "bundle",
            str(path),
            "--key",
            signer().verifier_key,
            "--identifier",
            email,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    wrong = subprocess.run(
        [
            sys.executable,
            "-m",
            "ledger.verify",
            "bundle",
            str(path),
            "--key",
            signer().verifier_key,
            "--identifier",
            other,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert wrong.returncode != 0
    assert [str(tmp_path)] == settings.LUP_FILE_ROOTS
