"""OpenLineage ingestion: events sent by the real openlineage-python client become the lineage
graph; malformed, oversized or unauthorised events are refused and change nothing."""

import gzip
import json
import uuid
from datetime import UTC, datetime

import pytest
import requests
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import (
    DatasetEvent,
    InputDataset,
    Job,
    JobEvent,
    OutputDataset,
    Run,
    RunEvent,
    RunState,
    StaticDataset,
)
from openlineage.client.facet_v2 import (
    dataset_type_dataset,
    dataset_version_dataset,
    documentation_dataset,
    job_type_job,
    output_statistics_output_dataset,
    parent_run,
    schema_dataset,
    sql_job,
)
from openlineage.client.serde import Serde
from openlineage.client.transport.http import (
    ApiKeyTokenProvider,
    HttpCompression,
    HttpConfig,
    HttpTransport,
)

from access.services import api_token_create
from lineage import models
from lineage.openlineage import ingest_event

URL = "/api/v1/lineage"
PRODUCER = "https://example.org/lup-tests"
LINEAGE_MODELS = [
    models.Dataset,
    models.DatasetVersion,
    models.StorageLocation,
    models.Job,
    models.Run,
    models.RunDataset,
    models.Model,
    models.ModelVersion,
    models.ModelData,
    models.Edge,
    models.VersionEdge,
    models.Membership,
    models.OpenLineageEvent,
]
# A facet this service has no schema for: kept exactly as sent.
CUSTOM = {
    "_producer": PRODUCER,
    "_schemaURL": "https://example.org/schemas/PiiScanDatasetFacet.json#/$defs/PiiScan",
    "scanner": {"name": "presidio", "rules": ["PHONE", "EMAIL"], "threshold": 0.85},
    "hits": [{"column": "text", "count": 3}, {"column": "title", "count": 0}],
    "nested": {"empty": {}, "none": None, "flag": False},
}


def counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in LINEAGE_MODELS}


def now() -> str:
    return datetime.now(UTC).isoformat()


def client_for(server_url: str, token: str, *, compressed: bool) -> OpenLineageClient:
    return OpenLineageClient(
        transport=HttpTransport(
            HttpConfig(
                url=server_url,
                endpoint="api/v1/lineage",
                auth=ApiKeyTokenProvider({"apiKey": token}),
                compression=HttpCompression.GZIP if compressed else None,
                retry={"total": 0, "read": 0, "connect": 0},
            )
        )
    )


def training_events(run_id: str) -> tuple[RunEvent, RunEvent]:
    """START then COMPLETE of a job reading chats and writing a cleaned table and a model."""
    job = Job(
        namespace="jobs",
        name="train-assistant",
        facets={
            "sql": sql_job.SQLJobFacet(query="SELECT text FROM chats"),
            "jobType": job_type_job.JobTypeJobFacet(
                processingType="BATCH", integration="PYTHON", jobType="TRAINING"
            ),
        },
    )
    chats = InputDataset(
        namespace="s3://ml-data",
        name="raw/chats",
        facets={
            "schema": schema_dataset.SchemaDatasetFacet(
                fields=[
                    schema_dataset.SchemaDatasetFacetFields(name="text", type="string"),
                ]
            ),
            "documentation": documentation_dataset.DocumentationDatasetFacet(
                description="Chat transcripts"
            ),
        },
    )
    cleaned = OutputDataset(
        namespace="postgres://db:5432",
        name="analytics.chats_clean",
        facets={
            "schema": schema_dataset.SchemaDatasetFacet(
                fields=[
                    schema_dataset.SchemaDatasetFacetFields(name="text", type="text"),
                ]
            )
        },
        outputFacets={
            "outputStatistics": output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                rowCount=1200
            )
        },
    )
    model = OutputDataset(
        namespace="models",
        name="assistant",
        facets={
            "datasetType": dataset_type_dataset.DatasetTypeDatasetFacet(datasetType="MODEL"),
            "version": dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion="7"),
        },
    )
    run = Run(
        runId=run_id,
        facets={
            "parent": parent_run.ParentRunFacet(
                run=parent_run.Run(runId=str(uuid.uuid4())),
                job=parent_run.Job(namespace="dags", name="nightly"),
            )
        },
    )
    start = RunEvent(
        eventType=RunState.START,
        eventTime=now(),
        run=run,
        job=job,
        inputs=[chats],
        outputs=[cleaned, model],
        producer=PRODUCER,
    )
    complete = RunEvent(
        eventType=RunState.COMPLETE,
        eventTime=now(),
        run=run,
        job=job,
        inputs=[chats],
        outputs=[cleaned, model],
        producer=PRODUCER,
    )
    return start, complete


