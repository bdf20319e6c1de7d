"""Every API operation against its OpenAPI schema (/api/schema/), served in-process.

Generated input (schemathesis: what the schema allows and what it does not) from a caller
holding every scope must get a documented answer, status, media type and body, and never a
5xx (DESIGN.md, invariant 8). The run is bounded for the suite: 25 generated cases per
operation plus schemathesis' coverage cases, seeded and derandomized so a failure reproduces.

A scenario then walks every operation's success answer with real objects, which generated input
rarely reaches; and each bug the fuzzing found is kept below as a plain regression test.
"""

import json
import re
import uuid

import pytest
import schemathesis
from django.core import mail
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core import NOT_SET
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from access.scopes import ALL_SCOPES
from access.services import api_token_create
from config.wsgi import application
from consent.models import ConsentEvent, Notice
from erasure.models import ErasureRequest, Target
from lineage.models import Dataset, DatasetVersion
from tests import identifiers

pytestmark = pytest.mark.django_db

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": 20261127,
        "generation": {"max-examples": 25, "deterministic": True, "database": "none"},
        # 405 is answered by the framework, the same way for every path: one method shows it.
        "phases": {"coverage": {"unexpected-methods": ["patch"]}, "stateful": {"enabled": False}},
    }
)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]

schema = schemathesis.openapi.from_wsgi("/api/schema/", application, config=CONFIG)


@schemathesis.serializer("application/x-ndjson")
def _ndjson(ctx, value):
    """The import's JSON lines go as they are: the schema says bytes."""
    return value if isinstance(value, bytes) else json.dumps(value).encode()


