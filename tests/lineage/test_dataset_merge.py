"""A `symlinks` facet naming two datasets that are already separate nodes (a table first seen
by its metastore name, later by its file location) merges them: the dataset registered first
survives, the other becomes its alias, and everything that hung on it moves with its versions.
Both names then answer, later events under either land on the merged node, and erasure still
finds a subject held by either old node's versions."""

import io
import json
import uuid

import pytest

from core.subject_keys import key_for
from erasure.models import ErasureRequest, Target
from erasure.services import erasure_request_transition
from lineage import models, selectors
from lineage.membership import membership_upload, subject_locations
from lineage.openlineage import ingest_event
from tests import identifiers

pytestmark = pytest.mark.django_db

SPARK = "https://github.com/OpenLineage/OpenLineage/tree/1.24.2/integration/spark"
SPEC = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
SYMLINKS = "https://openlineage.io/spec/facets/1-0-1/SymlinksDatasetFacet.json"
HIVE = ("hive://metastore:9083", "chats.clean")


def ingest(event: dict) -> dict:
    return ingest_event(raw=json.dumps(event).encode(), content_encoding="")


def run(job: str, *, inputs=(), outputs=()) -> dict:
    """A Spark job's COMPLETE event; returns the versions its inputs and outputs became."""
    return ingest(
        {
            "eventType": "COMPLETE",
            "eventTime": "2026-11-02T09:00:00Z",
            "producer": SPARK,
            "schemaURL": SPEC,
            "run": {"runId": str(uuid.uuid4())},
            "job": {"namespace": "spark", "name": job},
            "inputs": list(inputs),
            "outputs": list(outputs),
        }
    )["versions"]


def dataset(namespace: str, name: str, *, version: str | None = None, symlinks=(), **facets):
    if version is not None:
        facets["version"] = {
            "_producer": SPARK,
            "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/DatasetVersionDatasetFacet.json",
            "datasetVersion": version,
        }
    if symlinks:
        facets["symlinks"] = {
            "_producer": SPARK,
            "_schemaURL": SYMLINKS,
            "identifiers": [{"namespace": ns, "name": n, "type": "TABLE"} for ns, n in symlinks],
        }
    return {"namespace": namespace, "name": name, "facets": facets}


def upload(version_id: str, *emails: str) -> None:
    version = models.DatasetVersion.objects.get(pk=version_id)
    body = "".join(f"{email}\n" for email in emails).encode()
    membership_upload(
        version=version, stream=io.BytesIO(body), content_type="text/plain", id_type="email"
    )


def node(namespace: str, name: str) -> str:
    return f"dataset:{namespace}:{name}"


@pytest.fixture
def location(tmp_path, settings):
    """The table's files, under the file roots: a target can point at them."""
    settings.LUP_FILE_ROOTS = [str(tmp_path)]
    (tmp_path / "lake").mkdir()
    (tmp_path / "lake" / "chats.jsonl").write_text("")
    return ("file", str(tmp_path / "lake" / "chats.jsonl"))


def first_hive_then_file(location) -> tuple[dict, dict]:
    """The table written by its metastore name, then by its location: two nodes."""
    by_name = run("write_by_name", outputs=[dataset(*HIVE, version="v1")])["outputs"][0]
    by_path = run("write_by_path", outputs=[dataset(*location, version="v2")])["outputs"][0]
    assert models.Dataset.objects.count() == 2
    return by_name, by_path


def test_a_symlinks_facet_naming_two_nodes_merges_them(api, location):
    by_name, by_path = first_hive_then_file(location)
    read = run("report", inputs=[dataset(*location, symlinks=[HIVE])])

    survivor = models.Dataset.objects.get()
    assert (survivor.namespace, survivor.name) == HIVE  # registered first
    assert read["inputs"][0]["dataset"] == node(*HIVE)
    assert set(survivor.aliases.values_list("namespace", "name", "type")) == {
        (*location, "")  # the location's own name; the symlink named the survivor
    }
    assert set(survivor.versions.values_list("version", flat=True)) == {"v1", "v2"}
    assert selectors.node_object(node(*location)) == survivor
    # The graph's edges moved to the surviving node: both writers and the reader touch it.
    edges = set(models.Edge.objects.values_list("source", "target"))
    assert edges == {
        ("job:spark:write_by_name", node(*HIVE)),
        ("job:spark:write_by_path", node(*HIVE)),
        (node(*HIVE), "job:spark:report"),
    }

    client = api("lineage:read")
    for name in (HIVE, location):
        graph = client.get("/api/v1/lineage", {"nodeId": node(*name), "depth": 1}).json()
        assert {n["id"] for n in graph["graph"]} == {
            node(*HIVE),
            "job:spark:write_by_name",
            "job:spark:write_by_path",
            "job:spark:report",
        }
        listed = client.get(f"/api/v1/lineage/datasets/{name[0]}/{name[1]}/versions")
        assert listed.status_code == 200, listed.json()
        assert listed.json()["dataset"] == node(*HIVE)
        assert {v["version"] for v in listed.json()["versions"]} == {"v1", "v2"}

    # A later event under either name lands on the merged node, and no node comes back.
    later = run("append", outputs=[dataset(*location, version="v3")])
    assert later["outputs"][0]["dataset"] == node(*HIVE)
    assert models.Dataset.objects.count() == 1
    assert {by_name["id"], by_path["id"], later["outputs"][0]["id"]} == {
        str(pk) for pk in survivor.versions.values_list("pk", flat=True)
    }


