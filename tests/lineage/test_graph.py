"""The graph: registration keeps the dataset/job/model edges in step; queries walk them in
the database, depth-limited and safe on cycles."""

import uuid

import pytest

from lineage import selectors, services
from lineage.services import VersionInput
from tests.lineage import marquez_schema

pytestmark = pytest.mark.django_db


def version(namespace: str, name: str, v: str = "1"):
    dataset = services.dataset_register(namespace=namespace, name=name)
    return services.version_register(dataset=dataset, data=VersionInput(version=v))


def run(job: str, inputs, outputs):
    return services.run_record(
        run_id=uuid.uuid4(),
        job=services.job_register(namespace="jobs", name=job),
        state="COMPLETE",
        inputs=inputs,
        outputs=outputs,
    )


@pytest.fixture
def pipeline():
    """raw -> clean -> {train, eval}; train -> model; a cycle: clean -> audit -> clean."""
    raw = version("s3://ml-data", "raw/chats")
    clean = version("postgres://db.internal:5432", "analytics.chat_logs")
    train = version("s3://ml-data", "train/khmer-chat")
    evals = version("s3://ml-data", "evals/khmer-qa")
    audit = version("s3://ml-data", "audit/sample")
    run("clean", [raw], [clean])
    run("split", [clean], [train, evals])
    run("audit", [clean], [audit])
    run("reinject", [audit], [clean])
    services.model_version_register(
        namespace="models", name="assistant", version="7", trained_on=[train], evaluated_on=[evals]
    )
    return {"raw": raw, "clean": clean, "train": train, "evals": evals, "audit": audit}


def test_node_ids_with_colons_in_the_namespace_resolve(pipeline):
    node = selectors.node_object("dataset:postgres://db.internal:5432:analytics.chat_logs")
    assert node.name == "analytics.chat_logs"


def test_downstream_closure_is_depth_limited_and_cycle_safe(pipeline):
    start = "dataset:s3://ml-data:raw/chats"
    assert selectors.downstream(node_id=start, depth=2) == {
        start: 0,
        "job:jobs:clean": 1,
        "dataset:postgres://db.internal:5432:analytics.chat_logs": 2,
    }
    full = selectors.downstream(node_id=start, depth=20)
    assert full["model:models:assistant"] == 5
    assert full["dataset:s3://ml-data:audit/sample"] == 4
    assert "job:jobs:reinject" in full  # the cycle back to clean ends the walk, it does not loop


def test_marquez_shaped_graph_both_directions(pipeline):
    """Dataset nodes carry Marquez's DatasetData, job nodes its JobData; edges to the model
    are on the model, under Lup's `models` key, not in Marquez's list."""
    result = selectors.graph(node_id="dataset:s3://ml-data:train/khmer-chat", depth=0)
    marquez_schema.assert_valid(result)
    nodes = {n["id"]: n for n in result["graph"]}
    assert set(nodes) == {
        "job:jobs:split",
        "dataset:s3://ml-data:train/khmer-chat",
        "dataset:s3://ml-data:evals/khmer-qa",
        "dataset:postgres://db.internal:5432:analytics.chat_logs",
    }
    train = nodes["dataset:s3://ml-data:train/khmer-chat"]
    assert train["type"] == "DATASET"
    data = train["data"]
    assert data["id"] == {"namespace": "s3://ml-data", "name": "train/khmer-chat"}
    assert (data["type"], data["physicalName"], data["sourceName"]) == (
        "DB_TABLE",
        "train/khmer-chat",
        "s3://ml-data",
    )
    assert (data["fields"], data["tags"], data["lastModifiedAt"] is not None) == ([], [], True)
    assert train["inEdges"] == [
        {"origin": "job:jobs:split", "destination": "dataset:s3://ml-data:train/khmer-chat"}
    ]
    assert train["outEdges"] == []
    split = nodes["job:jobs:split"]["data"]
    assert (split["type"], split["simpleName"], split["latestRun"]["state"]) == (
        "BATCH",
        "split",
        "COMPLETED",
    )
    assert split["inputs"] == [
        {"namespace": "postgres://db.internal:5432", "name": "analytics.chat_logs"}
    ]
    (model,) = result["models"]
    assert model["id"] == "model:models:assistant"
    assert model["inEdges"] == [
        {"origin": "dataset:s3://ml-data:evals/khmer-qa", "destination": "model:models:assistant"},
        {
            "origin": "dataset:s3://ml-data:train/khmer-chat",
            "destination": "model:models:assistant",
        },
    ]


def test_depth_counts_job_hops_and_the_budget_bounds_the_answer(pipeline):
    start = "dataset:s3://ml-data:raw/chats"
    near = {n["id"] for n in selectors.graph(node_id=start, depth=0)["graph"]}
    assert near == {
        start,
        "job:jobs:clean",
        "dataset:postgres://db.internal:5432:analytics.chat_logs",
    }
    one = {n["id"] for n in selectors.graph(node_id=start, depth=1)["graph"]}
    assert {"job:jobs:split", "job:jobs:audit", "job:jobs:reinject"} <= one
    cut = selectors.graph(node_id=start, depth=100, max_nodes=3)
    assert cut["truncated"] is True
    assert {n["id"] for n in cut["graph"]} == near
    marquez_schema.assert_valid(cut)


def test_version_descendants_through_runs(pipeline):
    descendants = selectors.version_descendants(version_ids=[pipeline["raw"].pk])
    assert descendants == {v.pk for v in pipeline.values()}
    assert selectors.version_descendants(version_ids=[pipeline["evals"].pk]) == {
        pipeline["evals"].pk
    }


def test_versions_are_immutable(pipeline):
    dataset = pipeline["raw"].dataset
    same = services.version_register(dataset=dataset, data=VersionInput(version="1"))
    assert same.pk == pipeline["raw"].pk
    from core.errors import Conflict

    with pytest.raises(Conflict) as err:
        services.version_register(dataset=dataset, data=VersionInput(version="1", record_count=5))
    assert err.value.code == "version_immutable"
