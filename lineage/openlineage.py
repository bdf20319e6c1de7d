"""OpenLineage ingestion: what openlineage-python's HTTP transport posts to /api/v1/lineage.

`ingest_event` decodes the body (gzip, bounded), parses it, checks it offline against the
OpenLineage schema version it declares (`openlineage_schemas`), and maps it onto the lineage
graph through `lineage.services` in one transaction. An event is identified by the SHA-256 of its
canonical JSON, so a client retrying after a lost response changes nothing.

Mapping:
- a dataset is (namespace, name); its facets are kept, unknown ones verbatim, on the version;
  the names its `symlinks` facet lists are aliases of it (one node, whichever name an event
  uses; names that were already separate nodes are merged into the one registered first,
  `services.dataset_merge`), and its `columnLineage` facet becomes column edges (the
  facet's `dataset` list, input fields that shape every row, is also kept as sent);
- a run input resolves to a version: the one its `version` facet names, else the version this
  run already read, else the dataset's latest version, else a new version "1";
- runs accumulate: every event of a run (START, RUNNING, COMPLETE, FAIL, ABORT, OTHER) adds
  its inputs and outputs; each output is a version named by its `version` facet or
  `run-<runId>`, written by the run whatever state it ends in (the run's state says whether
  it completed); OTHER does not change the state, and a late START does not reopen a run;
- an output whose `datasetType` facet is MODEL is a model version trained on the run's
  non-model inputs and fine-tuned from a model input; for a job whose `jobType` facet is
  EVALUATION or EVAL, the non-model inputs are instead what the model inputs were evaluated on;
- a DatasetEvent registers the dataset (and the version its `version` facet names, or a first
  version); a JobEvent registers the job and its datasets.

The answer lists the version each input and output became (`versions`), the schema version
the event was checked against and the warnings it earned; a duplicate gets the same answer.
"""

import contextlib
import gc
import hashlib
import json
import threading
import uuid
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import OuterRef, Subquery
from rest_framework import status

from core.errors import ApplicationError, Conflict, PayloadTooLarge
from core.parsers import storable
from lineage import openlineage_schemas, services
from lineage.models import (
    Dataset,
    DatasetVersion,
    ModelVersion,
    OpenLineageEvent,
    Run,
    RunDataset,
)
from lineage.services import DatasetRef, VersionInput, VersionRef
from lineage.signals import dataset_versions_named
from lineage.sql import among

# Decompressed bodies above this are refused, so a small gzip body cannot expand without bound.
# 5 MiB holds a run with thousands of columns of schema and column-lineage facets.
DEFAULT_MAX_BYTES = 5 * 1024 * 1024

TERMINAL_STATES = {"COMPLETE", "FAIL", "ABORT"}
EVALUATION_JOB_TYPES = {"EVALUATION", "EVAL"}
# Lengths of the model fields the names land in.
MAX_NAME = 500
MAX_VERSION = 200
# From this many inputs on, they are resolved in bulk (`_input_versions`); below it the
# one-at-a-time path is as fast and simpler to follow.
BULK_FROM = 50


class UnsupportedEncoding(ApplicationError):
    code = "unsupported_encoding"
    status_code = status.HTTP_415_UNSUPPORTED_MEDIA_TYPE


def ingest_event(*, raw: bytes, content_encoding: str) -> dict:
    """Record one OpenLineage event; the same event again is reported as a duplicate and
    writes nothing. Bad input raises an `ApplicationError` and writes nothing."""
    with _collector_paused():
        return _ingest(raw, content_encoding)


