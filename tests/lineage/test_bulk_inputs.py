"""Many inputs are resolved in bulk, to the same versions the one-at-a-time path gives."""

import json
import uuid

import pytest

from lineage import models, openlineage, services
from lineage.services import VersionInput

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
