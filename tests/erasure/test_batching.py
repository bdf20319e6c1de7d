"""Pending requests on one file target are erased in one pass over the file; each still gets
its own receipt with its own count and the shared digests."""

import json
import os

import pytest

from erasure.execution import erasure_request_gate, target_run_execute
from erasure.models import ErasureRequest, TargetRun
from erasure.planning import erasure_request_plan
from erasure.services import erasure_request_create, erasure_request_transition
from ledger.models import Receipt
from tests import identifiers

pytestmark = pytest.mark.django_db


def test_a_hundred_requests_rewrite_the_file_once(api, tmp_path, settings, monkeypatch):
    settings.LUP_FILE_ROOTS = [str(tmp_path)]
    emails = [identifiers.email().lower() for _ in range(100)]
    lines = [json.dumps({"email": e, "n": n}) for n, e in enumerate(emails)]
    lines += [json.dumps({"email": "keep@example.org", "n": 1000})]
    (tmp_path / "eval.jsonl").write_text("\n".join(lines) + "\n")
    staff = api("erasure:write")
    assert staff.post("/api/v1/erasure/targets", {
        "name": "eval-set", "kind": "jsonl_file", "country": "KH", "always": True,
        "config": {"path": "eval.jsonl", "match": {"email": "email"}},
    }, format="json").status_code == 201
    for email in emails:
        request, _ = erasure_request_create(identifiers=[{"id_type": "email", "value": email}],
                                            country="KH", channel="api", actor="staff:t")
        request = erasure_request_transition(request=request, to_state="verified",
                                             actor="staff:t", reason="checked")
        erasure_request_gate(request=erasure_request_plan(request=request, actor="staff:t"),
                             actor="staff:t")
    assert TargetRun.objects.filter(status="pending").count() == 100

    renames = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: (renames.append(b), real_replace(a, b)))
    runs = list(TargetRun.objects.order_by("pk"))
    target_run_execute(run_id=runs[0].pk)
    assert len(renames) == 1  # one pass, one rewrite, for all hundred
    assert TargetRun.objects.filter(status="erased").count() == 99
    for run in runs[1:]:
        target_run_execute(run_id=run.pk)
    assert len(renames) == 1
    assert (tmp_path / "eval.jsonl").read_text() == lines[-1] + "\n"

    payloads = [json.loads(bytes(r.payload)) for r in Receipt.objects.filter(
        type="erasure.target")]
    assert len(payloads) == 100
    assert {p["action"]["count"] for p in payloads} == {"1"}
    assert len({(p["before"], p["after"]) for p in payloads}) == 1  # the shared digests
    assert {p["request"]["id"] for p in payloads} == {
        str(pk) for pk in ErasureRequest.objects.values_list("pk", flat=True)
    }