@pytest.fixture
def _in_test_transaction(db):
    """Requests go through the WSGI application, which closes the database connection when a
    request ends; the test's transaction needs it open (Django's test client does the same)."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def bearer(_in_test_transaction) -> dict[str, str]:
    _, text = api_token_create(name="schema-fuzz", scopes=ALL_SCOPES)
    return {"Authorization": f"Bearer {text}"}


@schema.parametrize()
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_every_operation_answers_generated_input_as_documented(case, bearer):
    response = case.call(headers=bearer)
    case.validate_response(response, checks=CHECKS, headers=bearer)


def test_the_schema_generates_without_warnings_and_is_valid_openapi(tmp_path):
    """An unguessable view or two serializers sharing a component name ("Input") would make
    the published schema wrong without failing anything else."""
    call_command(
        "spectacular", file=str(tmp_path / "schema.yaml"), validate=True, fail_on_warn=True
    )


def test_every_refusal_is_documented_with_the_error_body():
    error = {"$ref": "#/components/schemas/Error"}
    undocumented = [
        f"{method.upper()} {path} {status}"
        for path, operations in schema.raw_schema["paths"].items()
        for method, operation in operations.items()
        for status, response in operation["responses"].items()
        if status.startswith("4")
        and response.get("content", {}).get("application/json", {}).get("schema") != error
    ]
    assert undocumented == []


# --- success answers ------------------------------------------------------------------------


class Caller:
    """Calls operations by their schema path and checks each answer against the schema."""

    def __init__(self, headers: dict[str, str]):
        self.headers = headers

    def __call__(
        self,
        method: str,
        path: str,
        status: int,
        *,
        params=None,
        query=None,
        body=NOT_SET,
        media_type=None,
    ):
        case = schema[path][method].Case(
            path_parameters=params or {}, query=query or {}, body=body, media_type=media_type
        )
        response = case.call(headers=self.headers)
        case.validate_response(response, checks=CHECKS, headers=self.headers)
        assert response.status_code == status, (method, path, response.text[:500])
        if "json" in response.headers.get("content-type", [""])[0]:
            return response.json()
        return response.content


def _run_event(run_id: str, inputs: list[dict], outputs: list[dict]) -> dict:
    return {
        "eventType": "COMPLETE",
        "eventTime": "2026-11-01T09:30:00Z",
        "producer": "https://example.org/lup-tests",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": run_id},
        "job": {"namespace": "jobs", "name": "clean-chats"},
        "inputs": inputs,
        "outputs": outputs,
    }


def test_success_answers_match_the_schema(bearer, settings, tmp_path):
    """One walk through consent, lineage, erasure and the ledger with real objects, every
    answer checked against the schema, so the documented shapes are the served ones."""
    settings.LUP_FILE_ROOTS = [str(tmp_path)]
    # One token does everything here, as a one-person operator would.
    settings.LUP_ALLOW_SELF_APPROVAL = True
    call = Caller(bearer)
    email = identifiers.email()
    subject = {"id_type": "email", "value": email}

    # Consent
    call(
        "POST",
        "/api/v1/consent/notices",
        201,
        body={"key": "privacy", "language": "en", "title": "Notice", "text": "How we use data."},
    )
    call("GET", "/api/v1/consent/notices", 200)
    call(
        "POST",
        "/api/v1/consent/purposes",
        201,
        body={"key": "train_ai_system.schema_walk", "parent": "train_ai_system"},
    )
    call("GET", "/api/v1/consent/purposes", 200)
    event = call(
        "POST",
        "/api/v1/consent/events",
        201,
        body={
            "subject": subject,
            "purpose": "train_ai_system",
            "status": "given",
            "legal_basis": "consent",
            "jurisdiction": "KH",
            "notice": {"key": "privacy", "version": 1, "language": "en"},
        },
    )
    call(
        "POST",
        "/api/v1/consent/check",
        200,
        body={"subject": subject, "purpose": "train_ai_system"},
    )
    key = call("POST", "/api/v1/consent/subjects/resolve", 200, body=subject)["key"]
    call(
        "POST",
        "/api/v1/consent/subjects/link",
        200,
        body={"subject": {"key": key}, "identifier": {"id_type": "phone", "value": "+85512345678"}},
    )
    call("GET", "/api/v1/consent/subjects/{key}", 200, params={"key": key})
    call("GET", "/api/v1/consent/subjects/{key}/history", 200, params={"key": key})
    call(
        "POST",
        "/api/v1/consent/filter",
        200,
        query={"purpose": "train_ai_system"},
        body=f"{key}\n".encode(),
        media_type="text/plain",
    )
    call(
        "POST",
        "/api/v1/consent/events/import",
        201,
        media_type="application/x-ndjson",
        body=json.dumps(
            {
                "subject": subject,
                "purpose": "train_ai_system.evaluation",
                "status": "refused",
                "legal_basis": "consent",
                "jurisdiction": "KH",
            }
        ).encode()
        + b"\n",
    )

    # Lineage
    call(
        "POST",
        "/api/v1/lineage/datasets",
        201,
        body={"namespace": "s3://ml-data", "name": "raw/chats"},
    )
    version = call(
        "POST",
        "/api/v1/lineage/versions",
        201,
        body={
            "namespace": "s3://ml-data",
            "name": "raw/chats",
            "version": "1",
            "record_count": 2,
            "data_categories": ["user.content"],
            "purposes": ["train_ai_system"],
            "locations": [{"system": "s3", "uri": "s3://ml-data/raw/chats/1", "country": "SG"}],
        },
    )
    version_id = version["id"]
    call("GET", "/api/v1/lineage/versions/{version_id}", 200, params={"version_id": version_id})
    call(
        "POST",
        "/api/v1/lineage/versions/{version_id}/locations",
        201,
        params={"version_id": version_id},
        body={"system": "postgres", "uri": "postgres://db.vn/chats", "country": "VN"},
    )
    call(
        "POST",
        "/api/v1/lineage/versions/{version_id}/members",
        201,
        params={"version_id": version_id},
        query={"id_type": "email"},
        body=f"{email}\n".encode(),
        media_type="text/plain",
    )
    call(
        "GET",
        "/api/v1/lineage/versions/{version_id}/purpose-check",
        200,
        params={"version_id": version_id},
        query={"purpose": "train_ai_system"},
    )
    call(
        "POST",
        "/api/v1/lineage/models",
        201,
        body={
            "namespace": "models",
            "name": "assistant",
            "version": "1",
            "trained_on": [version_id],
        },
    )
    call(
        "POST",
        "/api/v1/lineage",
        201,
        body=_run_event(
            str(uuid.uuid4()),
            [{"namespace": "s3://ml-data", "name": "raw/chats"}],
            [{"namespace": "postgres://db.kh", "name": "clean/chats"}],
        ),
    )
    node = {"nodeId": "dataset:s3://ml-data:raw/chats"}
    call("GET", "/api/v1/lineage", 200, query=node)
    call("GET", "/api/v1/lineage/prov", 200, query=node)
    call("GET", "/api/v1/lineage/picture.svg", 200, query=node)
    call("GET", "/api/v1/lineage/transfers", 200)
    call("POST", "/api/v1/lineage/subjects/locate", 200, body={"subject": subject})
    card = call(
        "GET", "/api/v1/lineage/croissant", 200, query={"dataset": "s3://ml-data:raw/chats"}
    )
    call(
        "POST",
        "/api/v1/lineage/croissant/import",
        201,
        query={"namespace": "s3://copies"},
        body=card,
        media_type="application/ld+json",
    )

    # Erasure
    (tmp_path / "train.jsonl").write_text(json.dumps({"email": email}) + "\n")
    target = call(
        "POST",
        "/api/v1/erasure/targets",
        201,
        body={
            "name": "training-set",
            "kind": "jsonl_file",
            "country": "VN",
            "always": True,
            "requires_approval": True,
            "config": {"path": "train.jsonl", "match": {"email": "email"}},
        },
    )
    call("GET", "/api/v1/erasure/targets", 200)
    call("GET", "/api/v1/erasure/targets/{target_id}", 200, params={"target_id": target["id"]})
    call(
        "PUT",
        "/api/v1/erasure/targets/{target_id}",
        200,
        params={"target_id": target["id"]},
        body={
            "name": "training-set",
            "kind": "jsonl_file",
            "country": "VN",
            "always": True,
            "requires_approval": True,
            "config": {"path": "train.jsonl", "match": {"email": "email"}},
        },
    )
    approved = call(
        "POST",
        "/api/v1/erasure/targets/{target_id}/approve",
        200,
        params={"target_id": target["id"]},
        body={"reason": "Reviewed: the training set is ours."},
    )
    assert approved["state"] == "active"
    filed = call("POST", "/api/v1/erasure-requests", 201, body={"identifiers": [subject]})
    on_request = {"request_id": filed["id"]}
    call("GET", "/api/v1/erasure-requests", 200)
    call("GET", "/api/v1/erasure-requests/{request_id}", 200, params=on_request)
    call("POST", "/api/v1/erasure-requests/{request_id}/verification", 202, params=on_request)
    code = re.search(r"\b(\d{6})\b", mail.outbox[-1].body).group(1)
    call(
        "POST",
        "/api/v1/erasure-requests/{request_id}/verification/confirm",
        200,
        params=on_request,
        body={"code": code},
    )
    call("POST", "/api/v1/erasure-requests/{request_id}/plan", 201, params=on_request)
    call("GET", "/api/v1/erasure-requests/{request_id}/plan", 200, params=on_request)
    affected = ErasureRequest.objects.get(pk=filed["id"]).affected_models.get()
    call(
        "POST",
        "/api/v1/erasure-requests/{request_id}/model-decisions",
        200,
        params=on_request,
        body={"model_version": str(affected.model_version_id), "decision": "retrain"},
    )
    call(
        "POST",
        "/api/v1/erasure-requests/{request_id}/approve",
        200,
        params=on_request,
        body={"reason": "DPO approved"},
    )
    call("GET", "/api/v1/erasure-requests/{request_id}/bundle", 409, params=on_request)

    other = call(
        "POST",
        "/api/v1/erasure-requests",
        201,
        body={"identifiers": [{"id_type": "email", "value": identifiers.email()}]},
    )
    call(
        "POST",
        "/api/v1/erasure-requests/{request_id}/verified-manually",
        200,
        params={"request_id": other["id"]},
        body={"reason": "Seen in person with ID."},
    )
    call(
        "POST",
        "/api/v1/erasure-requests/{request_id}/deny",
        200,
        params={"request_id": other["id"]},
        body={"reason": "Contract requires it."},
    )
    call(
        "GET",
        "/api/v1/erasure-requests/{request_id}/bundle",
        200,
        params={"request_id": other["id"]},
    )
    call(
        "POST",
        "/api/v1/erasure/legal-holds",
        201,
        body={"subject_key": key, "basis": "litigation", "until": "2030-01-01T00:00:00Z"},
    )
    call("GET", "/api/v1/erasure/legal-holds", 200)
    spare = Target.objects.create(
        name="spare",
        kind="jsonl_file",
        country="KH",
        config={"path": "spare.jsonl", "match": {"email": "email"}},
    )
    call("DELETE", "/api/v1/erasure/targets/{target_id}", 204, params={"target_id": spare.pk})
    retired = call(
        "POST",
        "/api/v1/erasure/targets/{target_id}/retire",
        200,
        params={"target_id": target["id"]},
        body={"reason": "The training set moved."},
    )
    assert retired["state"] == "retired"

    # Ledger and jurisdictions
    call(
        "GET",
        "/api/v1/receipts/{receipt_id}",
        200,
        params={"receipt_id": event["receipt"]["receipt_id"]},
    )
    call("GET", "/api/v1/ledger/checkpoint", 200)
    call("GET", "/api/v1/ledger/key", 200)
    call("GET", "/api/v1/ledger/keys", 200)
    call("GET", "/api/v1/ledger/proof/inclusion", 200, query={"index": 0, "size": 2})
    call("GET", "/api/v1/ledger/proof/consistency", 200, query={"first": 1, "second": 2})
    call("GET", "/api/v1/ledger/leaves", 200, query={"start": 0, "end": 2})
    call("GET", "/api/v1/jurisdictions", 200)
    call("GET", "/api/v1/jurisdictions/effective", 200, query={"country": "VN"})


# --- regressions: each a case the fuzzing found answered with a 500 -------------------------


@pytest.fixture
def client(api):
    return api(*ALL_SCOPES)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"identifiers": None},
        {"identifiers": 5},
        ["not", "an", "object"],
    ],
    ids=["missing", "null", "number", "list-body"],
)
def test_an_erasure_request_without_a_list_of_identifiers_is_refused(client, body):
    response = client.post("/api/v1/erasure-requests", body, format="json")
    assert (response.status_code, response.json()["code"]) == (400, "invalid_identifiers")
    assert ErasureRequest.objects.count() == 0


def test_a_notice_version_beyond_the_column_is_refused(client):
    response = client.post(
        "/api/v1/consent/notices",
        {"key": "privacy", "language": "en", "title": "t", "text": "x", "version": 2**31},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["fields"]["version"]
    assert not Notice.objects.exists()


def test_a_notice_after_the_last_version_number_is_refused(client):
    """A notice published at the column's last version leaves no next one to number."""
    body = {"key": "privacy", "language": "en", "title": "t", "text": "x"}
    assert (
        client.post(
            "/api/v1/consent/notices", {**body, "version": 2**31 - 1}, format="json"
        ).status_code
        == 201
    )
    response = client.post("/api/v1/consent/notices", body, format="json")
    assert (response.status_code, response.json()["code"]) == (409, "notice_versions_exhausted")
    assert Notice.objects.count() == 1