def as_json(event) -> dict:
    return json.loads(Serde.to_json(event))


def ingest(event: dict) -> dict:
    return ingest_event(raw=json.dumps(event).encode(), content_encoding="")


def run_event(
    run_id: str,
    state: str = "COMPLETE",
    *,
    job: str = "job",
    inputs=(),
    outputs=(),
    job_facets=None,
) -> dict:
    return {
        "eventType": state,
        "eventTime": now(),
        "producer": PRODUCER,
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": run_id},
        "job": {"namespace": "jobs", "name": job, "facets": job_facets or {}},
        "inputs": list(inputs),
        "outputs": list(outputs),
    }


def facet(schema: str, **content) -> dict:
    return {
        "_producer": PRODUCER,
        "_schemaURL": f"https://openlineage.io/spec/facets/1-0-1/{schema}.json#/$defs/{schema}",
        **content,
    }


def dataset(
    namespace: str, name: str, *, version: str | None = None, kind: str | None = None
) -> dict:
    facets = {}
    if version is not None:
        facets["version"] = facet("DatasetVersionDatasetFacet", datasetVersion=version)
    if kind is not None:
        facets["datasetType"] = facet("DatasetTypeDatasetFacet", datasetType=kind)
    return {"namespace": namespace, "name": name, "facets": facets}


def post_raw(client, body: bytes, encoding: str = ""):
    extra = {"HTTP_CONTENT_ENCODING": encoding} if encoding else {}
    return client.post(URL, data=body, content_type="application/json", **extra)


@pytest.fixture
def token(transactional_db) -> str:
    _, text = api_token_create(name="emitter", scopes=["lineage:write"])
    return text


@pytest.fixture
def writer(api):
    return api("lineage:write")


# The real client, over HTTP


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gzip"])
def test_client_run_builds_the_graph(live_server, token, compressed):
    """START records the job, the run, what it read and what it declares it writes (a new
    version of each output dataset, a model version trained on the inputs); COMPLETE ends the
    run and adds nothing new."""
    client = client_for(live_server.url, token, compressed=compressed)
    run_id = str(uuid.uuid4())
    start, complete = training_events(run_id)

    client.emit(start)
    run = models.Run.objects.select_related("job").get(run_id=run_id)
    assert (run.state, run.job.namespace, run.job.name) == ("START", "jobs", "train-assistant")
    assert run.started_at is not None and run.ended_at is None
    assert run.facets["parent"]["job"]["name"] == "nightly"
    assert run.job.facets["sql"]["query"] == "SELECT text FROM chats"
    chats = models.DatasetVersion.objects.get(dataset__name="raw/chats")
    assert chats.version == "1"
    assert chats.dataset.description == "Chat transcripts"
    assert chats.schema_fields == [{"name": "text", "type": "string", "fields": []}]
    started = models.DatasetVersion.objects.get(dataset__name="analytics.chats_clean")
    assert (started.version, started.created_by_run_id) == (f"run-{run_id}", run.pk)
    assert sorted((rd.direction, rd.version_id) for rd in run.datasets.all()) == [
        ("input", chats.pk),
        ("output", started.pk),
    ]
    assert models.ModelVersion.objects.get().created_by_run_id == run.pk

    client.emit(complete)
    run.refresh_from_db()
    assert run.state == "COMPLETE" and run.ended_at is not None
    cleaned = models.DatasetVersion.objects.get(dataset__name="analytics.chats_clean")
    assert (cleaned.version, cleaned.created_by_run_id) == (f"run-{run_id}", run.pk)
    assert cleaned.record_count == 1200
    assert cleaned.facets["outputFacets"]["outputStatistics"]["rowCount"] == 1200
    assert sorted((rd.direction, rd.version_id) for rd in run.datasets.all()) == [
        ("input", chats.pk),
        ("output", cleaned.pk),
    ]
    assert list(models.VersionEdge.objects.values_list("source", "target", "run")) == [
        (chats.pk, cleaned.pk, run.pk)
    ]
    model = models.ModelVersion.objects.select_related("model").get()
    assert (model.model.namespace, model.model.name, model.version) == ("models", "assistant", "7")
    assert model.created_by_run_id == run.pk
    assert list(model.data.values_list("version", "kind")) == [(chats.pk, "trained_on")]
    assert set(models.Edge.objects.values_list("source", "target")) == {
        ("dataset:s3://ml-data:raw/chats", "job:jobs:train-assistant"),
        ("job:jobs:train-assistant", "dataset:postgres://db:5432:analytics.chats_clean"),
        ("job:jobs:train-assistant", "model:models:assistant"),
    }
    assert models.OpenLineageEvent.objects.count() == 2


