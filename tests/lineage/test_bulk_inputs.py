"""Many inputs are resolved in bulk, to the same versions the one-at-a-time path gives."""

import gc
import json
import uuid

import pytest
from django.db import transaction

from core.errors import ApplicationError
from lineage import models, openlineage, services
from lineage.services import VersionInput
from lineage.signals import dataset_versions_named
from tests.config.test_embedded import manage

PRODUCER = "https://example.org/lup-tests"
FACETS = "https://openlineage.io/spec/facets/1-0-1"


def node(namespace: str, name: str, **facets) -> dict:
    return {"namespace": namespace, "name": name, "facets": facets}


def version_facet(value: str) -> dict:
    return {
        "_producer": PRODUCER,
        "_schemaURL": f"{FACETS}/DatasetVersionDatasetFacet.json#/$defs/DatasetVersionDatasetFacet",
        "datasetVersion": value,
    }


def scenario() -> list[tuple[str, str, str]]:
    """Inputs of every kind: new, known with versions, named by a facet, an alias, a name
    whose plain id another dataset holds; read on START and again on COMPLETE."""
    known = services.dataset_register(namespace="s3://lake", name="known")
    services.version_register(dataset=known, data=VersionInput(version="old"))
    services.version_register(dataset=known, data=VersionInput(version="new"))
    services.dataset_register(
        namespace="hive://meta:9083",
        name="tbl",
        aliases=[("s3://lake", "warehouse/tbl", "TABLE")],
    )
    services.dataset_register(namespace="a:b", name="c")
    inputs = [node("s3://lake", f"part-{i:03}") for i in range(60)]
    inputs += [
        node("s3://lake", "known"),
        node("s3://lake", "pinned", version=version_facet("v9")),
        node("s3://lake", "warehouse/tbl"),
        node("a", "b:c"),
    ]
    run_id = str(uuid.uuid4())
    answers = []
    for state in ("START", "COMPLETE"):
        event = {
            "eventType": state,
            "eventTime": "2026-11-02T08:00:00Z",
            "producer": PRODUCER,
            "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
            "run": {"runId": run_id},
            "job": {"namespace": "jobs", "name": "wide"},
            "inputs": inputs,
            "outputs": [node("s3://lake", "out")],
        }
        answer = openlineage.ingest_event(raw=json.dumps(event).encode(), content_encoding="")
        answers.append(answer["versions"]["inputs"])
    assert answers[0] == answers[1]  # the run reads the same versions on COMPLETE
    return [(e["dataset"], e["version"], e["name"]) for e in answers[0]]


EXPECTED = [(f"dataset:s3://lake:part-{i:03}", "1", f"part-{i:03}") for i in range(60)] + [
    ("dataset:s3://lake:known", "new", "known"),
    ("dataset:s3://lake:pinned", "v9", "pinned"),
    ("dataset:hive://meta:9083:tbl", "1", "warehouse/tbl"),
    ("dataset:a:b%3Ac", "1", "b:c"),
]


@pytest.mark.django_db
@pytest.mark.parametrize("bulk_from", [1, 10**9], ids=["bulk", "one-at-a-time"])
def test_bulk_and_one_at_a_time_agree(monkeypatch, bulk_from):
    monkeypatch.setattr(openlineage, "BULK_FROM", bulk_from)
    assert scenario() == EXPECTED
    assert models.RunDataset.objects.filter(direction="input").count() == 64
    assert models.VersionEdge.objects.count() == 64
    assert not models.Dataset.objects.filter(namespace="s3://lake", name="warehouse/tbl")


RUN = "0193a1c4-2b7e-7d3a-8f21-6c4e9b0d5a17"
OTHER_RUN = "0193a1c4-2b7e-7d3a-8f21-6c4e9b0d5a18"


def run_event(state: str, run_id: str, inputs: list[dict], outputs: list[dict]) -> bytes:
    return json.dumps(
        {
            "eventType": state,
            "eventTime": "2026-11-02T08:00:00Z",
            "producer": PRODUCER,
            "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
            "run": {"runId": run_id},
            "job": {"namespace": "jobs", "name": f"job-{run_id[-2:]}"},
            "inputs": inputs,
            "outputs": outputs,
        }
    ).encode()