def test_a_consent_choice_that_is_not_text_is_refused(client):
    response = client.post(
        "/api/v1/consent/events",
        {
            "subject": {"id_type": "email", "value": identifiers.email()},
            "purpose": "train_ai_system",
            "status": "withdrawn",
            "legal_basis": {},
            "jurisdiction": "KH",
        },
        format="json",
    )
    assert (response.status_code, response.json()["code"]) == (400, "invalid_legal_basis")
    assert not ConsentEvent.objects.exists()


def test_a_run_event_carrying_a_stray_dataset_key_is_read_without_it(client):
    """A RunEvent's schema says nothing of `dataset`: whatever it holds is not read."""
    event = {
        "eventType": "START",
        "eventTime": "2026-11-01T02:00:00Z",
        "producer": "https://example.org/job",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": str(uuid.uuid4())},
        "job": {"namespace": "jobs", "name": "clean"},
        "inputs": [{"namespace": "s3://ml-data", "name": "raw/chats"}],
        "outputs": [],
    }
    for stray in ({"namespace": 5, "name": "", "facets": [None, None]}, [None, None]):
        event["run"]["runId"] = str(uuid.uuid4())
        response = client.post("/api/v1/lineage", {**event, "dataset": stray}, format="json")
        assert response.status_code == 201, response.content
        assert response.json()["versions"]["inputs"][0]["name"] == "raw/chats"


