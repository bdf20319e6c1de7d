"""One event cannot make unbounded work: more inputs (or outputs) than
`LUP_OPENLINEAGE_MAX_DATASETS` is refused whole with 400 `too_many_datasets`; a 10,000-input
event at the default limits is ingested, and the graph around it stays within its node budget."""

import json
import uuid

import pytest

from tests.lineage import marquez_schema
from tests.lineage.test_openlineage import URL, counts, dataset, post_raw

pytestmark = pytest.mark.django_db

PRODUCER = "https://example.org/lup-tests"


def wide_event(inputs: int, outputs: int = 1) -> bytes:
    return json.dumps(
        {
            "eventType": "COMPLETE",
            "eventTime": "2026-11-02T08:00:00Z",
            "producer": PRODUCER,
            "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
            "run": {"runId": str(uuid.uuid4())},
            "job": {"namespace": "jobs", "name": "wide"},
            "inputs": [dataset("s3://lake", f"part-{i:05}") for i in range(inputs)],
            "outputs": [dataset("s3://lake", f"out-{i}") for i in range(outputs)],
        }
    ).encode()


@pytest.mark.parametrize(("inputs", "outputs", "field"), [(6, 1, "$.inputs"), (1, 6, "$.outputs")])
def test_more_datasets_than_the_limit_are_refused_and_nothing_is_written(
    api, settings, inputs, outputs, field
):
    settings.LUP_OPENLINEAGE_MAX_DATASETS = 5
    before = counts()
    response = post_raw(api("lineage:write"), wide_event(inputs, outputs))
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "too_many_datasets"
    assert body["fields"] == {field: "max_5"}
    assert counts() == before
    assert post_raw(api("lineage:write"), wide_event(5, 5)).status_code in (200, 201)


@pytest.mark.slow  # big data: ten thousand datasets
def test_ten_thousand_inputs_are_ingested_and_the_graph_stays_in_budget(api, settings):
    settings.LUP_LINEAGE_MAX_NODES = 500
    response = post_raw(api("lineage:write"), wide_event(10_000))
    assert response.status_code in (200, 201), response.json()
    assert len(response.json()["versions"]["inputs"]) == 10_000
    graph = api("lineage:read").get(URL, {"nodeId": "job:jobs:wide", "depth": 20})
    assert graph.status_code == 200
    answer = graph.json()
    assert answer["truncated"] is True
    assert len(answer["graph"]) <= 500
    marquez_schema.assert_valid(answer)