# Held by the event that paused the garbage collector (`_collector_paused`).
_PAUSE = threading.Lock()


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector held off while an event is ingested. An event with
    ten thousand inputs makes a few hundred thousand containers that live until it is
    recorded and form no cycles, and the collector would walk the process's whole heap
    several times over for them. The threads of a process share one collector: only the
    first of overlapping events pauses it, and it runs again (collecting whatever cycles
    they left) as soon as that one ends, so a steady stream of events never holds it off
    for longer than one event. A collector already off is left off."""
    owner = gc.isenabled() and _PAUSE.acquire(blocking=False)
    if owner:
        gc.disable()
    try:
        yield
    finally:
        if owner:
            gc.enable()
            _PAUSE.release()


def _ingest(raw: bytes, content_encoding: str) -> dict:
    event = _parse(_decode(raw, content_encoding))
    kind = _event_kind(event)
    outcome = _validate(event, kind)
    canonical = json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    summary = {
        **_summary(event, kind, digest),
        "schema": outcome.schema,
        "warnings": outcome.warnings,
    }
    stored = OpenLineageEvent.objects.filter(digest=digest).values_list("versions", flat=True)
    if stored.exists():
        return {**summary, "duplicate": True, "versions": stored.first()}
    try:
        with transaction.atomic():
            # Inserted first: a concurrent copy of this event waits on the unique digest and
            # then fails, instead of applying the event a second time.
            row = OpenLineageEvent.objects.create(
                digest=digest,
                event_type=kind,
                event_time=_time(event["eventTime"]),
                payload=event,
            )
            row.versions = APPLY[kind](event)
            # Kept so that a client retrying after a lost answer gets the same answer.
            row.save(update_fields=["versions"])
            named = [
                entry["id"]
                for entries in row.versions.values()
                for entry in entries
                if "dataset" in entry
            ]
            if named:
                dataset_versions_named.send(sender=OpenLineageEvent, version_ids=named)
    except IntegrityError:
        if stored.exists():
            return {**summary, "duplicate": True, "versions": stored.first()}
        # A concurrent event changed the same datasets (a merge moved a version this one was
        # writing to, or created the same name first): nothing of this event was kept, and
        # sending it again applies it to the graph as it now is.
        raise Conflict(
            "A concurrent event changed the same datasets; send the event again.",
            code="concurrent_change",
        ) from None
    return {**summary, "duplicate": False, "versions": row.versions}


# Decoding and parsing


def _max_bytes() -> int:
    return getattr(settings, "LUP_OPENLINEAGE_MAX_BYTES", DEFAULT_MAX_BYTES)


def _decode(raw: bytes, content_encoding: str) -> bytes:
    limit = _max_bytes()
    encoding = content_encoding.strip().lower()
    if encoding in ("", "identity"):
        body = raw
    elif encoding in ("gzip", "x-gzip"):
        body = _gunzip(raw, limit)
    else:
        raise UnsupportedEncoding(
            "Content-Encoding is gzip or none.", fields={"Content-Encoding": "unsupported"}
        )
    if len(body) > limit:
        raise PayloadTooLarge(f"Events are limited to {limit} bytes.")
    return body


def _gunzip(raw: bytes, limit: int) -> bytes:
    """Decompress gzip (several members allowed), stopping as soon as the output passes
    `limit`: a few kilobytes of zeros can otherwise expand to gigabytes."""
    chunks: list[bytes] = []
    total = 0
    data = raw
    while True:
        decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            chunk = decompressor.decompress(data, limit + 1 - total)
        except zlib.error:
            raise ApplicationError("The body is not valid gzip.", code="invalid_encoding") from None
        total += len(chunk)
        if total > limit:
            raise PayloadTooLarge(f"Events are limited to {limit} bytes once decompressed.")
        if not decompressor.eof:
            raise ApplicationError("The gzip body is truncated.", code="invalid_encoding")
        chunks.append(chunk)
        data = decompressor.unused_data
        if not data:
            return b"".join(chunks)


def _refuse_constant(name: str) -> Any:
    raise ValueError(name)


def _parse(body: bytes) -> Any:
    try:
        parsed = json.loads(body, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        # ValueError covers bad UTF-8, bad JSON and NaN/Infinity, which JSON does not have.
        raise ApplicationError("The body is not valid JSON.", code="invalid_json") from None
    if not storable(parsed):
        raise ApplicationError(
            "Strings may not hold NUL characters or unpaired surrogates.", code="invalid_json"
        )
    return parsed


# Validation


def _event_kind(event: Any) -> str:
    if isinstance(event, dict):
        if "run" in event:
            return "run"
        if "dataset" in event:
            return "dataset"
        if "job" in event:
            return "job"
    raise ApplicationError(
        "An event is a RunEvent (run and job), a DatasetEvent (dataset) or a JobEvent (job).",
        code="schema_violation",
        fields={"$": "oneOf"},
    )


def _validate(event: dict, kind: str) -> openlineage_schemas.Outcome:
    """The schema check, then what Lup itself needs to store the event: a UUID run id and an
    eventTime it can read (a naive one is read as UTC, with a warning)."""
    outcome = openlineage_schemas.check(event, kind)
    if not outcome.problems:
        if kind == "run" and not _is_uuid(event["run"]["runId"]):
            outcome.problems["$.run.runId"] = "format"
        try:
            _time(event["eventTime"])
        except ValueError:
            outcome.problems["$.eventTime"] = "format"
        else:
            if datetime.fromisoformat(event["eventTime"]).tzinfo is None:
                outcome.warnings.append("eventTime has no offset; read as UTC.")
    if outcome.problems:
        raise ApplicationError(
            "The event does not follow the OpenLineage schema.",
            code="schema_violation",
            fields=outcome.problems,
        )
    _check_counts(event)
    _check_lengths(event)
    return outcome


def _check_counts(event: dict) -> None:
    """At most `LUP_OPENLINEAGE_MAX_DATASETS` inputs and as many outputs in one event, so one
    request cannot make unbounded work (wider events are split by the producer)."""
    limit = settings.LUP_OPENLINEAGE_MAX_DATASETS
    over = {
        f"$.{side}": f"max_{limit}"
        for side in ("inputs", "outputs")
        if len(event.get(side) or ()) > limit
    }
    if over:
        raise ApplicationError(
            f"An event lists at most {limit} inputs and {limit} outputs.",
            code="too_many_datasets",
            fields=over,
        )


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _check_lengths(event: dict) -> None:
    too_long: dict[str, str] = {}
    named = [("$.job", event.get("job")), ("$.dataset", event.get("dataset"))]
    for direction in ("inputs", "outputs"):
        named += [(f"$.{direction}[{i}]", d) for i, d in enumerate(event.get(direction) or [])]
    for path, node in named:
        if not isinstance(node, dict):
            continue
        for key in ("namespace", "name"):
            value = node.get(key, "")
            if isinstance(value, str) and len(value) > MAX_NAME:
                too_long[f"{path}.{key}"] = "too_long"
        version = _version_name(node)
        if version is not None and len(version) > MAX_VERSION:
            too_long[f"{path}.facets.version.datasetVersion"] = "too_long"
    if too_long:
        raise ApplicationError(
            f"Names are at most {MAX_NAME} characters, versions {MAX_VERSION}.",
            code="value_too_long",
            fields=too_long,
        )


# Mapping onto the graph


def _facet(node: dict, name: str) -> dict:
    facets = node.get("facets")
    # A node the schema does not describe (a `dataset` key on a RunEvent) may hold anything.
    facet = facets.get(name) if isinstance(facets, dict) else None
    return facet if isinstance(facet, dict) and facet.get("_deleted") is not True else {}


def _version_name(node: dict) -> str | None:
    version = _facet(node, "version").get("datasetVersion")
    return version if isinstance(version, str) and version else None


def _is_model(node: dict) -> bool:
    return str(_facet(node, "datasetType").get("datasetType", "")).upper() == "MODEL"


def _time(value: str) -> datetime:
    """An RFC 3339 time; one without an offset is read as UTC, as Marquez does."""
    if len(value) < 11 or value[10] not in "Tt ":
        raise ValueError(value)
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _dataset(node: dict) -> Dataset:
    description = _facet(node, "documentation").get("description")
    return services.dataset_register(
        namespace=node["namespace"],
        name=node["name"],
        description=description if isinstance(description, str) else "",
        aliases=_symlinks(node),
    )


def _symlinks(node: dict) -> list[tuple[str, str, str]]:
    """The other names the `symlinks` facet gives a dataset: (namespace, name, type)."""
    identifiers = _facet(node, "symlinks").get("identifiers")
    names = []
    for item in identifiers if isinstance(identifiers, list) else []:
        if not isinstance(item, dict):
            continue
        namespace, name, kind = item.get("namespace"), item.get("name"), item.get("type", "")
        if not (isinstance(namespace, str) and isinstance(name, str) and isinstance(kind, str)):
            continue
        if max(len(namespace), len(name)) > MAX_NAME:
            raise ApplicationError(
                f"Names are at most {MAX_NAME} characters.",
                code="value_too_long",
                fields={"symlinks.identifiers": "too_long"},
            )
        names.append((namespace, name, kind))
    return names


def _column_lineage(node: dict, dataset: Dataset, run: Run | None) -> None:
    facet = _facet(node, "columnLineage")
    fields, wide = facet.get("fields"), facet.get("dataset")
    if not isinstance(fields, dict) and not isinstance(wide, list):
        return
    schema = _facet(node, "schema").get("fields")
    services.column_lineage_record(
        target=dataset,
        fields=fields if isinstance(fields, dict) else {},
        run=run,
        dataset_wide=wide if isinstance(wide, list) else None,
        target_fields=[
            f["name"]
            for f in (schema if isinstance(schema, list) else [])
            if isinstance(f, dict) and isinstance(f.get("name"), str) and f["name"]
        ],
    )


def _kept_facets(node: dict) -> dict:
    """A dataset's facets as sent; an output's run-specific facets go under "outputFacets"."""
    facets = dict(node.get("facets") or {})
    if node.get("outputFacets"):
        facets["outputFacets"] = node["outputFacets"]
    return facets


def _version_data(node: dict, version: str) -> VersionInput:
    fields = _facet(node, "schema").get("fields")
    statistics = (node.get("outputFacets") or {}).get("outputStatistics")
    row_count = statistics.get("rowCount") if isinstance(statistics, dict) else None
    return VersionInput(
        version=version,
        schema_fields=fields if isinstance(fields, list) else (),
        record_count=row_count if isinstance(row_count, int) else None,
        facets=_kept_facets(node),
    )


def _version_get_or_register(
    dataset: Dataset, data: VersionInput, created_by_run: Run | None = None
) -> DatasetVersion:
    """Versions are immutable: one that exists is taken as it is."""
    existing = DatasetVersion.objects.filter(dataset=dataset, version=data.version).first()
    if existing is not None:
        return existing
    return services.version_register(dataset=dataset, data=data, created_by_run=created_by_run)


def _input_version(node: dict, run_id: str) -> DatasetVersion:
    dataset = _dataset(node)
    named = _version_name(node)
    if named is not None:
        return _version_get_or_register(dataset, _version_data(node, named))
    # Between START and COMPLETE the dataset may gain versions (this run's own output among
    # them): the version the run already read stays its input.
    already = (
        RunDataset.objects.filter(run__run_id=run_id, direction="input", version__dataset=dataset)
        .select_related("version")
        .first()
    )
    if already is not None:
        return already.version
    latest = dataset.versions.exclude(created_by_run__run_id=run_id).order_by("-created_at").first()
    if latest is not None:
        return latest
    return _version_get_or_register(dataset, _version_data(node, "1"))


def _input_versions(nodes: list[dict], run_id: str) -> list[DatasetVersion | VersionRef]:
    """`_input_version` for every node, in their order, in a few statements whatever their
    number (an event may name thousands of inputs), and without a model instance a node.
    Nodes whose facets ask for more (aliases, a description) take the one-at-a-time path."""
    plain = [n for n in nodes if not (_facet(n, "symlinks") or _facet(n, "documentation"))]
    if len(plain) < BULK_FROM:
        return [_input_version(node, run_id) for node in nodes]
    resolved: dict[int, VersionRef] = {}
    datasets, fresh = services.datasets_register_bulk(
        names=[(n["namespace"], n["name"]) for n in plain]
    )
    named, unnamed = [], []
    for node in plain:
        (named if _version_name(node) is not None else unnamed).append(node)
    for node, version in zip(
        named,
        services.versions_get_or_register_bulk(
            items=[
                (datasets[(n["namespace"], n["name"])], _version_data(n, _version_name(n)))
                for n in named
            ]
        ),
        strict=True,
    ):
        resolved[id(node)] = version
    by_dataset = {datasets[(n["namespace"], n["name"])].pk: n for n in unnamed}
    # The version this run already read (the first it read: rows come newest first), else
    # the latest not written by this run.
    chosen: dict[int, VersionRef] = {}
    already = RunDataset.objects.filter(run__run_id=run_id, direction="input").order_by("-pk")
    for dataset_id, pk, version, node_id in already.values_list(
        "version__dataset_id", "version_id", "version__version", "version__dataset__node_id"
    ):
        if dataset_id in by_dataset:
            chosen[dataset_id] = VersionRef(pk, version, DatasetRef(dataset_id, node_id))
    rest = by_dataset.keys() - chosen.keys() - fresh  # a new dataset has no latest version
    if rest:
        latest = (
            DatasetVersion.objects.filter(dataset=OuterRef("pk"))
            .exclude(created_by_run__run_id=run_id)
            .order_by("-created_at")
        )
        latest_ids = (
            Dataset.objects.filter(among(Dataset, "id", rest))
            .annotate(latest=Subquery(latest.values("pk")[:1]))
            .exclude(latest=None)
            .values_list("latest", flat=True)
        )
        wanted = DatasetVersion.objects.filter(among(DatasetVersion, "id", list(latest_ids)))
        for pk, version, dataset_id, node_id in wanted.values_list(
            "pk", "version", "dataset_id", "dataset__node_id"
        ):
            chosen[dataset_id] = VersionRef(pk, version, DatasetRef(dataset_id, node_id))
    first = [n for d, n in by_dataset.items() if d not in chosen]
    created = services.versions_get_or_register_bulk(
        items=[(datasets[(n["namespace"], n["name"])], _version_data(n, "1")) for n in first]
    )
    for version in created:
        chosen[version.dataset.pk] = version
    for node in unnamed:
        resolved[id(node)] = chosen[datasets[(node["namespace"], node["name"])].pk]
    return [
        resolved[id(node)] if id(node) in resolved else _input_version(node, run_id)
        for node in nodes
    ]


def _model_version(node: dict) -> ModelVersion:
    """The model version a run read: the one its version facet names, else the latest."""
    named = _version_name(node)
    if named is None:
        latest = (
            ModelVersion.objects.filter(
                model__namespace=node["namespace"], model__name=node["name"]
            )
            .order_by("-created_at")
            .first()
        )
        if latest is not None:
            return latest
    return services.model_version_register(
        namespace=node["namespace"],
        name=node["name"],
        version=named or "1",
    )


def _next_state(run_id: str, state: str) -> str:
    """A late START or RUNNING does not reopen a run that already ended, and OTHER (extra
    metadata) leaves the state as it was."""
    current = Run.objects.filter(run_id=run_id).values_list("state", flat=True).first()
    if current is None:
        return state
    if current in TERMINAL_STATES and state not in TERMINAL_STATES:
        return current
    if state == "OTHER":
        return current
    return state


def _entry(node: dict, version: DatasetVersion | VersionRef | ModelVersion) -> dict[str, str]:
    """What one input or output of an event became: the version, by name and id, of the
    node it landed on (a `symlinks` alias lands on its dataset)."""
    if isinstance(version, ModelVersion):
        kind, node_id = "model", version.model.node_id
    else:
        kind, node_id = "dataset", version.dataset.node_id
    return {
        "namespace": node["namespace"],
        "name": node["name"],
        kind: node_id,
        "version": version.version,
        "id": str(version.pk),
    }


def _apply_run(event: dict) -> dict[str, list]:
    """Runs accumulate: the inputs and outputs of every event of a run, whatever its type,
    are combined (the run cycle's rule). An output is a version of the dataset as soon as an
    event names it, even if the run then fails or never completes: data may have been written
    (a streaming job's sink fills while it runs), so erasure must look there too."""
    run_node, job_node = event["run"], event["job"]
    run_id = run_node["runId"]
    event_type = event.get("eventType") or "OTHER"
    # Times come from the event's own type: a late START still fills in started_at.
    at = _time(event["eventTime"])
    times = {}
    if event_type in ("START", "RUNNING"):
        times["started_at"] = at
    elif event_type in TERMINAL_STATES:
        times["ended_at"] = at
    job = services.job_register(
        namespace=job_node["namespace"], name=job_node["name"], facets=job_node.get("facets") or {}
    )
    inputs = event.get("inputs") or []
    data_nodes = [node for node in inputs if not _is_model(node)]
    model_nodes = [node for node in inputs if _is_model(node)]
    data_inputs = _input_versions(data_nodes, run_id)
    report: dict[str, list] = {
        "inputs": [_entry(n, v) for n, v in zip(data_nodes, data_inputs, strict=True)],
        "outputs": [],
    }
    state = _next_state(run_id, event_type)
    run = services.run_record(
        run_id=run_id,
        job=job,
        state=state,
        inputs=data_inputs,
        facets=run_node.get("facets") or {},
        derive=False,  # the call below, with the outputs, derives the edges of both
        **times,
    )
    model_inputs = [_model_version(node) for node in model_nodes]
    report["inputs"] += [_entry(n, v) for n, v in zip(model_nodes, model_inputs, strict=True)]
    evaluation = str(_facet(job_node, "jobType").get("jobType", "")).upper()
    evaluating = evaluation in EVALUATION_JOB_TYPES
    model_outputs = [node for node in event.get("outputs") or [] if _is_model(node)]
    if model_outputs or evaluating:
        # Every data input of the run so far, not only this event's.
        data_inputs = [
            rd.version
            for rd in run.datasets.filter(direction="input").select_related("version__dataset")
        ]
    outputs = []
    for node in event.get("outputs") or []:
        version = _version_name(node) or f"run-{run_id}"
        if _is_model(node):
            model_version = services.model_version_register(
                namespace=node["namespace"],
                name=node["name"],
                version=version,
                trained_on=() if evaluating else data_inputs,
                fine_tuned_from=None if evaluating or not model_inputs else model_inputs[0],
                created_by_run=run,
                facets=_kept_facets(node),
            )
            report["outputs"].append(_entry(node, model_version))
            continue
        dataset = _dataset(node)
        outputs.append(
            _version_get_or_register(dataset, _version_data(node, version), created_by_run=run)
        )
        report["outputs"].append(_entry(node, outputs[-1]))
        _column_lineage(node, dataset, run)
    if evaluating:
        for model_version in model_inputs:
            services.model_version_register(
                namespace=model_version.model.namespace,
                name=model_version.model.name,
                version=model_version.version,
                evaluated_on=data_inputs,
                created_by_run=run,
            )
    services.run_record(run_id=run_id, job=job, state=state, outputs=outputs)
    return report


def _apply_dataset(event: dict) -> dict[str, list]:
    node = event["dataset"]
    named = _version_name(node)
    if _is_model(node):
        if named is None:
            return {"dataset": []}
        model_version = services.model_version_register(
            namespace=node["namespace"],
            name=node["name"],
            version=named,
            facets=node.get("facets") or {},
        )
        return {"dataset": [_entry(node, model_version)]}
    dataset = _dataset(node)
    _column_lineage(node, dataset, None)
    if named is not None:
        version = _version_get_or_register(dataset, _version_data(node, named))
    else:
        version = dataset.versions.order_by("-created_at").first() or _version_get_or_register(
            dataset, _version_data(node, "1")
        )
    return {"dataset": [_entry(node, version)]}


def _apply_job(event: dict) -> dict[str, list]:
    """A job's declared (static) lineage: the job, its datasets and the edges between them."""
    job_node = event["job"]
    job = services.job_register(
        namespace=job_node["namespace"], name=job_node["name"], facets=job_node.get("facets") or {}
    )
    inputs = [_dataset(n) for n in event.get("inputs") or [] if not _is_model(n)]
    outputs = []
    for node in event.get("outputs") or []:
        if not _is_model(node):
            outputs.append(_dataset(node))
            _column_lineage(node, outputs[-1], None)
    services.job_lineage_declare(job=job, inputs=inputs, outputs=outputs)
    return {}  # a job's declared lineage names datasets, not versions


APPLY = {"run": _apply_run, "dataset": _apply_dataset, "job": _apply_job}


def _summary(event: dict, kind: str, digest: str) -> dict[str, Any]:
    summary: dict[str, Any] = {"event": kind, "digest": f"sha256:{digest}"}
    if kind == "run":
        summary["run_id"] = event["run"]["runId"]
        summary["event_type"] = event.get("eventType") or "OTHER"
    else:
        node = event[kind]
        summary["namespace"], summary["name"] = node["namespace"], node["name"]
    return summary
