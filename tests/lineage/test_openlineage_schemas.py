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
    answer = ingest(event("1-0-5", "RUNNING"))
    assert answer["schema"] == "1-0-3"
    assert "1-0-5 is not vendored" in answer["warnings"][0]
    assert refused(event("1-0-5", "FINISHED")) == {"$.eventType": "enum"}


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
