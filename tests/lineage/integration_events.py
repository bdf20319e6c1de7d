"""Events in the shape each integration sends them, written for these tests from the
integrations' documentation and source (field names, facet names, producers, schema URLs),
not copied from any recording. Each builder returns the events of one scenario and the
dataset/job edges (`Edge` rows) the scenario declares, no more and no fewer.

Namespaces and names follow each integration's naming rules (OpenLineage's "Naming"
document): Spark names local files `file` + path and BigQuery `bigquery` + `project.dataset.
table`; Airflow's Postgres operator `postgres://host:port` + `db.schema.table`; Flink's Kafka
connector `kafka://host:port` + topic; dbt uses the warehouse's naming.
"""

import uuid
from typing import Any

SPEC_2 = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
FACETS = "https://openlineage.io/spec/facets"

Event = dict[str, Any]
Edges = set[tuple[str, str]]


def _facet(producer: str, schema: str, spec: str = "1-0-1", /, **content) -> dict:
    return {
        "_producer": producer,
        "_schemaURL": f"{FACETS}/{spec}/{schema}.json#/$defs/{schema}",
        **content,
    }


def _run_event(
    producer: str,
    state: str,
    run_id: str,
    job: dict,
    *,
    time: str,
    inputs=(),
    outputs=(),
    run_facets=None,
    schema_url: str = SPEC_2,
) -> Event:
    return {
        "eventType": state,
        "eventTime": time,
        "producer": producer,
        "schemaURL": schema_url,
        "run": {"runId": run_id, "facets": run_facets or {}},
        "job": job,
        "inputs": list(inputs),
        "outputs": list(outputs),
    }


# Spark 1.23: a job reading a local CSV (`file` data source) and writing a BigQuery table,
# with column lineage and the symlink to the Hive-style table name.

SPARK = "https://github.com/OpenLineage/OpenLineage/tree/1.23.0/integration/spark"


def spark_file_to_bigquery() -> tuple[list[Event], Edges]:
    run_id = str(uuid.uuid4())
    job = {
        "namespace": "spark-cluster",
        "name": "khmer_chat_etl.execute_insert_into_hadoop_fs_relation_command",
        "facets": {
            "jobType": _facet(
                SPARK,
                "JobTypeJobFacet",
                "2-0-2",
                processingType="BATCH",
                integration="SPARK",
                jobType="SQL_JOB",
            )
        },
    }
    source = {
        "namespace": "file",
        "name": "/data/raw/chats.csv",
        "facets": {
            "dataSource": _facet(SPARK, "DatasourceDatasetFacet", "1-0-1", name="file", uri="file"),
            "schema": _facet(
                SPARK,
                "SchemaDatasetFacet",
                "1-1-1",
                fields=[{"name": "user_id", "type": "long"}, {"name": "text", "type": "string"}],
            ),
        },
        "inputFacets": {},
    }
    target = {
        "namespace": "bigquery",
        "name": "lup-demo.chats.clean",
        "facets": {
            "dataSource": _facet(
                SPARK, "DatasourceDatasetFacet", "1-0-1", name="bigquery", uri="bigquery"
            ),
            "schema": _facet(
                SPARK,
                "SchemaDatasetFacet",
                "1-1-1",
                fields=[{"name": "user_id", "type": "long"}, {"name": "text", "type": "string"}],
            ),
            "columnLineage": _facet(
                SPARK,
                "ColumnLineageDatasetFacet",
                "1-2-0",
                fields={
                    "user_id": {
                        "inputFields": [
                            {
                                "namespace": "file",
                                "name": "/data/raw/chats.csv",
                                "field": "user_id",
                                "transformations": [
                                    {"type": "DIRECT", "subtype": "IDENTITY", "masking": False}
                                ],
                            }
                        ]
                    },
                    "text": {
                        "inputFields": [
                            {
                                "namespace": "file",
                                "name": "/data/raw/chats.csv",
                                "field": "text",
                                "transformations": [
                                    {
                                        "type": "DIRECT",
                                        "subtype": "TRANSFORMATION",
                                        "description": "lower(text)",
                                        "masking": False,
                                    }
                                ],
                            }
                        ]
                    },
                },
            ),
            "symlinks": _facet(
                SPARK,
                "SymlinksDatasetFacet",
                "1-0-0",
                identifiers=[
                    {"namespace": "hive://metastore:9083", "name": "chats.clean", "type": "TABLE"}
                ],
            ),
            "lifecycleStateChange": _facet(
                SPARK,
                "LifecycleStateChangeDatasetFacet",
                "1-0-0",
                lifecycleStateChange="OVERWRITE",
            ),
        },
        "outputFacets": {},
    }
    engine = _facet(
        SPARK,
        "ProcessingEngineRunFacet",
        "1-1-1",
        version="3.5.1",
        name="spark",
        openlineageAdapterVersion="1.23.0",
    )
    events = [
        _run_event(
            SPARK,
            state,
            run_id,
            job,
            time=f"2026-11-02T08:15:0{i}.123Z",
            inputs=[source],
            outputs=[target] if state != "START" else [],
            run_facets={"processing_engine": engine},
        )
        for i, state in enumerate(("START", "RUNNING", "COMPLETE"))
    ]
    job_id = f"job:spark-cluster:{job['name']}"
    return events, {
        ("dataset:file:/data/raw/chats.csv", job_id),
        (job_id, "dataset:bigquery:lup-demo.chats.clean"),
    }


