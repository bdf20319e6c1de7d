"""Node data of the lineage graph as Marquez serves it (`GET /api/v1/lineage`).

Marquez's UI and clients read a dataset node's `data` as its `Dataset` schema (DatasetData:
`type` DB_TABLE or STREAM, `physicalName`, `sourceName`, `fields`, `tags`, times, the last
lifecycle state) and a job node's as its `Job` schema (JobData: `type` BATCH, STREAM or
SERVICE, `simpleName`, `parentJobName`, `inputs`, `outputs`, `location`, `latestRun`). The
schemas are vendored in `schemas/marquez/openapi-lineage.yml`; every graph answer in the tests
validates against them. Marquez's OpenAPI declares nothing nullable, so a key whose value
would be null is left out rather than sent as null.

Only reads; one query per kind of row, whatever the number of nodes.
"""

from typing import Any

from django.db.models import OuterRef, Subquery

from lineage.models import (
    Dataset,
    DatasetVersion,
    Edge,
    Job,
    Model,
    ModelVersion,
    Run,
    RunDataset,
)

# OpenLineage's run states as Marquez names them (its RunState enum).
RUN_STATES = {
    "START": "RUNNING",
    "RUNNING": "RUNNING",
    "COMPLETE": "COMPLETED",
    "FAIL": "FAILED",
    "ABORT": "ABORTED",
    "OTHER": "NEW",
}
STREAM_DATASET_TYPES = {"STREAM", "TOPIC"}
STREAM_SCHEMES = ("kafka://", "kinesis://", "pubsub://", "pulsar://")


def _iso(value) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def _drop_nulls(data: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in data.items() if value is not None}


def _facet(facets: dict, name: str) -> dict:
    facet = (facets or {}).get(name)
    return facet if isinstance(facet, dict) else {}


def datasets_data(node_ids: list[str]) -> dict[str, dict[str, Any]]:
    latest = DatasetVersion.objects.filter(dataset=OuterRef("pk")).order_by("-created_at")
    datasets = list(
        Dataset.objects.filter(node_id__in=node_ids).annotate(
            latest_id=Subquery(latest.values("pk")[:1])
        )
    )
    versions = DatasetVersion.objects.select_related("created_by_run").in_bulk(
        [d.latest_id for d in datasets if d.latest_id]
    )
    # When a successful run last wrote each dataset (Marquez's lastModifiedAt).
    modified: dict[int, Any] = {}
    # Through the versions' ids: the index on RunDataset.version answers it (a join on the
    # dataset does not).
    version_ids = DatasetVersion.objects.filter(dataset__in=datasets).values("pk")
    for dataset_id, ended, created in RunDataset.objects.filter(
        version_id__in=version_ids, direction="output", run__state="COMPLETE"
    ).values_list("version__dataset_id", "run__ended_at", "version__created_at"):
        at = ended or created
        if dataset_id not in modified or at > modified[dataset_id]:
            modified[dataset_id] = at
    data = {}
    for dataset in datasets:
        version = versions.get(dataset.latest_id)
        facets = version.facets if version is not None else {}
        dataset_type = str(_facet(facets, "datasetType").get("datasetType", "")).upper()
        streaming = dataset_type in STREAM_DATASET_TYPES or dataset.namespace.startswith(
            STREAM_SCHEMES
        )
        source = _facet(facets, "dataSource").get("name")
        lifecycle = _facet(facets, "lifecycleStateChange").get("lifecycleStateChange")
        data[dataset.node_id] = _drop_nulls(
            {
                "id": {"namespace": dataset.namespace, "name": dataset.name},
                "type": "STREAM" if streaming else "DB_TABLE",
                "name": dataset.name,
                "physicalName": dataset.name,
                "createdAt": _iso(dataset.created_at),
                "updatedAt": _iso(version.created_at if version else dataset.created_at),
                "namespace": dataset.namespace,
                "sourceName": source if isinstance(source, str) else dataset.namespace,
                "fields": _fields(version.schema_fields if version else []),
                "tags": [],
                "lastModifiedAt": _iso(modified.get(dataset.pk)),
                "lastLifecycleState": lifecycle if isinstance(lifecycle, str) else None,
                "description": dataset.description or None,
                "currentVersion": str(version.pk) if version else None,
                "deleted": False,
            }
        )
    return data


def _fields(schema_fields) -> list[dict[str, Any]]:
    fields = []
    for field in schema_fields or []:
        if not isinstance(field, dict) or not isinstance(field.get("name"), str):
            continue
        kind, description = field.get("type"), field.get("description")
        fields.append(
            _drop_nulls(
                {
                    "name": field["name"],
                    "type": kind if isinstance(kind, str) else None,
                    "tags": [],
                    "description": description if isinstance(description, str) else None,
                }
            )
        )
    return fields


