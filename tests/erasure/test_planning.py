"""Planning: lineage says where the subject's data went, the registry says which targets hold
it, and every entry explains itself; the deadline comes from the strictest jurisdiction."""

import io
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings

from erasure.models import ErasureRequest
from erasure.services import erasure_request_transition
from lineage import services as lineage
from lineage.membership import membership_upload
from lineage.services import VersionInput
from tests import identifiers
from tests.erasure.approvals import approve_proposed_targets

pytestmark = pytest.mark.django_db
URL = "/api/v1/erasure-requests"


@pytest.fixture
def client(api, tmp_path, settings):
    settings.LUP_FILE_ROOTS = [str(tmp_path)]
    return api("erasure:write", "erasure:read")


def target(client, name, *, versions=(), **extra):
    Path(settings.LUP_FILE_ROOTS[0], f"{name}.jsonl").touch()  # registration looks for it
    body = {
        "name": name,
        "kind": "jsonl_file",
        "country": "KH",
        "config": {"path": f"{name}.jsonl", "match": {"email": "email"}},
        "versions": [str(v.pk) for v in versions],
        **extra,
    }
    response = client.post("/api/v1/erasure/targets", body, format="json")
    assert response.status_code == 201, response.json()
    approve_proposed_targets()


def verified_request(client, email, country="KH") -> ErasureRequest:
    created = client.post(
        URL,
        {"identifiers": [{"id_type": "email", "value": email}], "country": country},
        format="json",
    ).json()
    request = ErasureRequest.objects.get(pk=created["id"])
    return erasure_request_transition(
        request=request, to_state="verified", actor="staff:test", reason="checked in person"
    )


def test_the_plan_follows_lineage_and_explains_itself(client):
    email = identifiers.email()
    raw = lineage.version_register(
        dataset=lineage.dataset_register(namespace="s3://raw", name="chats"),
        data=VersionInput(version="1"),
    )
    evals = lineage.version_register(
        dataset=lineage.dataset_register(namespace="s3://evals", name="khmer-qa"),
        data=VersionInput(version="3"),
    )
    other = lineage.version_register(
        dataset=lineage.dataset_register(namespace="s3://other", name="unrelated"),
        data=VersionInput(version="1"),
    )
    lineage.run_record(
        run_id=uuid.uuid4(),
        job=lineage.job_register(namespace="j", name="split"),
        state="COMPLETE",
        inputs=[raw],
        outputs=[evals],
    )
    membership_upload(
        version=raw,
        stream=io.BytesIO(f"{email}\n".encode()),
        content_type="text/plain",
        id_type="email",
    )
    lineage.model_version_register(
        namespace="models", name="assistant", version="7", trained_on=[raw], evaluated_on=[evals]
    )
    target(client, "raw-chats", versions=[raw])
    target(client, "khmer-eval", versions=[evals], requires_approval=True)
    target(client, "unrelated-set", versions=[other])
    target(client, "app-logs", always=True)

    request = verified_request(client, email)
    planned = client.post(f"{URL}/{request.pk}/plan")
    assert planned.status_code == 201, planned.json()
    plan = planned.json()
    # An approval target and an affected model: a human decides before anything runs.
    assert plan["state"] == "awaiting_approval"
    entries = {e["target"]: e for e in plan["targets"]}
    assert set(entries) == {"raw-chats", "khmer-eval", "app-logs"}  # not the unrelated set
    assert entries["raw-chats"]["reasons"] == [
        "s3://raw:chats version 1 holds this subject (membership uploaded)"
    ]
    assert "membership not declared" in entries["khmer-eval"]["reasons"][0]
    assert "will be scanned" in entries["khmer-eval"]["reasons"][0]
    assert entries["khmer-eval"]["requires_approval"] is True
    assert entries["app-logs"]["reasons"] == ["always: every request touches this target"]
    assert all(e["id_types"] == ["email"] and not e["needs_resolution"] for e in entries.values())
    assert plan["affected_models"] == [
        {
            "model": "models:assistant@7",
            "kinds": ["evaluated_on", "trained_on"],
            "decision": "pending",
            "justification": "",
            "decided_by": "",
            "decided_at": None,
        }
    ]
    assert client.get(f"{URL}/{request.pk}/plan").json()["targets"] == plan["targets"]
    again = client.post(f"{URL}/{request.pk}/plan")
    assert (again.status_code, again.json()["code"]) == (409, "invalid_transition")
    trail = client.get(f"{URL}/{request.pk}").json()["transitions"]
    assert "a target requires approval" in trail[-1]["reason"]
    assert "models were trained" in trail[-1]["reason"]