def test_client_repeat_is_idempotent(live_server, token):
    """A client retrying an event it already delivered gets 201 and changes nothing."""
    transport = client_for(live_server.url, token, compressed=True).transport
    _, complete = training_events(str(uuid.uuid4()))

    first = transport.emit(complete)
    assert first.status_code == 201 and first.json()["duplicate"] is False
    before = counts()
    again = transport.emit(complete)
    assert again.status_code == 201
    assert again.json() == {**first.json(), "duplicate": True}
    assert counts() == before


def test_client_dataset_and_job_events(live_server, token):
    """Static metadata: a DatasetEvent registers the dataset and its named version; a JobEvent
    registers the job, its facets, the datasets it names and the edges between them."""
    client = client_for(live_server.url, token, compressed=False)
    client.emit(
        DatasetEvent(
            eventTime=now(),
            producer=PRODUCER,
            dataset=StaticDataset(
                namespace="s3://ml-data",
                name="evals/khmer-qa",
                facets={
                    "version": dataset_version_dataset.DatasetVersionDatasetFacet(
                        datasetVersion="v2"
                    ),
                    "schema": schema_dataset.SchemaDatasetFacet(
                        fields=[
                            schema_dataset.SchemaDatasetFacetFields(name="question", type="string")
                        ]
                    ),
                },
            ),
        )
    )
    client.emit(
        JobEvent(
            eventTime=now(),
            producer=PRODUCER,
            job=Job(
                namespace="jobs",
                name="evaluate",
                facets={
                    "jobType": job_type_job.JobTypeJobFacet(
                        processingType="BATCH", integration="PYTHON", jobType="EVAL"
                    )
                },
            ),
            inputs=[InputDataset(namespace="s3://ml-data", name="evals/khmer-qa")],
            outputs=[OutputDataset(namespace="s3://ml-data", name="evals/scores")],
        )
    )

    version = models.DatasetVersion.objects.get(dataset__name="evals/khmer-qa")
    assert version.version == "v2"
    assert version.schema_fields == [{"name": "question", "type": "string", "fields": []}]
    job = models.Job.objects.get(name="evaluate")
    assert job.facets["jobType"]["jobType"] == "EVAL"
    assert set(models.Dataset.objects.values_list("name", flat=True)) == {
        "evals/khmer-qa",
        "evals/scores",
    }
    assert not models.Run.objects.exists()
    # The job's declared lineage is in the graph before any run.
    assert set(models.Edge.objects.values_list("source", "target")) == {
        ("dataset:s3://ml-data:evals/khmer-qa", "job:jobs:evaluate"),
        ("job:jobs:evaluate", "dataset:s3://ml-data:evals/scores"),
    }
    assert sorted(models.OpenLineageEvent.objects.values_list("event_type", flat=True)) == [
        "dataset",
        "job",
    ]