# dbt-ol consuming dbt's structured logs (`--consume-structured-logs`): a parent run for the
# command, and one run a model, each with the parent facet; BigQuery data source.

DBT = "https://github.com/OpenLineage/OpenLineage/tree/1.23.0/integration/dbt"


def dbt_structured_logs() -> tuple[list[Event], Edges]:
    parent_id, model_id = str(uuid.uuid4()), str(uuid.uuid4())
    parent_job = {"namespace": "dbt", "name": "dbt-run-lup_demo", "facets": {}}
    parent_facet = _facet(
        DBT,
        "ParentRunFacet",
        "1-0-1",
        run={"runId": parent_id},
        job={"namespace": "dbt", "name": "dbt-run-lup_demo"},
    )
    model_job = {
        "namespace": "dbt",
        "name": "lup-demo.analytics.stg_chats",
        "facets": {
            "jobType": _facet(
                DBT,
                "JobTypeJobFacet",
                "2-0-2",
                processingType="BATCH",
                integration="DBT",
                jobType="MODEL",
            ),
            "sql": _facet(DBT, "SQLJobFacet", "1-0-1", query="select user_id, text from raw.chats"),
        },
    }
    datasource = _facet(DBT, "DatasourceDatasetFacet", "1-0-1", name="bigquery", uri="bigquery")
    raw = {
        "namespace": "bigquery",
        "name": "lup-demo.raw.chats",
        "facets": {"dataSource": datasource},
    }
    staged = {
        "namespace": "bigquery",
        "name": "lup-demo.analytics.stg_chats",
        "facets": {
            "dataSource": datasource,
            "schema": _facet(
                DBT, "SchemaDatasetFacet", "1-1-1", fields=[{"name": "user_id"}, {"name": "text"}]
            ),
        },
    }
    run_facets = {"parent": parent_facet, "dbt_version": {"version": "1.8.7"}}
    events = [
        _run_event(DBT, "START", parent_id, parent_job, time="2026-11-02T09:00:00+00:00"),
        _run_event(
            DBT,
            "START",
            model_id,
            model_job,
            time="2026-11-02T09:00:01+00:00",
            inputs=[raw],
            outputs=[staged],
            run_facets=run_facets,
        ),
        _run_event(
            DBT,
            "COMPLETE",
            model_id,
            model_job,
            time="2026-11-02T09:00:09+00:00",
            inputs=[raw],
            outputs=[staged],
            run_facets=run_facets,
        ),
        _run_event(DBT, "COMPLETE", parent_id, parent_job, time="2026-11-02T09:00:10+00:00"),
    ]
    job_id = "job:dbt:lup-demo.analytics.stg_chats"
    return events, {
        ("dataset:bigquery:lup-demo.raw.chats", job_id),
        (job_id, "dataset:bigquery:lup-demo.analytics.stg_chats"),
    }


# Airflow's OpenLineage provider: a task run whose parent facet names its DAG run; a
# Postgres table read, an S3 prefix written; the task fails after writing.

AIRFLOW = "https://github.com/apache/airflow/tree/providers-openlineage/1.14.0"


