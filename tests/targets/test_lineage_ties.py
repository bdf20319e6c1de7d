"""Lineage ties: a dataset a pipeline names in its OpenLineage events (as the Spark
integration names a Delta table's folder, `file` + the absolute path, or an S3 prefix,
`s3://<bucket>` + the prefix) finds the target whose config points there. Its versions become
the target's, whether the event comes after the target is registered or before; the subject
index then scans the target and planning reaches it."""

import json
import uuid
from datetime import UTC, datetime

import pyarrow as pa
import pytest
from deltalake import write_deltalake
from openlineage.client.event_v2 import Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.serde import Serde

from erasure.models import Target
from targets import ties
from tests import identifiers
from tests.targets.test_subject_index import planned_targets, register

LINEAGE = "/api/v1/lineage"
TARGETS = "/api/v1/erasure/targets"
PRODUCER = "https://github.com/OpenLineage/OpenLineage/tree/1.24.2/integration/spark"


@pytest.fixture
def in_process(settings, transactional_db, tmp_path):
    """Tasks run where they are sent (after the commit that queues them), files under tmp."""
    from config.celery import app

    was = app.conf.task_always_eager
    app.conf.task_always_eager = True
    settings.LUP_FILE_ROOTS = [str(tmp_path)]
    yield tmp_path
    app.conf.task_always_eager = was


@pytest.fixture
def client(api):
    return api("lineage:write", "erasure:write", "erasure:read")


def write_event(client, namespace: str, name: str) -> str:
    """A Spark job's COMPLETE event writing the dataset; returns the version it became."""
    event = RunEvent(
        eventType=RunState.COMPLETE,
        eventTime=datetime.now(UTC).isoformat(),
        run=Run(runId=str(uuid.uuid4())),
        job=Job(namespace="spark", name="support_export.execute_save_into_data_source_command"),
        inputs=[],
        outputs=[OutputDataset(namespace=namespace, name=name)],
        producer=PRODUCER,
    )
    response = client.post(LINEAGE, json.loads(Serde.to_json(event)), format="json")
    assert response.status_code in (200, 201), response.json()
    return response.json()["versions"]["outputs"][0]["id"]


def tied(name: str) -> set[str]:
    return {str(pk) for pk in Target.objects.get(name=name).versions.values_list("pk", flat=True)}


def index_and_plan(client, target: dict, subject: str) -> dict:
    started = client.post(f"{TARGETS}/{target['id']}/index", {}, format="json")
    assert started.status_code == 202, started.json()
    assert client.get(f"{TARGETS}/{target['id']}/index").json()["state"] == "done"
    return planned_targets(client, subject)


def test_a_delta_tables_later_events_tie_its_versions_to_the_target(in_process, client):
    subject, other = identifiers.email(), identifiers.email()
    table = in_process / "lake" / "tickets"
    write_deltalake(table, pa.table({"email": [other, subject], "note": ["a", "b"]}))
    target = register(
        client,
        "tickets",
        kind="delta_table",
        config={"path": "lake/tickets", "match": {"email": "email"}},
    )
    assert tied("tickets") == set()

    version = write_event(client, "file", str(table))

    assert tied("tickets") == {version}
    assert list(index_and_plan(client, target, subject)) == ["tickets"]


def test_an_s3_prefix_named_before_the_target_is_registered_is_tied_then(
    in_process, client, object_store
):
    subject = identifiers.email()
    bucket = object_store.bucket()
    line = json.dumps({"user": {"email": subject}}).encode() + b"\n"
    object_store.s3.put_object(Bucket=bucket, Key="support/part-0.jsonl", Body=line)
    version = write_event(client, f"s3://{bucket}", "support")
    elsewhere = write_event(client, f"s3://{bucket}", "support-archive")

    target = register(
        client,
        "support-export",
        kind="s3_objects",
        config=object_store.config(
            bucket, prefix="support/", format="jsonl", match={"email": "user.email"}
        ),
    )

    assert tied("support-export") == {version}
    assert elsewhere not in tied("support-export")
    assert list(index_and_plan(client, target, subject)) == ["support-export"]


def test_names_compare_as_producers_spell_them(in_process, client):
    (in_process / "evals").mkdir()
    (in_process / "evals" / "set.jsonl").write_text("")
    register(client, "evals", config={"path": "evals/set.jsonl", "match": {"email": "email"}})
    path = str(in_process / "evals" / "set.jsonl")

    on_host = write_event(client, "file://worker-7", path.replace("/evals/", "/evals/./"))
    write_event(client, "file", path + ".bak")  # another file
    write_event(client, "hdfs://namenode:8020", path)  # another file system

    assert tied("evals") == {on_host}
    assert ties.source("s3a://evals", "/support/") == ("s3://evals", "support")
    assert ties.source("postgres://db:5432", "app.public.users") is None


def test_a_retired_target_gets_no_new_versions(in_process, client):
    (in_process / "old.jsonl").write_text("")
    target = register(client, "old", config={"path": "old.jsonl", "match": {"email": "email"}})
    retired = client.post(f"{TARGETS}/{target['id']}/retire", {"reason": "gone"}, format="json")
    assert retired.status_code == 200, retired.json()

    write_event(client, "file", str(in_process / "old.jsonl"))

    assert tied("old") == set()


def test_each_kind_names_the_dataset_its_config_points_at(settings, tmp_path):
    settings.LUP_FILE_ROOTS = [str(tmp_path)]
    match = {"match": {"email": "email"}}
    named = {
        "csv_file": {"path": "crm/users.csv", **match},
        "parquet_file": {"dir": "evals", "glob": "*.parquet", **match},
        "text_log": {"path": "logs/app.log", "id_types": ["email"]},
        "delta_table": {"path": "lake/tickets", **match},
        "lance_table": {"path": "vectors", "table": "chunks", **match},
        "hf_dataset": {"path": "qa", **match},
        "s3_objects": {"bucket": "evals", "prefix": "support/", "format": "jsonl", **match},
    }
    sources = {kind: ties.target_source(kind, config) for kind, config in named.items()}
    assert sources == {
        "csv_file": ("file", f"{tmp_path}/crm/users.csv"),
        "parquet_file": ("file", f"{tmp_path}/evals"),
        "text_log": ("file", f"{tmp_path}/logs/app.log"),
        "delta_table": ("file", f"{tmp_path}/lake/tickets"),
        "lance_table": ("file", f"{tmp_path}/vectors/chunks.lance"),
        "hf_dataset": ("file", f"{tmp_path}/qa"),
        "s3_objects": ("s3://evals", "support"),
    }
    bucket = {"bucket": "evals", "format": "jsonl", **match}
    assert ties.target_source("s3_objects", bucket) == ("s3://evals", "")
    assert ties.target_source("postgres_table", {"dsn_env": "X", "table": "t", **match}) is None