def test_client_without_write_scope_is_refused(live_server, transactional_db):
    """A read-only token cannot write lineage: 403 insufficient_scope, nothing stored."""
    _, text = api_token_create(name="reader", scopes=["lineage:read"])
    transport = client_for(live_server.url, text, compressed=False).transport
    with pytest.raises(requests.HTTPError) as refused:
        transport.emit(training_events(str(uuid.uuid4()))[1])
    assert refused.value.response.status_code == 403
    assert refused.value.response.json()["code"] == "insufficient_scope"
    assert not any(counts().values())


# Refusals: each leaves every lineage table as it was


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "path", "keyword"),
    [
        (lambda e: e.pop("producer"), "$.producer", "required"),
        (lambda e: e.update(eventType="FINISHED"), "$.eventType", "enum"),
        (lambda e: e["run"].update(runId="run-42"), "$.run.runId", "format"),
        (lambda e: e.update(eventTime="yesterday"), "$.eventTime", "format"),
        (lambda e: e["job"].pop("name"), "$.job.name", "required"),
        (
            lambda e: e["inputs"][0]["facets"]["schema"]["fields"][0].pop("name"),
            "$.inputs[0].facets.schema.fields[0].name",
            "required",
        ),
        (
            lambda e: e["job"]["facets"]["sql"].update(query=["SELECT secret_column"]),
            "$.job.facets.sql.query",
            "type",
        ),
    ],
    ids=[
        "no-producer",
        "bad-event-type",
        "bad-run-id",
        "bad-event-time",
        "no-job-name",
        "bad-schema-facet",
        "bad-sql-facet",
    ],
)
def test_schema_violations_are_refused(writer, change, path, keyword):
    """The error names the JSON path and the rule, never the value sent."""
    event = as_json(training_events(str(uuid.uuid4()))[1])
    change(event)
    before = counts()
    response = post_raw(writer, json.dumps(event).encode())
    body = response.json()
    assert (response.status_code, body["code"]) == (400, "schema_violation")
    assert body["fields"][path] == keyword
    for value in ("FINISHED", "run-42", "yesterday", "secret_column"):
        assert value not in response.content.decode()
    assert counts() == before


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "encoding", "status", "code"),
    [
        (b'{"eventType": "START", ', "", 400, "invalid_json"),
        (b'{"eventTime": NaN}', "", 400, "invalid_json"),
        (b"\xff\xfe not utf-8", "", 400, "invalid_json"),
        (b'{"job": {"namespace": "a", "name": "b\\u0000"}}', "", 400, "invalid_json"),
        (b'{"job": {"namespace": "a", "name": "\\ud800"}}', "", 400, "invalid_json"),
        (b"[1, 2, 3]", "", 400, "schema_violation"),
        (b'{"producer": "https://example.org"}', "", 400, "schema_violation"),
        (b'{"eventType": "START"}', "gzip", 400, "invalid_encoding"),
        (gzip.compress(b'{"eventType": "START"}')[:-12], "gzip", 400, "invalid_encoding"),
        (b'{"eventType": "START"}', "br", 415, "unsupported_encoding"),
    ],
    ids=[
        "truncated-json",
        "nan",
        "not-utf8",
        "nul",
        "lone-surrogate",
        "not-an-object",
        "no-event-shape",
        "gzip-header-plain-body",
        "truncated-gzip",
        "brotli",
    ],
)
def test_undecodable_bodies_are_refused(writer, body, encoding, status, code):
    """Bad JSON, a body that is no event, gzip that is not gzip, an unknown encoding."""
    before = counts()
    response = post_raw(writer, body, encoding)
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert counts() == before


@pytest.mark.django_db
def test_oversized_plain_body_is_refused(writer):
    """Over Django's upload limit (1 MiB) before any parsing."""
    event = as_json(training_events(str(uuid.uuid4()))[1])
    event["job"]["facets"]["sql"]["query"] = "SELECT 1 -- " + "x" * (2 * 1024 * 1024)
    before = counts()
    response = post_raw(writer, json.dumps(event).encode())
    assert (response.status_code, response.json()["code"]) == (413, "payload_too_large")
    assert counts() == before


