"""Which dataset version each OpenLineage input and output became is visible: in the ingest
answer, in a dataset's version list, and re-registering a version answers 200."""

import json
import uuid

import pytest

from lineage.openlineage import ingest_event

pytestmark = pytest.mark.django_db

PRODUCER = "https://example.org/lup-tests"


def event(run_id: str, state: str, inputs, outputs) -> dict:
    return {
        "eventType": state,
        "eventTime": "2026-11-02T08:00:00Z",
        "producer": PRODUCER,
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": run_id},
        "job": {"namespace": "jobs", "name": "clean"},
        "inputs": inputs,
        "outputs": outputs,
    }


def ingest(body: dict) -> dict:
    return ingest_event(raw=json.dumps(body).encode(), content_encoding="")


def test_the_answer_lists_the_versions_each_input_and_output_became(api):
    """The README's worked example: an input without a version facet is version "1", an
    output is `run-<runId>`, a version facet names the version."""
    run_id = str(uuid.uuid4())
    pinned = {
        "_producer": PRODUCER,
        "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/DatasetVersionDatasetFacet.json"
        "#/$defs/DatasetVersionDatasetFacet",
        "datasetVersion": "2026-11-01",
    }
    answer = ingest(
        event(
            run_id,
            "START",
            [
                {"namespace": "s3://ml-data", "name": "raw/chats"},
                {"namespace": "s3://ml-data", "name": "lexicon", "facets": {"version": pinned}},
            ],
            [{"namespace": "s3://ml-data", "name": "clean/chats"}],
        )
    )
    got = {
        e["name"]: e["version"] for part in ("inputs", "outputs") for e in answer["versions"][part]
    }
    assert got == {"raw/chats": "1", "lexicon": "2026-11-01", "clean/chats": f"run-{run_id}"}
    output = answer["versions"]["outputs"][0]
    assert output["dataset"] == "dataset:s3://ml-data:clean/chats"

    client = api("lineage:read")
    listed = client.get("/api/v1/lineage/datasets/s3://ml-data/clean/chats/versions")
    assert listed.status_code == 200, listed.json()
    body = listed.json()
    assert body["dataset"] == "dataset:s3://ml-data:clean/chats"
    (version,) = body["versions"]
    assert (version["id"], version["version"]) == (output["id"], f"run-{run_id}")
    assert version["created_by_run"] == {
        "runId": run_id,
        "job": "job:jobs:clean",
        "state": "START",
    }
    # Percent-encoded slashes in the namespace arrive the same way.
    encoded = client.get("/api/v1/lineage/datasets/s3:%2F%2Fml-data/clean%2Fchats/versions")
    assert encoded.json() == body
    # A retry of the same event gives the same answer.
    again = ingest(
        event(
            run_id,
            "START",
            [
                {"namespace": "s3://ml-data", "name": "raw/chats"},
                {"namespace": "s3://ml-data", "name": "lexicon", "facets": {"version": pinned}},
            ],
            [{"namespace": "s3://ml-data", "name": "clean/chats"}],
        )
    )
    assert (again["duplicate"], again["versions"]) == (True, answer["versions"])


def test_unknown_and_ambiguous_dataset_paths(api):
    client = api("lineage:read", "lineage:write")
    missing = client.get("/api/v1/lineage/datasets/s3://nowhere/x/versions")
    assert (missing.status_code, missing.json()["code"]) == (404, "unknown_dataset")
    for namespace, name in (("a/b", "c"), ("a", "b/c")):
        body = {"namespace": namespace, "name": name, "version": "1"}
        assert client.post("/api/v1/lineage/versions", body, format="json").status_code == 201
    both = client.get("/api/v1/lineage/datasets/a/b/c/versions")
    assert (both.status_code, both.json()["code"]) == (400, "ambiguous_dataset")


def test_registering_an_existing_version_again_answers_200(api):
    client = api("lineage:write")
    body = {"namespace": "s3://ml-data", "name": "raw/chats", "version": "1", "record_count": 3}
    first = client.post("/api/v1/lineage/versions", body, format="json")
    again = client.post("/api/v1/lineage/versions", body, format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    changed = client.post("/api/v1/lineage/versions", {**body, "record_count": 4}, format="json")
    assert (changed.status_code, changed.json()["code"]) == (409, "version_immutable")