def graph_after_mixed_events() -> dict[str, object]:
    """A mixed run, then everything the graph holds, by names (ids differ between runs):
    new and known inputs (known with several versions, one written by another run), a
    pinned version, an alias, a name whose plain id another dataset holds, an input named
    twice; START, then COMPLETE with more inputs and another output (runs accumulate); and
    a run with more outputs than inputs, one of them also an input."""
    for version in ("old", "new"):
        openlineage.ingest_event(
            raw=run_event(
                "COMPLETE",
                OTHER_RUN,
                [],
                [node("s3://lake", "known", version=version_facet(version))],
            ),
            content_encoding="",
        )
    services.dataset_register(
        namespace="hive://meta:9083", name="tbl", aliases=[("s3://lake", "warehouse/tbl", "TABLE")]
    )
    services.dataset_register(namespace="a:b", name="c")
    inputs = [node("s3://lake", f"part-{i:03}") for i in range(60)] + [
        node("s3://lake", "known"),
        node("s3://lake", "pinned", version=version_facet("v9")),
        node("s3://lake", "warehouse/tbl"),
        node("a", "b:c"),
        node("s3://lake", "part-007"),
    ]
    answers = [
        openlineage.ingest_event(
            raw=run_event("START", RUN, inputs, [node("s3://lake", "out")]), content_encoding=""
        ),
        openlineage.ingest_event(
            raw=run_event(
                "COMPLETE",
                RUN,
                inputs + [node("s3://lake", f"late-{i}") for i in range(3)],
                [node("s3://lake", "out"), node("s3://lake", "summary")],
            ),
            content_encoding="",
        ),
    ]
    wide = [node("s3://lake", "known"), node("s3://lake", "loop")]
    answers.append(
        openlineage.ingest_event(
            raw=run_event(
                "COMPLETE",
                "0193a1c4-2b7e-7d3a-8f21-6c4e9b0d5a19",
                wide,
                [node("s3://lake", f"shard-{i}") for i in range(3)]
                + [node("s3://lake", "loop", version=version_facet("1"))],
            ),
            content_encoding="",
        )
    )
    version = ("dataset__node_id", "version")
    return {
        "answers": [
            [
                (e["dataset"], e["version"])
                for side in ("inputs", "outputs")
                for e in a["versions"][side]
            ]
            for a in answers
        ],
        "edges": set(models.Edge.objects.values_list("source", "target")),
        "version_edges": sorted(
            models.VersionEdge.objects.values_list(
                "source__dataset__node_id",
                "source__version",
                "target__dataset__node_id",
                "target__version",
                "run__run_id",
            )
        ),
        "links": sorted(
            models.RunDataset.objects.values_list(
                *(f"version__{f}" for f in version), "direction", "run__run_id"
            )
        ),
        "versions": sorted(
            models.DatasetVersion.objects.values_list(*version, "created_by_run__run_id")
        ),
        "datasets": sorted(models.Dataset.objects.values_list("node_id", flat=True)),
    }


def graphs_both_ways() -> list[dict[str, object]]:
    """`graph_after_mixed_events` through the bulk path, then the one-at-a-time path, each
    on an empty graph (rolled back)."""
    graphs = []
    for bulk_from in (1, 10**9):
        with transaction.atomic():
            openlineage.BULK_FROM, kept = bulk_from, openlineage.BULK_FROM
            try:
                graphs.append(graph_after_mixed_events())
            finally:
                openlineage.BULK_FROM = kept
            transaction.set_rollback(True)
    return graphs


@pytest.mark.django_db
def test_the_bulk_path_makes_the_same_graph_as_the_one_at_a_time_path():
    """Every table the events write holds the same rows, and every answer names the same
    versions, whichever path resolved the inputs."""
    bulk, one_at_a_time = graphs_both_ways()
    assert bulk == one_at_a_time
    start, complete, _ = bulk["answers"]
    assert complete[: len(start) - 1] == start[:-1]  # COMPLETE reads what START read
    assert ("dataset:s3://lake:known", "new") in start
    assert start.count(("dataset:s3://lake:part-007", "1")) == 2
    # Runs accumulate: both outputs were derived from every input, the late ones included.
    derived = {(s, t) for s, _, t, _, run in bulk["version_edges"] if str(run) == RUN}
    sources = {s for s, _ in derived}
    assert len(sources) == 64 + 3  # part-007 named twice is one input
    assert derived == {
        (s, t) for s in sources for t in ("dataset:s3://lake:out", "dataset:s3://lake:summary")
    }
    # More outputs than inputs: each input to each output, never a version to itself.
    pairs = {(s, sv, t) for s, sv, t, _, run in bulk["version_edges"] if str(run).endswith("19")}
    loop = "dataset:s3://lake:loop"
    assert len(pairs) == 2 * 4 - 1
    assert (loop, "1", loop) not in pairs
    assert ("job:jobs:job-19", "dataset:s3://lake:shard-2") in bulk["edges"]


@pytest.mark.django_db
def test_the_garbage_collector_is_paused_during_an_event_and_runs_again_after_it():
    """Paused while an event is applied, running again once it is recorded or refused; and
    one the process keeps off stays off."""
    seen = []

    def receiver(**_):
        seen.append(gc.isenabled())

    dataset_versions_named.connect(receiver)
    try:
        body = run_event("START", RUN, [node("s3://lake", "in")], [])
        openlineage.ingest_event(raw=body, content_encoding="")
    finally:
        dataset_versions_named.disconnect(receiver)
    assert seen == [False]
    assert gc.isenabled()
    with pytest.raises(ApplicationError):
        openlineage.ingest_event(raw=b"{", content_encoding="")
    assert gc.isenabled()
    gc.disable()
    try:
        openlineage.ingest_event(raw=run_event("COMPLETE", RUN, [], []), content_encoding="")
        assert not gc.isenabled()
    finally:
        gc.enable()


@pytest.mark.django_db
def test_sqlite_makes_the_same_graph_as_postgresql(tmp_path):
    """The embedded mode's SQLite takes the portable forms of the bulk statements and ends
    with the same graph, both ways."""
    assert manage("migrate", "--noinput", data_dir=tmp_path).returncode == 0
    script = (
        "from tests.lineage.test_bulk_inputs import graphs_both_ways;"
        "print('GRAPHS', repr([{k: sorted(v) if isinstance(v, set) else v "
        "for k, v in g.items()} for g in graphs_both_ways()]))"
    )
    run = manage("shell", "-c", script, data_dir=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    (line,) = [line for line in run.stdout.splitlines() if line.startswith("GRAPHS ")]
    here = [
        {k: sorted(v) if isinstance(v, set) else v for k, v in g.items()}
        for g in graphs_both_ways()
    ]
    assert line.removeprefix("GRAPHS ") == repr(here)