@pytest.mark.django_db
def test_gzip_bomb_is_refused(writer):
    """A small gzip body that expands past LUP_OPENLINEAGE_MAX_BYTES (5 MiB) is stopped while
    decompressing."""
    padding = b" " * (64 * 1024 * 1024)
    bomb = gzip.compress(b'{"eventType": "START",' + padding + b"}", compresslevel=9)
    assert len(bomb) < 128 * 1024
    before = counts()
    response = post_raw(writer, bomb, "gzip")
    assert (response.status_code, response.json()["code"]) == (413, "payload_too_large")
    assert counts() == before


@pytest.mark.django_db
def test_limit_follows_the_setting(writer, settings):
    """The decoded size counts, whether the body came plain or compressed."""
    settings.LUP_OPENLINEAGE_MAX_BYTES = 2000
    event = as_json(training_events(str(uuid.uuid4()))[1])
    event["job"]["facets"]["sql"]["query"] = "SELECT " + "1, " * 1000 + "1"
    raw = json.dumps(event).encode()
    before = counts()
    for body, encoding in ((raw, ""), (gzip.compress(raw), "gzip")):
        response = post_raw(writer, body, encoding)
        assert (response.status_code, response.json()["code"]) == (413, "payload_too_large")
    assert counts() == before


@pytest.mark.django_db
def test_refusal_while_mapping_rolls_back_everything(writer):
    """A run id that belongs to another job is refused after datasets were registered; the
    transaction takes them back."""
    run_id = str(uuid.uuid4())
    ingest(run_event(run_id, "START", job="first"))
    before = counts()
    late = run_event(
        run_id,
        job="second",
        inputs=[dataset("s3://x", "new-input")],
        outputs=[dataset("s3://x", "new-output")],
    )
    response = post_raw(writer, json.dumps(late).encode())
    assert (response.status_code, response.json()["code"]) == (409, "run_job_mismatch")
    assert counts() == before


@pytest.mark.django_db
def test_write_scope_is_required(api):
    """Reading lineage does not allow writing it."""
    before = counts()
    response = post_raw(api("lineage:read"), json.dumps(run_event(str(uuid.uuid4()))).encode())
    assert (response.status_code, response.json()["code"]) == (403, "insufficient_scope")
    assert counts() == before


# Mapping rules, through the service


@pytest.mark.django_db
def test_unknown_facets_are_stored_verbatim():
    """Facets without a vendored schema are not validated, and are kept exactly on the job, the
    run and the output version."""
    event = run_event(
        str(uuid.uuid4()),
        job_facets={"piiScan": CUSTOM},
        outputs=[{**dataset("s3://x", "out"), "facets": {"piiScan": CUSTOM}}],
    )
    event["run"]["facets"] = {"piiScan": CUSTOM}
    ingest(event)
    assert models.Job.objects.get().facets == {"piiScan": CUSTOM}
    assert models.Run.objects.get().facets == {"piiScan": CUSTOM}
    assert models.DatasetVersion.objects.get().facets == {"piiScan": CUSTOM}
    assert models.OpenLineageEvent.objects.get().payload == event


@pytest.mark.django_db
def test_inputs_resolve_to_named_latest_or_first_version():
    """An input is the version its facet names, else the latest, else a new version "1"."""
    raw = models.Dataset.objects.create(namespace="s3://x", name="raw")
    models.DatasetVersion.objects.create(dataset=raw, version="a")
    models.DatasetVersion.objects.create(dataset=raw, version="b")
    ingest(
        run_event(
            str(uuid.uuid4()),
            "START",
            inputs=[
                dataset("s3://x", "raw"),
                dataset("s3://x", "pinned", version="2024-06"),
                dataset("s3://x", "fresh"),
            ],
        )
    )
    read = set(models.RunDataset.objects.values_list("version__dataset__name", "version__version"))
    assert read == {("raw", "b"), ("pinned", "2024-06"), ("fresh", "1")}


