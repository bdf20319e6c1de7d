"""What real producers send is accepted and becomes exactly the edges it declares: runs
accumulate over all their events, and an output of a run that fails or never completes is
still an edge, written by that run."""

import json

import pytest

from lineage import models, selectors
from lineage.openlineage import ingest_event
from tests.lineage import integration_events, marquez_schema

pytestmark = pytest.mark.django_db


def ingest(event: dict) -> dict:
    return ingest_event(raw=json.dumps(event).encode(), content_encoding="")


@pytest.mark.parametrize("scenario", sorted(integration_events.SCENARIOS))
def test_each_integration_is_accepted_with_exactly_its_edges(scenario):
    events, edges = integration_events.SCENARIOS[scenario]()
    for event in events:
        answer = ingest(event)
        assert answer["duplicate"] is False
    assert set(models.Edge.objects.values_list("source", "target")) == edges
    for node_id in {n for edge in edges for n in edge}:
        graph = selectors.graph(node_id=node_id, depth=2)
        marquez_schema.assert_valid(graph)
        assert {n["id"] for n in graph["graph"]} == {n for edge in edges for n in edge}


def test_outputs_declared_only_on_start_are_edges():
    """Marquez's seed declares outputs on START and sends COMPLETE without them."""
    events, _ = integration_events.marquez_start_only_outputs()
    for event in events:
        ingest(event)
    weekly = models.DatasetVersion.objects.get(dataset__name="food_delivery.public.orders_7_days")
    assert weekly.created_by_run.state == "COMPLETE"
    orders = models.DatasetVersion.objects.get(dataset__name="food_delivery.public.orders")
    assert list(models.VersionEdge.objects.values_list("source", "target")) == [
        (orders.pk, weekly.pk)
    ]


def test_a_streaming_job_that_never_completes_has_its_sink():
    """Flink reports START and RUNNING only; the sink is a version written by the running run,
    one version however many checkpoints report it."""
    events, _ = integration_events.flink_streaming()
    for event in events:
        ingest(event)
    sink = models.DatasetVersion.objects.get(dataset__name="chat.messages.redacted")
    assert sink.created_by_run.state == "RUNNING"
    graph = selectors.graph(node_id="job:flink-jobs:flink_examples_stateful", depth=0)
    nodes = {n["id"]: n["data"] for n in graph["graph"]}
    assert nodes["job:flink-jobs:flink_examples_stateful"]["type"] == "STREAM"
    assert nodes["job:flink-jobs:flink_examples_stateful"]["latestRun"]["state"] == "RUNNING"
    assert nodes["dataset:kafka://kafka-prod:9092:chat.messages.redacted"]["type"] == "STREAM"
    assert models.DatasetVersion.objects.filter(dataset__name="chat.messages.redacted").count() == 1


def test_a_failed_task_keeps_what_it_declared_and_its_parent():
    events, _ = integration_events.airflow_task_with_parent()
    for event in events:
        ingest(event)
    export = models.DatasetVersion.objects.select_related("created_by_run").get(
        dataset__name="khmer-qa/2026-11-02"
    )
    run = export.created_by_run
    assert run.state == "FAIL"
    assert run.facets["parent"]["job"]["name"] == "khmer_eval"
    assert run.facets["errorMessage"]["message"] == "connection reset"