def airflow_task_with_parent() -> tuple[list[Event], Edges]:
    run_id, dag_run_id = str(uuid.uuid4()), str(uuid.uuid4())
    job = {
        "namespace": "airflow-prod",
        "name": "khmer_eval.export_eval_set",
        "facets": {
            "jobType": _facet(
                AIRFLOW,
                "JobTypeJobFacet",
                "2-0-2",
                processingType="BATCH",
                integration="AIRFLOW",
                jobType="TASK",
            )
        },
    }
    run_facets = {
        "parent": _facet(
            AIRFLOW,
            "ParentRunFacet",
            "1-1-0",
            run={"runId": dag_run_id},
            job={"namespace": "airflow-prod", "name": "khmer_eval"},
            root={
                "run": {"runId": dag_run_id},
                "job": {"namespace": "airflow-prod", "name": "khmer_eval"},
            },
        ),
        "nominalTime": _facet(
            AIRFLOW, "NominalTimeRunFacet", "1-0-1", nominalStartTime="2026-11-02T00:00:00+00:00"
        ),
        "airflow": {
            "_producer": AIRFLOW,
            "_schemaURL": f"{AIRFLOW}/openlineage/facets/AirflowRunFacet.json",
            "dag": {"dag_id": "khmer_eval"},
            "task": {"task_id": "export_eval_set", "operator_class": "SQLExecuteQueryOperator"},
        },
    }
    source = {"namespace": "postgres://warehouse.internal:5432", "name": "chat.public.answers"}
    target = {"namespace": "s3://lup-evals", "name": "khmer-qa/2026-11-02"}
    events = [
        _run_event(
            AIRFLOW,
            "START",
            run_id,
            job,
            time="2026-11-02T00:05:00.000000+00:00",
            inputs=[source],
            outputs=[target],
            run_facets=run_facets,
        ),
        _run_event(
            AIRFLOW,
            "FAIL",
            run_id,
            job,
            time="2026-11-02T00:09:00.000000+00:00",
            run_facets={
                "errorMessage": _facet(
                    AIRFLOW,
                    "ErrorMessageRunFacet",
                    "1-0-1",
                    message="connection reset",
                    programmingLanguage="python",
                )
            },
        ),
    ]
    job_id = "job:airflow-prod:khmer_eval.export_eval_set"
    return events, {
        ("dataset:postgres://warehouse.internal:5432:chat.public.answers", job_id),
        (job_id, "dataset:s3://lup-evals:khmer-qa/2026-11-02"),
    }


# Flink's streaming integration: START when the job is submitted, RUNNING on checkpoints,
# never COMPLETE; Kafka source and sink.

FLINK = "https://github.com/OpenLineage/OpenLineage/tree/1.23.0/integration/flink"


def flink_streaming() -> tuple[list[Event], Edges]:
    run_id = str(uuid.uuid4())
    job = {
        "namespace": "flink-jobs",
        "name": "flink_examples_stateful",
        "facets": {
            "jobType": _facet(
                FLINK,
                "JobTypeJobFacet",
                "2-0-2",
                processingType="STREAMING",
                integration="FLINK",
                jobType="JOB",
            )
        },
    }
    source = {"namespace": "kafka://kafka-prod:9092", "name": "chat.messages"}
    sink = {"namespace": "kafka://kafka-prod:9092", "name": "chat.messages.redacted"}
    events = [
        _run_event(
            FLINK,
            "START",
            run_id,
            job,
            time="2026-11-02T10:00:00Z",
            inputs=[source],
            outputs=[sink],
        )
    ] + [
        _run_event(
            FLINK,
            "RUNNING",
            run_id,
            job,
            time=f"2026-11-02T10:0{minute}:00Z",
            inputs=[source],
            outputs=[sink],
            run_facets={
                "checkpoints": {
                    "_producer": FLINK,
                    "_schemaURL": f"{FLINK}/facets/CheckpointsRunFacet.json",
                    "completed": minute,
                    "failed": 0,
                }
            },
        )
        for minute in (1, 2)
    ]
    job_id = "job:flink-jobs:flink_examples_stateful"
    return events, {
        ("dataset:kafka://kafka-prod:9092:chat.messages", job_id),
        (job_id, "dataset:kafka://kafka-prod:9092:chat.messages.redacted"),
    }