@pytest.mark.django_db
def test_output_version_named_by_its_facet_and_complete_resent():
    """The version facet names the output version; a COMPLETE sent again with another time
    (so not a byte-identical repeat) reuses the versions of that run."""
    run_id = str(uuid.uuid4())
    event = run_event(
        run_id,
        inputs=[dataset("s3://x", "raw")],
        outputs=[dataset("s3://x", "named", version="v9"), dataset("s3://x", "unnamed")],
    )
    first = ingest(event)
    event["eventTime"] = now().replace("+00:00", "Z")
    second = ingest(event)
    assert (first["duplicate"], second["duplicate"]) == (False, False)
    assert set(models.DatasetVersion.objects.values_list("dataset__name", "version")) == {
        ("raw", "1"),
        ("named", "v9"),
        ("unnamed", f"run-{run_id}"),
    }
    assert models.RunDataset.objects.filter(direction="input").count() == 1
    assert models.VersionEdge.objects.count() == 2


@pytest.mark.django_db
def test_failed_run_keeps_its_outputs_and_late_start_does_not_reopen():
    """A failed run may have written its outputs: they are versions it created, and the
    version edges say they derive from its inputs. A START arriving after it fills the start
    time only; OTHER never changes the state."""
    run_id = str(uuid.uuid4())
    failed = run_event(
        run_id, "FAIL", inputs=[dataset("s3://x", "raw")], outputs=[dataset("s3://x", "out")]
    )
    ingest(failed)
    late_start = run_event(run_id, "START")
    ingest(late_start)
    ingest(run_event(run_id, "OTHER"))
    run = models.Run.objects.get()
    assert run.state == "FAIL"
    assert run.ended_at == datetime.fromisoformat(failed["eventTime"])
    assert run.started_at == datetime.fromisoformat(late_start["eventTime"])
    out = models.DatasetVersion.objects.get(dataset__name="out")
    assert (out.version, out.created_by_run_id) == (f"run-{run_id}", run.pk)
    assert sorted(models.RunDataset.objects.values_list("direction", flat=True)) == [
        "input",
        "output",
    ]
    raw = models.DatasetVersion.objects.get(dataset__name="raw")
    assert list(models.VersionEdge.objects.values_list("source", "target")) == [(raw.pk, out.pk)]


@pytest.mark.django_db
def test_fine_tuning_and_evaluation_of_models():
    """A MODEL input makes the MODEL output a fine-tune of its latest version; an EVAL job
    records its data inputs as what the model input was evaluated on."""
    ingest(
        run_event(
            str(uuid.uuid4()),
            job="pretrain",
            inputs=[dataset("s3://x", "web")],
            outputs=[dataset("models", "base", version="1", kind="MODEL")],
        )
    )
    ingest(
        run_event(
            str(uuid.uuid4()),
            job="finetune",
            inputs=[dataset("models", "base", kind="MODEL"), dataset("s3://x", "chats")],
            outputs=[dataset("models", "assistant", version="2", kind="MODEL")],
        )
    )
    evaluation = facet(
        "JobTypeJobFacet", processingType="BATCH", integration="PYTHON", jobType="EVALUATION"
    )
    ingest(
        run_event(
            str(uuid.uuid4()),
            job="evaluate",
            job_facets={"jobType": evaluation},
            inputs=[
                dataset("models", "assistant", kind="MODEL"),
                dataset("s3://x", "khmer-qa", version="v1"),
            ],
        )
    )

    base = models.ModelVersion.objects.get(model__name="base")
    tuned = models.ModelVersion.objects.get(model__name="assistant")
    assert tuned.fine_tuned_from_id == base.pk
    assert set(tuned.data.values_list("version__dataset__name", "kind")) == {
        ("chats", "trained_on"),
        ("khmer-qa", "evaluated_on"),
    }
    assert set(base.data.values_list("version__dataset__name", "kind")) == {("web", "trained_on")}
    assert ("model:models:base", "model:models:assistant") in set(
        models.Edge.objects.values_list("source", "target")
    )
    assert not models.Dataset.objects.filter(namespace="models").exists()