def test_a_target_keyed_by_other_identifier_types_needs_resolution(client):
    body = {
        "name": "users-by-id",
        "kind": "jsonl_file",
        "country": "SG",
        "always": True,
        "config": {"path": "users.jsonl", "match": {"user_id": "uid"}},
    }
    Path(settings.LUP_FILE_ROOTS[0], "users.jsonl").touch()
    assert client.post("/api/v1/erasure/targets", body, format="json").status_code == 201
    approve_proposed_targets()
    request = verified_request(client, identifiers.email())
    entry = client.post(f"{URL}/{request.pk}/plan").json()["targets"][0]
    assert (entry["id_types"], entry["needs_resolution"]) == ([], True)


def test_an_unverified_request_is_not_planned(client):
    created = client.post(
        URL, {"identifiers": [{"id_type": "email", "value": identifiers.email()}]}, format="json"
    ).json()
    response = client.post(f"{URL}/{created['id']}/plan")
    assert (response.status_code, response.json()["code"]) == (409, "invalid_transition")


def test_the_deadline_is_the_strictest_jurisdictions(client, settings):
    settings.LUP_MARKETS = ["TH"]
    thai = verified_request(client, identifiers.email(), country="TH")
    assert thai.deadline - thai.verified_at == timedelta(days=90)
    assert thai.rules["erasure_deadline"]["from"] == ["TH"]

    settings.LUP_MARKETS = ["SG", "MY"]  # no statutory erasure right: the operator's policy
    settings.LUP_POLICY_DEADLINE_DAYS = 30
    policy = verified_request(client, identifiers.email(), country="SG")
    assert policy.deadline - policy.verified_at == timedelta(days=30)
    assert policy.rules["erasure_deadline"]["from"] == "policy"


def test_a_linked_request_waits_for_the_open_one(client):
    email = identifiers.email()
    first = verified_request(client, email)
    second = verified_request(client, email.upper())
    assert second.linked_to_id == first.pk
    waiting = client.post(f"{URL}/{second.pk}/plan")
    assert (waiting.status_code, waiting.json()["code"]) == (409, "linked_to_open_request")
    assert ErasureRequest.objects.get(pk=second.pk).state == "verified"


def test_an_eval_set_declared_only_on_start_is_planned(client):
    """An OpenLineage run that declared its output on START and then failed may have written
    it: the subject's data there is derived data, and the plan includes its target."""
    import json

    from lineage.openlineage import ingest_event

    email = identifiers.email()
    run_id = str(uuid.uuid4())
    event = {
        "eventType": "START",
        "eventTime": "2026-11-02T00:05:00Z",
        "producer": "https://github.com/apache/airflow/tree/providers-openlineage/1.14.0",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": run_id},
        "job": {"namespace": "airflow", "name": "khmer_eval.export"},
        "inputs": [{"namespace": "s3://raw", "name": "chats"}],
        "outputs": [{"namespace": "s3://evals", "name": "khmer-qa"}],
    }
    for state in ("START", "FAIL"):
        body = {**event, "eventType": state}
        ingest_event(raw=json.dumps(body).encode(), content_encoding="")
    raw = lineage.dataset_register(namespace="s3://raw", name="chats").versions.get()
    evals = lineage.dataset_register(namespace="s3://evals", name="khmer-qa").versions.get()
    assert evals.version == f"run-{run_id}"
    membership_upload(
        version=raw,
        stream=io.BytesIO(f"{email}\n".encode()),
        content_type="text/plain",
        id_type="email",
    )
    target(client, "khmer-eval", versions=[evals])

    request = verified_request(client, email)
    plan = client.post(f"{URL}/{request.pk}/plan").json()
    entries = {e["target"]: e for e in plan["targets"]}
    assert set(entries) == {"khmer-eval"}
    assert "s3://evals:khmer-qa" in entries["khmer-eval"]["reasons"][0]
