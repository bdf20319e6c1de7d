"""`lup erasure bundle` fetches a closed request's receipts and `lup verify bundle` checks
them offline: a real bundle passes, a tampered one or the wrong identifier fails (exit 1)."""

import base64
import json

import pytest

from access.services import api_token_create
from erasure.models import ErasureRequest
from ledger.keys import signer
from lup.client import Lup
from targets.services import target_save
from tests import identifiers
from tests.erasure.approvals import approve_proposed_targets


@pytest.fixture
def closed_request(settings, transactional_db, tmp_path, live_server):
    """A request filed verified and planned through the API, erased in process (Celery's eager
    mode, as the embedded deployment runs), so it closes with its receipts."""
    from config.celery import app

    was = app.conf.task_always_eager
    app.conf.task_always_eager = True
    settings.LUP_FILE_ROOTS = [str(tmp_path)]
    email = identifiers.email().lower()
    (tmp_path / "chats.jsonl").write_text(json.dumps({"email": email, "q": "hi"}) + "\n")
    target_save(
        name="chats",
        kind="jsonl_file",
        country="KH",
        always=True,
        config={"path": "chats.jsonl", "match": {"email": "email"}},
    )
    approve_proposed_targets()
    token = api_token_create(
        name="officer", scopes=("erasure:read", "erasure:write", "erasure:verify")
    )[1]
    filed = Lup(live_server.url, token).erasure_file(
        [{"id_type": "email", "value": email}],
        country="KH",
        verified={"method": "support_ticket", "reason": "checked"},
        plan=True,
    )
    yield filed["id"], email
    app.conf.task_always_eager = was


def test_a_real_bundle_verifies_and_a_tampered_one_does_not(closed_request, run, tmp_path):
    request_id, email = closed_request
    assert ErasureRequest.objects.get(pk=request_id).state == "completed"
    path = tmp_path / "bundle.json"

    fetched = run("erasure", "bundle", request_id, "-o", str(path))
    assert fetched.returncode == 0, fetched.stderr.decode()
    pinned = signer().verifier_key

    ok = run("verify", "bundle", str(path), "--key", pinned, "--identifier", email)
    assert ok.returncode == 0, ok.stdout.decode() + ok.stderr.decode()
    assert "opens with the bundle's nonce" in ok.stdout.decode()
    # Without --key the service's current key is used, and the command says so.
    fetched_key = run("verify", "bundle", str(path))
    assert fetched_key.returncode == 0, fetched_key.stderr.decode()
    assert "pin it with --key" in fetched_key.stderr.decode()

    other = run("verify", "bundle", str(path), "--key", pinned, "--identifier", "x@example.org")
    assert other.returncode == 1

    # One receipt claims another time: well-formed, signed by nobody.
    bundle = json.loads(path.read_text())
    envelope = bundle["receipts"][0]["envelope"]
    payload = json.loads(base64.b64decode(envelope["payload"]))
    payload["issued_at"] = "2000-01-01T00:00:00Z"
    envelope["payload"] = base64.b64encode(json.dumps(payload).encode()).decode()
    path.write_text(json.dumps(bundle))
    tampered = run("verify", "bundle", str(path), "--key", pinned)
    assert tampered.returncode == 1
    assert tampered.stderr.decode().startswith("FAILED ")
    assert email not in (tampered.stdout + tampered.stderr).decode()