def test_a_record_count_beyond_the_column_is_refused(client):
    response = client.post(
        "/api/v1/lineage/versions",
        {"namespace": "s3://ml-data", "name": "raw/chats", "version": "1", "record_count": 2**63},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["fields"]["record_count"]
    assert not Dataset.objects.exists()


@pytest.mark.parametrize(
    ("path", "raw"),
    [
        (
            "/api/v1/consent/events",
            '{"subject": {"id_type": "email", "value": "a@example.org"}, '
            '"purpose": "train_ai_system", "status": "given", "legal_basis": "consent", '
            '"jurisdiction": "KH", "notice": {"key": "p\\u0000", "version": 1, "language": "en"}}',
        ),
        (
            "/api/v1/erasure/targets",
            '{"name": "t", "kind": "jsonl_file", "country": "KH", '
            '"config": {"path": "a.jsonl", "match": {"email": "email\\u0000"}}}',
        ),
        (
            "/api/v1/lineage/versions",
            '{"namespace": "n", "name": "a", "version": "1", '
            '"schema_fields": [{"name": "\\u0000"}]}',
        ),
        ("/api/v1/lineage/datasets", '{"namespace": "n\\ud800", "name": "a"}'),
    ],
    ids=["nul-in-notice-key", "nul-in-target-config", "nul-in-schema-field", "lone-surrogate"],
)
def test_text_the_database_cannot_hold_is_refused_before_any_write(client, path, raw):
    """PostgreSQL refuses NUL characters (text and jsonb) and unpaired surrogates; JSON's
    \\u escapes can spell both, so the parser refuses them, as OpenLineage ingestion does."""
    response = client.generic("POST", path, raw, content_type="application/json")
    assert (response.status_code, response.json()["code"]) == (400, "invalid_json")
    assert not (
        ConsentEvent.objects.exists() or Target.objects.exists() or Dataset.objects.exists()
    )


def test_a_nul_in_a_query_is_refused_not_sent_to_the_database(client):
    client.post(
        "/api/v1/lineage/versions", {"namespace": "ns", "name": "ds", "version": "1"}, format="json"
    )
    for path in ("/api/v1/lineage", "/api/v1/lineage/prov", "/api/v1/lineage/picture.svg"):
        response = client.get(path, {"nodeId": "dataset:ns:ds\x00"})
        assert (response.status_code, response.json()["code"]) == (400, "invalid_node_id")
    missing = client.get("/api/v1/lineage/croissant", {"dataset": "ns:ds", "version": "1\x00"})
    assert (missing.status_code, missing.json()["code"]) == (404, "unknown_version")
    card = client.get("/api/v1/lineage/croissant", {"dataset": "ns:ds"}).json()
    imported = client.post("/api/v1/lineage/croissant/import?namespace=n%00", card, format="json")
    assert (imported.status_code, imported.json()["code"]) == (400, "invalid_dataset")
    assert DatasetVersion.objects.count() == 1


def test_an_event_time_outside_the_years_utc_can_write_is_refused(client):
    """0001-01-01T00:00+14:00 parses, but is in year 0 in UTC, where receipts write it."""
    response = client.post(
        "/api/v1/consent/events",
        {
            "subject": {"id_type": "email", "value": identifiers.email()},
            "purpose": "train_ai_system",
            "status": "withdrawn",
            "legal_basis": "consent",
            "jurisdiction": "KH",
            "event_time": "0001-01-01T00:00:00+14:00",
        },
        format="json",
    )
    assert (response.status_code, response.json()["code"]) == (400, "invalid_event_time")
    assert not ConsentEvent.objects.exists()