def test_a_version_name_both_nodes_have_is_kept_twice(location):
    """Both names were written as `v1`: the survivor keeps its `v1`, the other's is renamed
    after its old dataset, with its members."""
    subject = identifiers.email()
    mine = run("a", outputs=[dataset(*HIVE, version="v1")])["outputs"][0]["id"]
    theirs = run("b", outputs=[dataset(*location, version="v1")])["outputs"][0]["id"]
    upload(theirs, subject)

    run("report", inputs=[dataset(*location, symlinks=[HIVE])])

    versions = dict(
        models.DatasetVersion.objects.values_list("pk", "version").order_by("created_at")
    )
    assert {str(pk): name for pk, name in versions.items()} == {
        mine: "v1",
        theirs: f"v1 (as {location[0]}/{location[1]})",
    }
    assert [
        str(v["version_id"])
        for v in subject_locations(keys=[key_for("email", subject)])["versions"]
    ] == [theirs]


def test_column_lineage_of_both_names_moves_to_the_survivor(api, location):
    """Column edges drawn to the location's name answer under the merged node's fields."""
    first_hive_then_file(location)
    schema = "https://openlineage.io/spec/facets/1-2-0/ColumnLineageDatasetFacet.json"
    lineage = {
        "_producer": SPARK,
        "_schemaURL": schema,
        "fields": {
            "text": {
                "inputFields": [
                    {"namespace": "file", "name": "/raw/chats.csv", "field": "body"},
                ]
            }
        },
        "dataset": [{"namespace": "file", "name": "/raw/consents.csv", "field": "purpose"}],
    }
    run("clean", outputs=[{**dataset(*location), "facets": {"columnLineage": lineage}}])
    run("report", inputs=[dataset(*location, symlinks=[HIVE])])

    edges = {
        (e.source_field, e.target.namespace, e.target.name, e.target_field)
        for e in models.ColumnEdge.objects.all()
    }
    assert edges == {("body", *HIVE, "text"), ("purpose", *HIVE, "text")}
    wide = models.DatasetWideInput.objects.get()
    assert (wide.target.namespace, wide.target.name, wide.source_field) == (*HIVE, "purpose")
    client = api("lineage:read")
    for name in (HIVE, location):
        field = f"datasetField:{name[0]}:{name[1]}:text"
        graph = client.get("/api/v1/column-lineage", {"nodeId": field}).json()["graph"]
        assert {n["id"] for n in graph} == {
            f"datasetField:{HIVE[0]}:{HIVE[1]}:text",
            "datasetField:file:/raw/chats.csv:body",
            "datasetField:file:/raw/consents.csv:purpose",
        }


def planned(client, email: str) -> list[str]:
    created = client.post(
        "/api/v1/erasure-requests",
        {"identifiers": [{"id_type": "email", "value": email}], "country": "KH"},
        format="json",
    ).json()
    request = erasure_request_transition(
        request=ErasureRequest.objects.get(pk=created["id"]),
        to_state="verified",
        actor="staff:test",
        reason="checked in person",
    )
    plan = client.post(f"/api/v1/erasure-requests/{request.pk}/plan")
    assert plan.status_code == 201, plan.json()
    return [entry["target"] for entry in plan.json()["targets"]]


def test_erasure_finds_a_subject_of_either_old_node_after_the_merge(api, location):
    """The target stores the table's files (it points at the location). A subject uploaded to
    the version written by the metastore name was out of its reach; once the names are one
    node, that version is the target's too, and a subject of either old node is planned
    there."""
    client = api("erasure:write", "erasure:read")
    by_name, by_path = first_hive_then_file(location)
    by_hive, by_file = identifiers.email(), identifiers.email()
    upload(by_name["id"], by_hive)
    upload(by_path["id"], by_file)
    made = client.post(
        "/api/v1/erasure/targets",
        {
            "name": "chat-lake",
            "kind": "jsonl_file",
            "country": "KH",
            "config": {"path": "lake/chats.jsonl", "match": {"email": "email"}},
        },
        format="json",
    )
    assert made.status_code == 201, made.json()
    assert planned(client, by_hive) == []  # the target stores only the location's version
    assert {str(v.pk) for v in Target.objects.get().versions.all()} == {by_path["id"]}

    run("report", inputs=[dataset(*location, symlinks=[HIVE])])

    tied = {str(pk) for pk in Target.objects.get().versions.values_list("pk", flat=True)}
    assert tied == {by_name["id"], by_path["id"]}
    assert planned(client, by_hive) == ["chat-lake"]
    assert planned(client, by_file) == ["chat-lake"]
