"""Node ids round-trip for names of any shape; `symlinks` merge a dataset's names into one
node; `columnLineage` becomes column edges, queryable as Marquez's column-lineage graph."""

import json

import pytest

from lineage import models, selectors, services
from lineage.openlineage import ingest_event
from tests.lineage import integration_events, marquez_schema

pytestmark = pytest.mark.django_db


def ingest(event: dict) -> dict:
    return ingest_event(raw=json.dumps(event).encode(), content_encoding="")


def ingest_all(scenario) -> set:
    events, edges = scenario()
    for event in events:
        ingest(event)
    return edges


@pytest.mark.parametrize(
    ("namespace", "name"),
    [
        ("bigquery", "lup-demo:chats.clean"),
        ("file://localhost", "/in.txt"),
        ("postgres://db.internal:5432", "analytics.chat_logs"),
        ("s3://lup-evals/សំណួរ", "ការវាយតម្លៃ ១:២"),
        ("a b", "c : d"),
    ],
)
def test_node_ids_round_trip(namespace, name):
    dataset = services.dataset_register(namespace=namespace, name=name)
    assert dataset.node_id == f"dataset:{namespace}:{name}"
    assert selectors.node_object(dataset.node_id) == dataset
    graph = selectors.graph(node_id=dataset.node_id, depth=1)
    marquez_schema.assert_valid(graph)
    data = {n["id"]: n["data"] for n in graph["graph"]}
    assert (data[dataset.node_id]["namespace"], data[dataset.node_id]["name"]) == (namespace, name)


def test_names_joining_to_the_same_text_keep_ids_of_their_own():
    first = services.dataset_register(namespace="a:b", name="c")
    second = services.dataset_register(namespace="a", name="b:c")
    assert first.node_id == "dataset:a:b:c"
    assert second.node_id == "dataset:a:b%3Ac"
    assert selectors.node_object(first.node_id) == first
    assert selectors.node_object(second.node_id) == second


def test_every_scenario_node_resolves_to_its_own_object():
    edges = ingest_all(integration_events.names_with_colons)
    for node_id in {n for edge in edges for n in edge}:
        assert selectors.node_object(node_id).node_id == node_id
    answer = selectors.graph(node_id="job:ml:jobs:export:khmer qa", depth=1)
    marquez_schema.assert_valid(answer)
    graph = answer["graph"]
    names = {n["id"]: n["data"]["name"] for n in graph}
    assert names == {
        "job:ml:jobs:export:khmer qa": "export:khmer qa",
        "dataset:bigquery:lup-demo:chats.clean": "lup-demo:chats.clean",
        "dataset:file://localhost:/in.txt": "/in.txt",
        "dataset:s3://lup-evals/សំណួរ:ការវាយតម្លៃ ១:២": "ការវាយតម្លៃ ១:២",
    }


def test_symlinks_make_one_node_of_a_datasets_names():
    """Spark names the table by its BigQuery name and gives its metastore name as a symlink:
    the metastore name finds the same node, and an event that uses it lands there."""
    ingest_all(integration_events.spark_file_to_bigquery)
    table = models.Dataset.objects.get(namespace="bigquery", name="lup-demo.chats.clean")
    assert selectors.node_object("dataset:hive://metastore:9083:chats.clean") == table
    reader = {
        "eventType": "COMPLETE",
        "eventTime": "2026-11-02T09:00:00Z",
        "producer": integration_events.SPARK,
        "schemaURL": integration_events.SPEC_2,
        "run": {"runId": "6c4b0c5e-8a0c-4d55-9a55-9d7b8f1e2a10"},
        "job": {"namespace": "spark-cluster", "name": "report"},
        "inputs": [{"namespace": "hive://metastore:9083", "name": "chats.clean"}],
        "outputs": [],
    }
    ingest(reader)
    assert not models.Dataset.objects.filter(namespace="hive://metastore:9083").exists()
    assert ("dataset:bigquery:lup-demo.chats.clean", "job:spark-cluster:report") in set(
        models.Edge.objects.values_list("source", "target")
    )


def test_column_lineage_is_stored_and_queried_like_marquez(api):
    ingest_all(integration_events.spark_file_to_bigquery)
    client = api("lineage:read")
    field = "datasetField:bigquery:lup-demo.chats.clean:text"
    response = client.get("/api/v1/column-lineage", {"nodeId": field})
    assert response.status_code == 200, response.json()
    nodes = {n["id"]: n for n in response.json()["graph"]}
    source = "datasetField:file:/data/raw/chats.csv:text"
    assert set(nodes) == {field, source}
    assert nodes[field]["type"] == "DATASET_FIELD"
    assert nodes[field]["data"] == {
        "namespace": "bigquery",
        "dataset": "lup-demo.chats.clean",
        "field": "text",
        "fieldType": "string",
        "inputFields": [{"namespace": "file", "dataset": "/data/raw/chats.csv", "field": "text"}],
    }
    assert nodes[field]["inEdges"] == [{"origin": source, "destination": field}]
    assert nodes[source]["outEdges"] == [{"origin": source, "destination": field}]
    edge = models.ColumnEdge.objects.get(target_field="text")
    assert edge.transformations[0]["description"] == "lower(text)"
    # The same through /lineage, and downstream from the source
    assert client.get("/api/v1/lineage", {"nodeId": field}).json() == response.json()
    down = client.get("/api/v1/column-lineage", {"nodeId": source, "withDownstream": "true"})
    assert {n["id"] for n in down.json()["graph"]} == {field, source}
    whole = client.get(
        "/api/v1/column-lineage", {"nodeId": "dataset:bigquery:lup-demo.chats.clean"}
    )
    assert len(whole.json()["graph"]) == 4  # user_id and text, each with its source