def jobs_data(node_ids: list[str]) -> dict[str, dict[str, Any]]:
    latest = Run.objects.filter(job=OuterRef("pk")).order_by("-started_at", "-pk")
    jobs = list(
        Job.objects.filter(node_id__in=node_ids).annotate(
            latest_run_id=Subquery(latest.values("pk")[:1])
        )
    )
    runs = Run.objects.in_bulk([j.latest_run_id for j in jobs if j.latest_run_id])
    run_versions: dict[int, dict[str, list]] = {pk: {"input": [], "output": []} for pk in runs}
    for run_id, direction, namespace, name, version_id in (
        RunDataset.objects.filter(run_id__in=runs)
        .order_by("version__dataset__namespace", "version__dataset__name")
        .values_list(
            "run_id",
            "direction",
            "version__dataset__namespace",
            "version__dataset__name",
            "version_id",
        )
    ):
        run_versions[run_id][direction].append(
            {"namespace": namespace, "name": name, "version": str(version_id)}
        )
    ids = [j.node_id for j in jobs]
    inputs: dict[str, list] = {i: [] for i in ids}
    outputs: dict[str, list] = {i: [] for i in ids}
    edges = Edge.objects.values_list("source", "target")
    for source, target in edges.filter(target__in=ids, source__startswith="dataset:"):
        inputs[target].append(source)
    for source, target in edges.filter(source__in=ids, target__startswith="dataset:"):
        outputs[source].append(target)
    names = {
        d.node_id: {"namespace": d.namespace, "name": d.name}
        for d in Dataset.objects.filter(
            node_id__in={n for group in (*inputs.values(), *outputs.values()) for n in group}
        )
    }
    data = {}
    for job in jobs:
        facets = job.facets or {}
        run = runs.get(job.latest_run_id)
        parent = _facet(run.facets if run else {}, "parent").get("job")
        location = _facet(facets, "sourceCodeLocation").get("url")
        description = _facet(facets, "documentation").get("description")
        data[job.node_id] = _drop_nulls(
            {
                "id": {"namespace": job.namespace, "name": job.name},
                "type": _job_type(facets),
                "name": job.name,
                "simpleName": job.name.rsplit(".", 1)[-1],
                "parentJobName": parent.get("name") if isinstance(parent, dict) else None,
                "createdAt": _iso(job.created_at),
                "updatedAt": _iso((run.ended_at or run.started_at) if run else job.created_at),
                "namespace": job.namespace,
                "inputs": sorted(
                    (names[n] for n in inputs[job.node_id] if n in names),
                    key=lambda d: (d["namespace"], d["name"]),
                ),
                "outputs": sorted(
                    (names[n] for n in outputs[job.node_id] if n in names),
                    key=lambda d: (d["namespace"], d["name"]),
                ),
                "location": location if isinstance(location, str) else None,
                "description": description if isinstance(description, str) else None,
                "latestRun": _run(run, run_versions.get(run.pk)) if run else None,
            }
        )
    return data


def _job_type(facets: dict) -> str:
    job_type = _facet(facets, "jobType")
    if str(job_type.get("processingType", "")).upper() == "STREAMING":
        return "STREAM"
    if str(job_type.get("jobType", "")).upper() == "SERVICE":
        return "SERVICE"
    return "BATCH"


def _run(run: Run, versions: dict[str, list] | None) -> dict[str, Any]:
    duration = None
    if run.started_at and run.ended_at:
        duration = int((run.ended_at - run.started_at).total_seconds() * 1000)
    return _drop_nulls(
        {
            "id": str(run.run_id),
            "createdAt": _iso(run.started_at or run.ended_at),
            "updatedAt": _iso(run.ended_at or run.started_at),
            "state": RUN_STATES.get(run.state, "NEW"),
            "startedAt": _iso(run.started_at),
            "endedAt": _iso(run.ended_at),
            "durationMs": duration,
            "inputVersions": (versions or {}).get("input", []),
            "outputVersions": (versions or {}).get("output", []),
        }
    )


def models_data(node_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Lup's addition: a model node's data (Marquez has no models)."""
    latest = ModelVersion.objects.filter(model=OuterRef("pk")).order_by("-created_at")
    data = {}
    for model in Model.objects.filter(node_id__in=node_ids).annotate(
        latest_version=Subquery(latest.values("version")[:1])
    ):
        data[model.node_id] = _drop_nulls(
            {
                "id": {"namespace": model.namespace, "name": model.name},
                "type": "MODEL",
                "name": model.name,
                "namespace": model.namespace,
                "createdAt": _iso(model.created_at),
                "latestVersion": model.latest_version,
            }
        )
    return data
