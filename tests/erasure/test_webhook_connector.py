"""The webhook connector against a real HTTP endpoint on this machine: signed requests, an
answer at once or on the signed callback, and a forged callback refused."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.test import Client

from connectors.webhook import check_signature, sign
from erasure.models import ErasureRequest, TargetRun
from erasure.runs import target_run_execute
from erasure.services import erasure_request_transition
from ledger.models import Receipt
from tests import identifiers
from tests.erasure.approvals import approve_proposed_targets

pytestmark = pytest.mark.django_db
SECRET = "webhook-test-secret"
URL = "/api/v1/erasure-requests"


@pytest.fixture
def endpoint(monkeypatch, settings):
    """A system that checks Lup's signature, then answers as `answer` says. It listens on
    loopback over plain HTTP, which Lup only sends to in embedded mode with loopback allowed."""
    settings.EMBEDDED = True
    settings.LUP_WEBHOOK_ALLOW_NETWORKS = ["127.0.0.0/8"]
    monkeypatch.setenv("CRM_HOOK_SECRET", SECRET)
    received: list[dict] = []
    answer = {"status": 200, "body": {"erased": 3, "remaining": 0}}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            check_signature(
                secret=SECRET.encode(),
                timestamp=self.headers["X-Lup-Timestamp"],
                signature=self.headers["X-Lup-Signature"],
                body=body,
            )
            received.append(json.loads(body))
            self.send_response(answer["status"])
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(json.dumps(answer["body"]).encode())

        def log_message(self, *args):  # keep identifiers out of the test output
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/erase", received, answer
    server.shutdown()


def planned_run(api, url, email) -> TargetRun:
    staff = api("erasure:write", "erasure:read")
    made = staff.post(
        "/api/v1/erasure/targets",
        {
            "name": "crm-hook",
            "kind": "webhook",
            "country": "MY",
            "always": True,
            "config": {"url": url, "secret_env": "CRM_HOOK_SECRET", "id_types": ["email"]},
        },
        format="json",
    )
    assert made.status_code == 201, made.json()
    approve_proposed_targets()
    created = staff.post(
        URL, {"identifiers": [{"id_type": "email", "value": email}]}, format="json"
    ).json()
    request = ErasureRequest.objects.get(pk=created["id"])
    erasure_request_transition(
        request=request, to_state="verified", actor="staff:t", reason="checked"
    )
    staff.post(f"{URL}/{request.pk}/plan")
    return TargetRun.objects.get(request=request)


def test_an_answer_at_once(api, endpoint, django_capture_on_commit_callbacks):
    url, received, _ = endpoint
    email = identifiers.email()
    run = planned_run(api, url, email)
    with django_capture_on_commit_callbacks(execute=True):
        run = target_run_execute(run_id=run.pk)
    assert (run.status, run.outcome) == ("done", "erased")
    assert received[0]["identifiers"] == {"email": [email.lower()]}
    assert received[0]["callback"].endswith(f"/api/v1/erasure/callbacks/{run.pk}")
    receipt = json.loads(bytes(Receipt.objects.get(receipt_id=run.receipt_id).payload))
    assert (receipt["action"]["method"], receipt["action"]["count"]) == ("webhook", "3")


def test_an_answer_on_the_signed_callback(api, endpoint, django_capture_on_commit_callbacks):
    url, _, answer = endpoint
    answer.update(status=202, body={})
    run = planned_run(api, url, identifiers.email())
    assert target_run_execute(run_id=run.pk).status == "awaiting_callback"
    callback = f"/api/v1/erasure/callbacks/{run.pk}"
    body = json.dumps({"erased": 1, "remaining": 0}).encode()
    now = str(int(time.time()))
    forged = Client().post(
        callback,
        body,
        content_type="application/json",
        HTTP_X_LUP_TIMESTAMP=now,
        HTTP_X_LUP_SIGNATURE=sign(b"wrong-secret", now, body),
    )
    assert (forged.status_code, forged.json()["code"]) == (403, "invalid_signature")
    stale = str(int(time.time()) - 3600)
    replayed = Client().post(
        callback,
        body,
        content_type="application/json",
        HTTP_X_LUP_TIMESTAMP=stale,
        HTTP_X_LUP_SIGNATURE=sign(SECRET.encode(), stale, body),
    )
    assert replayed.status_code == 403
    assert TargetRun.objects.get(pk=run.pk).status == "awaiting_callback"
    with django_capture_on_commit_callbacks(execute=True):
        good = Client().post(
            callback,
            body,
            content_type="application/json",
            HTTP_X_LUP_TIMESTAMP=now,
            HTTP_X_LUP_SIGNATURE=sign(SECRET.encode(), now, body),
        )
    assert good.status_code == 200, good.json()
    assert TargetRun.objects.get(pk=run.pk).outcome == "erased"
    assert ErasureRequest.objects.get(pk=run.request_id).state == "completed"