def test_unknown_and_malformed_field_ids(api):
    client = api("lineage:read")
    response = client.get("/api/v1/column-lineage", {"nodeId": "datasetField:nowhere:x:y"})
    assert (response.status_code, response.json()["code"]) == (404, "unknown_node")
    response = client.get("/api/v1/column-lineage", {"nodeId": "column:x"})
    assert (response.status_code, response.json()["code"]) == (400, "invalid_node_id")


def test_dataset_wide_column_lineage_reaches_every_output_field(api):
    """Facet 1-2-0's `dataset` entries (a filter on a consent table, as Spark writes it for a
    WHERE clause) shape every output row: each output field, named in `fields` or only in the
    output's schema, depends on them, as INDIRECT edges."""
    spark = "https://github.com/OpenLineage/OpenLineage/tree/1.24.2/integration/spark"
    facet = "https://openlineage.io/spec/facets/1-2-0/ColumnLineageDatasetFacet.json"

    def transformation(kind, subtype):
        return [{"type": kind, "subtype": subtype, "description": "", "masking": False}]

    ingest(
        {
            "eventType": "COMPLETE",
            "eventTime": "2026-11-03T02:00:00.000Z",
            "producer": spark,
            "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
            "run": {"runId": "0193a1c4-5b6e-7f00-8c1d-2e3f4a5b6c7d"},
            "job": {"namespace": "spark", "name": "filter_consented_chats"},
            "inputs": [
                {"namespace": "file", "name": "/data/raw/chats.parquet"},
                {"namespace": "file", "name": "/data/raw/consents.parquet"},
            ],
            "outputs": [
                {
                    "namespace": "file",
                    "name": "/data/train/chats.parquet",
                    "facets": {
                        "schema": {
                            "_producer": spark,
                            "_schemaURL": "https://openlineage.io/spec/facets/1-1-1/SchemaDatasetFacet.json",
                            "fields": [
                                {"name": "user_id", "type": "long"},
                                {"name": "text", "type": "string"},
                                {"name": "lang", "type": "string"},
                            ],
                        },
                        "columnLineage": {
                            "_producer": spark,
                            "_schemaURL": f"{facet}#/$defs/ColumnLineageDatasetFacet",
                            "fields": {
                                "text": {
                                    "inputFields": [
                                        {
                                            "namespace": "file",
                                            "name": "/data/raw/chats.parquet",
                                            "field": "text",
                                            "transformations": transformation("DIRECT", "IDENTITY"),
                                        }
                                    ]
                                }
                            },
                            "dataset": [
                                {
                                    "namespace": "file",
                                    "name": "/data/raw/consents.parquet",
                                    "field": "purpose",
                                    "transformations": transformation("INDIRECT", "FILTER"),
                                }
                            ],
                        },
                    },
                }
            ],
        }
    )
    edges = {
        (e.source_field, e.target_field, e.transformation_type)
        for e in models.ColumnEdge.objects.all()
    }
    assert edges == {
        ("text", "text", ""),  # a field's own type is its transformationType (1-0-x)
        ("purpose", "text", "INDIRECT"),
        ("purpose", "user_id", "INDIRECT"),
        ("purpose", "lang", "INDIRECT"),
    }
    source = "datasetField:file:/data/raw/consents.parquet:purpose"
    down = api("lineage:read").get(
        "/api/v1/column-lineage", {"nodeId": source, "withDownstream": "true"}
    )
    assert down.status_code == 200
    reached = {n["id"] for n in down.json()["graph"]} - {source}
    assert reached == {
        f"datasetField:file:/data/train/chats.parquet:{field}"
        for field in ("user_id", "text", "lang")
    }