# Marquez's seed metadata: START events that declare the outputs, then COMPLETE without them.

MARQUEZ = "https://github.com/MarquezProject/marquez/blob/main/docker/metadata.json"


def marquez_start_only_outputs() -> tuple[list[Event], Edges]:
    run_id = str(uuid.uuid4())
    job = {"namespace": "food_delivery", "name": "etl_orders_7_days"}
    orders = {"namespace": "postgres://food_delivery:5432", "name": "food_delivery.public.orders"}
    weekly = {
        "namespace": "postgres://food_delivery:5432",
        "name": "food_delivery.public.orders_7_days",
    }
    start = _run_event(
        MARQUEZ,
        "START",
        run_id,
        job,
        time="2026-11-02T11:00:00.000Z",
        inputs=[orders],
        outputs=[weekly],
        schema_url="https://openlineage.io/spec/1-0-3/OpenLineage.json#/definitions/RunEvent",
    )
    complete = _run_event(
        MARQUEZ,
        "COMPLETE",
        run_id,
        job,
        time="2026-11-02T11:04:00.000Z",
        schema_url="https://openlineage.io/spec/1-0-3/OpenLineage.json#/definitions/RunEvent",
    )
    job_id = "job:food_delivery:etl_orders_7_days"
    return [start, complete], {
        ("dataset:postgres://food_delivery:5432:food_delivery.public.orders", job_id),
        (job_id, "dataset:postgres://food_delivery:5432:food_delivery.public.orders_7_days"),
    }


# openlineage-python 1.x (`openlineage.client.run`): schemaURL 1-0-5 with `#/definitions/`.

PYTHON_1X = "https://github.com/OpenLineage/OpenLineage/tree/0.30.1/client/python"


def python_client_1x() -> tuple[list[Event], Edges]:
    run_id = str(uuid.uuid4())
    url = "https://openlineage.io/spec/1-0-5/OpenLineage.json#/definitions/RunEvent"
    job = {"namespace": "notebooks", "name": "label_khmer_intents"}
    source = {"namespace": "gs://lup-labels", "name": "intents/raw.jsonl"}
    target = {"namespace": "gs://lup-labels", "name": "intents/labelled.jsonl"}
    events = [
        _run_event(
            PYTHON_1X,
            state,
            run_id,
            job,
            time=time,
            inputs=[source],
            outputs=[target],
            schema_url=url,
        )
        for state, time in (
            ("START", "2026-11-02T12:00:00.000000+07:00"),
            ("COMPLETE", "2026-11-02T12:30:00.000000+07:00"),
        )
    ]
    job_id = "job:notebooks:label_khmer_intents"
    return events, {
        ("dataset:gs://lup-labels:intents/raw.jsonl", job_id),
        (job_id, "dataset:gs://lup-labels:intents/labelled.jsonl"),
    }


# Names with colons: BigQuery's legacy `project:dataset.table`, a `file://host` namespace, a
# Khmer name with spaces.


def names_with_colons() -> tuple[list[Event], Edges]:
    run_id = str(uuid.uuid4())
    job = {"namespace": "ml:jobs", "name": "export:khmer qa"}
    legacy = {"namespace": "bigquery", "name": "lup-demo:chats.clean"}
    local = {"namespace": "file://localhost", "name": "/in.txt"}
    khmer = {"namespace": "s3://lup-evals/សំណួរ", "name": "ការវាយតម្លៃ ១:២"}
    event = _run_event(
        SPARK,
        "COMPLETE",
        run_id,
        job,
        time="2026-11-02T13:00:00Z",
        inputs=[legacy, local],
        outputs=[khmer],
    )
    job_id = "job:ml:jobs:export:khmer qa"
    return [event], {
        ("dataset:bigquery:lup-demo:chats.clean", job_id),
        ("dataset:file://localhost:/in.txt", job_id),
        (job_id, "dataset:s3://lup-evals/សំណួរ:ការវាយតម្លៃ ១:២"),
    }


SCENARIOS = {
    "spark": spark_file_to_bigquery,
    "dbt": dbt_structured_logs,
    "airflow": airflow_task_with_parent,
    "flink": flink_streaming,
    "marquez": marquez_start_only_outputs,
    "python-1x": python_client_1x,
    "colons": names_with_colons,
}
