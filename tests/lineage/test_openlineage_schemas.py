"""Events are checked against the schema version they declare, with formats as annotations;
what Marquez accepts although the spec says otherwise is accepted with warnings."""

import json
import uuid

import pytest

from lineage import models
from lineage.openlineage import ingest_event

pytestmark = pytest.mark.django_db

PRODUCER = "https://github.com/OpenLineage/OpenLineage/tree/1.23.0/integration/spark"


def ingest(event: dict) -> dict:
    return ingest_event(raw=json.dumps(event).encode(), content_encoding="")


def event(version: str = "2-0-2", state: str = "COMPLETE", **extra) -> dict:
    body = {
        "eventType": state,
        "eventTime": "2026-11-02T08:15:00.123456789Z",
        "producer": PRODUCER,
        "schemaURL": f"https://openlineage.io/spec/{version}/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": str(uuid.uuid4())},
        "job": {"namespace": "spark", "name": "khmer_chat.clean"},
        "inputs": [],
        "outputs": [],
    }
    body.update(extra)
    return body


def refused(body: dict) -> dict[str, str]:
    from core.errors import ApplicationError

    with pytest.raises(ApplicationError) as err:
        ingest(body)
    assert err.value.code == "schema_violation"
    return err.value.fields


def test_datasource_uri_that_is_not_a_uri_is_accepted():
    """Spark's datasource facet names `file` and `bigquery` as its uri; formats are
    annotations, as in OpenLineage's own validator and Marquez."""
    datasource = {
        "_producer": PRODUCER,
        "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/DatasourceDatasetFacet.json"
        "#/$defs/DatasourceDatasetFacet",
        "name": "file",
        "uri": "file",
    }
    bigquery = {**datasource, "name": "bigquery", "uri": "bigquery"}
    answer = ingest(
        event(
            inputs=[
                {"namespace": "file", "name": "/data/in.csv", "facets": {"dataSource": datasource}}
            ],
            outputs=[
                {"namespace": "bigquery", "name": "proj.ds.tbl", "facets": {"dataSource": bigquery}}
            ],
        )
    )
    assert answer["warnings"] == []
    assert models.Dataset.objects.filter(namespace="bigquery", name="proj.ds.tbl").exists()


def test_the_declared_version_decides():
    """RUNNING is in 1-0-3 and 2.x but not in 1-0-2: a 1-0-2 event saying RUNNING breaks its
    own schema and is refused, the same event declaring 2-0-2 is accepted."""
    assert refused(event("1-0-2", "RUNNING")) == {"$.eventType": "enum"}
    assert ingest(event("2-0-2", "RUNNING"))["schema"] == "2-0-7"
    assert ingest(event("1-0-3", "RUNNING"))["schema"] == "1-0-3"


def test_an_unvendored_version_is_checked_against_the_closest_one():
    """1-0-5 (openlineage-python's `run` module, Spark and Airflow 0.x-1.x) is not vendored:
    the newest 1.x that is, 1-0-4, stands in, and the answer says so."""
    answer = ingest(event("1-0-5", "RUNNING"))
    assert answer["schema"] == "1-0-4"
    assert "1-0-5 is not vendored; checked against 1-0-4" in answer["warnings"][0]
    assert refused(event("1-0-5", "FINISHED")) == {"$.eventType": "enum"}
    # 2-0-1 and 2-0-2 are checked against the oldest later 2.x: later versions of a major
    # accept the events of earlier ones.
    assert ingest(event("2-0-1"))["schema"] == "2-0-7"


VENDORED = ["1-0-2", "1-0-3", "1-0-4", "2-0-0", "2-0-7"]


@pytest.mark.parametrize("version", VENDORED)
def test_each_vendored_version_checks_its_own_events(api, version):
    """An event declaring a vendored version is checked against that very file: a valid one
    is accepted with no stand-in warning, one breaking that schema is refused, 400
    schema_violation, and changes nothing."""
    client = api("lineage:write")
    facets = {
        "nominalTime": {
            "_producer": PRODUCER,
            "_schemaURL": "https://openlineage.io/spec/facets/1-0-0/NominalTimeRunFacet.json"
            "#/$defs/NominalTimeRunFacet",
            "nominalStartTime": "2026-11-02T08:00:00Z",
        }
    }
    valid = event(version, run={"runId": str(uuid.uuid4()), "facets": facets})
    response = client.post("/api/v1/lineage", valid, format="json")
    assert response.status_code == 201, response.json()
    assert (response.json()["schema"], response.json()["warnings"]) == (version, [])

    broken = event(version, run={"facets": facets})  # every version requires run.runId
    response = client.post("/api/v1/lineage", broken, format="json")
    assert (response.status_code, response.json()["code"]) == (400, "schema_violation")
    assert response.json()["fields"] == {"$.run.runId": "required"}
    assert models.OpenLineageEvent.objects.count() == 1


def test_facet_files_the_published_cores_name_beside_themselves_resolve():
    """The published 1-0-4 core lists facet files beside itself (`facets/X.json`), which
    openlineage.io does not serve: they resolve offline, and a facet is still read."""
    answer = ingest(
        event(
            "1-0-4",
            run={
                "runId": str(uuid.uuid4()),
                "facets": {"custom": {"_producer": PRODUCER, "_schemaURL": "https://x.org/s.json"}},
            },
        )
    )
    assert (answer["schema"], answer["warnings"]) == ("1-0-4", [])


def test_a_dataset_event_cannot_claim_a_1x_schema():
    body = {
        "eventTime": "2026-11-02T08:15:00Z",
        "producer": PRODUCER,
        "schemaURL": "https://openlineage.io/spec/1-0-5/OpenLineage.json#/definitions/RunEvent",
        "dataset": {"namespace": "s3://bucket", "name": "a"},
    }
    assert refused(body) == {"$.schemaURL": "event_not_in_version"}


def test_what_marquez_accepts_is_accepted_with_warnings():
    """No schemaURL, a naive eventTime (read as UTC) and a facet without `_producer` are
    accepted, each with a warning."""
    body = event(eventTime="2026-11-02T08:15:00")
    del body["schemaURL"]
    body["job"]["facets"] = {
        "sql": {
            "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/SQLJobFacet.json#/$defs/SQLJobFacet",
            "query": "select 1",
        }
    }
    answer = ingest(body)
    assert answer["warnings"] == [
        "schemaURL is missing; checked against 2-0-2.",
        "$.job.facets.sql._producer is missing.",
        "eventTime has no offset; read as UTC.",
    ]
    run = models.Run.objects.get(run_id=body["run"]["runId"])
    assert run.ended_at.isoformat() == "2026-11-02T08:15:00+00:00"
    stored = models.OpenLineageEvent.objects.get()
    assert "schemaURL" not in stored.payload  # kept as sent


def test_lup_still_needs_a_uuid_run_id_and_a_readable_time():
    body = event()
    body["run"]["runId"] = "run-42"
    assert refused(body) == {"$.run.runId": "format"}
    assert refused(event(eventTime="last tuesday")) == {"$.eventTime": "format"}