def spark_join_and_filter_event() -> dict:
    """A Spark job's COMPLETE event with `spark.openlineage.columnLineage.datasetLineageEnabled`
    on, as the integration builds it for

        INSERT INTO train.safe_chats SELECT c.chat_id, c.text FROM chats c
        JOIN consents k ON c.user_id = k.user_id WHERE k.purpose = 'train_ai_system'

    (a 1-2-0 `columnLineage` facet: `fields` for what each output column is made from,
    `dataset` for what decides which rows there are: the join keys and the filter)."""
    spark = "https://github.com/OpenLineage/OpenLineage/tree/1.26.0/integration/spark"
    facet = "https://openlineage.io/spec/facets/1-2-0/ColumnLineageDatasetFacet.json"

    def field(name: str, column: str, kind: str, subtype: str) -> dict:
        return {
            "namespace": "hive://metastore:9083",
            "name": name,
            "field": column,
            "transformations": [
                {"type": kind, "subtype": subtype, "description": "", "masking": False}
            ],
        }

    return {
        "eventType": "COMPLETE",
        "eventTime": "2026-11-04T03:00:00.000Z",
        "producer": spark,
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": "0193a1c4-5b6e-7f00-8c1d-2e3f4a5b6c7e"},
        "job": {"namespace": "spark", "name": "safe_chats.execute_insert_into_hive_table"},
        "inputs": [
            {"namespace": "hive://metastore:9083", "name": "raw.chats"},
            {"namespace": "hive://metastore:9083", "name": "raw.consents"},
        ],
        "outputs": [
            {
                "namespace": "hive://metastore:9083",
                "name": "train.safe_chats",
                "facets": {
                    "columnLineage": {
                        "_producer": spark,
                        "_schemaURL": f"{facet}#/$defs/ColumnLineageDatasetFacet",
                        "fields": {
                            "chat_id": {
                                "inputFields": [field("raw.chats", "chat_id", "DIRECT", "IDENTITY")]
                            },
                            "text": {
                                "inputFields": [field("raw.chats", "text", "DIRECT", "IDENTITY")]
                            },
                        },
                        "dataset": [
                            field("raw.chats", "user_id", "INDIRECT", "JOIN"),
                            field("raw.consents", "user_id", "INDIRECT", "JOIN"),
                            field("raw.consents", "purpose", "INDIRECT", "FILTER"),
                        ],
                    }
                },
            }
        ],
    }


def test_dataset_wide_inputs_are_kept_and_answered_as_the_facet_sends_them(api):
    """The facet's `dataset` entries are stored as such (with their transformations) and
    answered under the column-lineage answer's `datasetWide`, for the dataset asked, for a
    field of it, and downstream of a field that shapes it; Marquez's `graph` shows each as an
    INDIRECT input field of every output field."""
    ingest(spark_join_and_filter_event())
    stored = {
        (row.source.name, row.source_field, row.transformations[0]["subtype"])
        for row in models.DatasetWideInput.objects.select_related("source")
    }
    assert stored == {
        ("raw.chats", "user_id", "JOIN"),
        ("raw.consents", "user_id", "JOIN"),
        ("raw.consents", "purpose", "FILTER"),
    }
    output = "dataset:hive://metastore:9083:train.safe_chats"
    expected = [
        {
            "id": output,
            "namespace": "hive://metastore:9083",
            "name": "train.safe_chats",
            "inputFields": [
                {
                    "namespace": "hive://metastore:9083",
                    "dataset": name,
                    "field": column,
                    "transformations": [
                        {
                            "type": "INDIRECT",
                            "subtype": subtype,
                            "description": "",
                            "masking": False,
                        }
                    ],
                }
                for name, column, subtype in (
                    ("raw.chats", "user_id", "JOIN"),
                    ("raw.consents", "purpose", "FILTER"),
                    ("raw.consents", "user_id", "JOIN"),
                )
            ],
        }
    ]
    client = api("lineage:read")
    for node_id, downstream in (
        (output, "false"),
        ("datasetField:hive://metastore:9083:train.safe_chats:text", "false"),
        ("datasetField:hive://metastore:9083:raw.consents:purpose", "true"),
    ):
        answer = client.get(
            "/api/v1/column-lineage", {"nodeId": node_id, "withDownstream": downstream}
        )
        assert answer.status_code == 200, answer.json()
        assert answer.json()["datasetWide"] == expected, node_id

    text = client.get(
        "/api/v1/column-lineage",
        {"nodeId": "datasetField:hive://metastore:9083:train.safe_chats:text"},
    ).json()
    node = next(n for n in text["graph"] if n["id"].endswith("train.safe_chats:text"))
    assert {
        (f["dataset"], f["field"], f.get("transformationType")) for f in node["data"]["inputFields"]
    } == {
        ("raw.chats", "text", None),
        ("raw.chats", "user_id", "INDIRECT"),
        ("raw.consents", "user_id", "INDIRECT"),
        ("raw.consents", "purpose", "INDIRECT"),
    }


def test_dataset_wide_inputs_of_an_output_with_no_known_fields_are_not_lost(api):
    """An output whose event names no field of it (no schema facet, empty `fields`) still
    keeps what shapes its rows."""
    event = spark_join_and_filter_event()
    event["outputs"][0]["facets"]["columnLineage"]["fields"] = {}
    ingest(event)
    assert models.ColumnEdge.objects.count() == 0
    answer = api("lineage:read").get(
        "/api/v1/column-lineage", {"nodeId": "dataset:hive://metastore:9083:train.safe_chats"}
    )
    assert answer.json()["graph"] == []
    assert [f["field"] for f in answer.json()["datasetWide"][0]["inputFields"]] == [
        "user_id",
        "purpose",
        "user_id",
    ]
