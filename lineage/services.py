"""Writes of the lineage graph: registering datasets, versions, locations, jobs, runs and models.

Every write keeps the two derived tables in step: `Edge` (the dataset/job/model graph) and
`VersionEdge` (which version was derived from which), so reads are single recursive queries.
"""

import hashlib
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

import pycountry
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from core.errors import ApplicationError, Conflict, NotFound
from lineage.models import (
    ColumnEdge,
    Dataset,
    DatasetAlias,
    DatasetVersion,
    DatasetWideInput,
    Edge,
    Job,
    Model,
    ModelData,
    ModelVersion,
    Run,
    RunDataset,
    StorageLocation,
    VersionEdge,
    node_id_for,
)
from lineage.signals import dataset_versions_named
from lineage.sql import among, column_type

# The length of `DatasetVersion.version`.
MAX_VERSION_NAME = 200


@dataclass(frozen=True)
class LocationInput:
    system: str
    uri: str
    country: str
    region: str = ""
    provider: str = ""
    transfer_basis: str = ""


@dataclass(frozen=True)
class VersionInput:
    version: str
    digest: str = ""
    record_count: int | None = None
    schema_fields: Sequence[dict[str, Any]] = ()
    data_categories: Sequence[str] = ()
    purposes: Sequence[str] = ()
    languages: Sequence[str] = ()
    origin: str = ""
    facets: dict[str, Any] = field(default_factory=dict)
    locations: Sequence[LocationInput] = ()


def country_code(value: str) -> str:
    # pycountry matches case-insensitively; stored codes are upper case, as ISO writes them.
    if (
        not isinstance(value, str)
        or len(value) != 2
        or not value.isupper()
        or pycountry.countries.get(alpha_2=value) is None
    ):
        raise ApplicationError(
            "country is an ISO 3166-1 alpha-2 code.",
            code="invalid_country",
            fields={"country": "invalid_country"},
        )
    return value


def is_language_code(value: object) -> bool:
    """An ISO 639-1 or 639-3 code in lower case (`km`, `fil`)."""
    return (
        isinstance(value, str)
        and value == value.lower()
        and (
            pycountry.languages.get(alpha_2=value) is not None
            or pycountry.languages.get(alpha_3=value) is not None
        )
    )


def language_code(value: str) -> str:
    """`value`, when it is a language code; otherwise refused."""
    if not is_language_code(value):
        raise ApplicationError(
            "languages are ISO 639-1 or 639-3 codes, such as km or fil.",
            code="invalid_language",
            fields={"languages": "invalid_language"},
        )
    return value


def dataset_register(
    *,
    namespace: str,
    name: str,
    description: str = "",
    license: str = "",
    aliases: Sequence[tuple[str, str, str]] = (),
) -> Dataset:
    """The dataset named (namespace, name), registered if new. `aliases` are its other names
    (namespace, name, type), as OpenLineage's `symlinks` facet gives them: every name of a
    table lands on one node. A name already known, as a dataset or an alias, makes this name
    an alias of that dataset instead of a new one; names that are already two datasets (a
    table first seen by its metastore name, later by its location) are merged into one
    (`dataset_merge`)."""
    if not namespace or not name:
        raise ApplicationError("A dataset needs a namespace and a name.", code="invalid_dataset")
    with transaction.atomic():
        dataset = _dataset_named(namespace, name)
        known = {d.pk: d for d in [dataset] if d is not None}
        kinds: dict[int, str] = {}
        for alias_namespace, alias_name, kind in aliases:
            found = _dataset_named(alias_namespace, alias_name)
            if found is not None:
                known.setdefault(found.pk, found)
                kinds.setdefault(found.pk, kind)
        if known:
            survivor, *others = sorted(known.values(), key=lambda d: d.pk)
            for other in others:
                survivor = dataset_merge(into=survivor, other=other, type=kinds.get(other.pk, ""))
            if dataset is None:
                dataset_alias_add(dataset=survivor, namespace=namespace, name=name)
            dataset = survivor
        if dataset is None:
            dataset, _ = Dataset.objects.get_or_create(
                namespace=namespace,
                name=name,
                defaults={"description": description, "license": license},
            )
        updates = {
            key: value
            for key, value in (("description", description), ("license", license))
            if value and getattr(dataset, key) != value
        }
        if updates:
            for key, value in updates.items():
                setattr(dataset, key, value)
            dataset.save(update_fields=list(updates))
        for alias_namespace, alias_name, kind in aliases:
            dataset_alias_add(
                dataset=dataset, namespace=alias_namespace, name=alias_name, type=kind
            )
    return dataset


def dataset_merge(*, into: Dataset, other: Dataset, type: str = "") -> Dataset:
    """Make `other` a name of `into`: one node from then on, whichever name an event, a graph
    query or a version listing uses. Everything hangs on the survivor: `other`'s versions move
    (with their ids, so their runs, memberships, locations, model data, derivations and target
    ties stay as they are), and so do its aliases, its column lineage and its graph edges;
    `other`'s own name becomes an alias; `other` is deleted. One transaction: all or nothing.

    A version name both datasets have (each wrote `v1`) is kept twice: `other`'s is renamed
    `<version> (as <namespace>/<name>)`, its old dataset's name, so no version is lost.

    Callers pick `into` as the dataset registered first (the lower id): the node whose id
    plans, receipts and bookmarks have held longest keeps it, whichever name the event that
    ties the two used. The versions of the merged node are announced as named
    (`dataset_versions_named`), so a target pointing at either name stores them all."""
    if into.pk == other.pk:
        return into
    with transaction.atomic():
        # Both rows locked in id order, so two events merging the same pair do not deadlock.
        locked = {
            d.pk: d
            for d in Dataset.objects.select_for_update()
            .filter(pk__in=[into.pk, other.pk])
            .order_by("pk")
        }
        if into.pk not in locked:
            # Merged into an older name by a concurrent event since it was read: this event's
            # transaction is undone, and the client's retry finds the names as they now are.
            raise Conflict(
                "The dataset was merged with another meanwhile; send the event again.",
                code="dataset_merged_meanwhile",
            )
        if other.pk not in locked:  # merged by a concurrent event meanwhile
            return locked[into.pk]
        into, other = locked[into.pk], locked[other.pk]
        names = DatasetVersion.objects.values_list("version", flat=True)
        shared = set(names.filter(dataset=into))
        taken = shared | set(names.filter(dataset=other))
        for version in DatasetVersion.objects.filter(dataset=other, version__in=shared):
            version.version = _free_version_name(version.version, other, taken)
            taken.add(version.version)
            version.save(update_fields=["version"])
        DatasetVersion.objects.filter(dataset=other).update(dataset=into)
        DatasetAlias.objects.filter(
            dataset=other, namespace=into.namespace, name=into.name
        ).delete()
        DatasetAlias.objects.filter(dataset=other).update(dataset=into)
        _rows_move(ColumnEdge, COLUMN_EDGE_KEY, into=into, other=other)
        _rows_move(DatasetWideInput, WIDE_INPUT_KEY, into=into, other=other)
        _graph_edges_move(into=into.node_id, other=other.node_id)
        updates = [
            key
            for key in ("description", "license")
            if not getattr(into, key) and getattr(other, key)
        ]
        for key in updates:
            setattr(into, key, getattr(other, key))
        if updates:
            into.save(update_fields=updates)
        named = (other.namespace, other.name)
        other.delete()
        DatasetAlias.objects.create(
            dataset=into, namespace=named[0], name=named[1], type=type[:100]
        )
        version_ids = [str(pk) for pk in into.versions.values_list("pk", flat=True)]
        if version_ids:
            dataset_versions_named.send(sender=Dataset, version_ids=version_ids)
    return into


def _free_version_name(version: str, other: Dataset, taken: set[str]) -> str:
    """A name for `other`'s version `version` that neither dataset has: the version, and the
    dataset it was a version of (its node's digest where the name would be too long)."""
    suffix = f" (as {other.namespace}/{other.name})"
    if len(version) + len(suffix) > MAX_VERSION_NAME:
        digest = hashlib.sha256(other.node_id.encode()).hexdigest()[:12]
        suffix = f" (as {digest})"
    name, count = version[: MAX_VERSION_NAME - len(suffix)] + suffix, 1
    while name in taken:
        count += 1
        tail = f"{suffix} {count}"
        name = version[: MAX_VERSION_NAME - len(tail)] + tail
    return name


# What makes a column edge, or a dataset-wide input, the same as another.
COLUMN_EDGE_KEY = ("source_id", "source_field", "target_id", "target_field")
WIDE_INPUT_KEY = ("source_id", "source_field", "target_id")


def _rows_move(model, fields: tuple[str, ...], *, into: Dataset, other: Dataset) -> None:
    """`other`'s rows of `model` (column edges, dataset-wide inputs), on either side,
    re-pointed at `into`; a row `into` already has (the same `fields`) is kept once."""
    moving = list(model.objects.filter(Q(source=other) | Q(target=other)))
    if not moving:
        return
    existing = set(
        model.objects.filter(Q(source=into) | Q(target=into))
        .exclude(pk__in=[row.pk for row in moving])
        .values_list(*fields)
    )
    duplicates, moved = [], []
    for row in moving:
        if row.source_id == other.pk:
            row.source_id = into.pk
        if row.target_id == other.pk:
            row.target_id = into.pk
        key = tuple(getattr(row, f) for f in fields)
        if key in existing:
            duplicates.append(row.pk)
        else:
            existing.add(key)
            moved.append(row)
    model.objects.filter(pk__in=duplicates).delete()
    model.objects.bulk_update(moved, ["source_id", "target_id"])


def _graph_edges_move(*, into: str, other: str) -> None:
    """Graph edges from or to node `other` re-pointed at node `into`; one `into` already has
    is kept once."""
    for end, far in (("source", "target"), ("target", "source")):
        moving = Edge.objects.filter(**{end: other})
        existing = Edge.objects.filter(**{end: into}).values_list(far, flat=True)
        moving.filter(**{f"{far}__in": list(existing)}).delete()
        moving.update(**{end: into})


# Bulk forms for events with thousands of inputs: a few statements for all of them rather
# than a few for each. Names that need more care (an alias, an escaped id) take the
# one-at-a-time path above.
BULK_CHUNK = 20_000


def _chunks(items: list, size: int = BULK_CHUNK):
    for start in range(0, len(items), size):
        yield items[start : start + size]


class DatasetRef(NamedTuple):
    """A dataset as the bulk forms give it: its id and node id, read and written without a
    model instance (building ten thousand of them costs more than the statements)."""

    pk: int
    node_id: str


class VersionRef(NamedTuple):
    """A dataset version as the bulk forms give it (what a caller reads of one: its id, its
    name and its dataset's node)."""

    pk: uuid.UUID
    version: str
    dataset: DatasetRef


def datasets_register_bulk(
    *, names: Sequence[tuple[str, str]]
) -> tuple[dict[tuple[str, str], DatasetRef], set[int]]:
    """The datasets named (namespace, name), registering the new ones together; and the ids
    of those that are new (they have no versions yet)."""
    wanted = set(names)
    found: dict[tuple[str, str], DatasetRef] = {}
    careful: set[tuple[str, str]] = set()
    for chunk in _chunks(sorted(wanted)):
        plain = {node_id_for("dataset", ns, name): (ns, name) for ns, name in chunk}
        rows = Dataset.objects.filter(among(Dataset, "node_id", plain)).values_list(
            "pk", "namespace", "name", "node_id"
        )
        for pk, ns, name, node_id in rows:
            if (ns, name) in wanted:
                found[(ns, name)] = DatasetRef(pk, node_id)
            else:  # the plain id is another pair's: this one needs the escaped id
                careful.add(plain[node_id])
        aliases = DatasetAlias.objects.filter(among(DatasetAlias, "node_id", plain))
        for ns, name, pk, node_id in aliases.values_list(
            "namespace", "name", "dataset_id", "dataset__node_id"
        ):
            if (ns, name) in wanted:
                found.setdefault((ns, name), DatasetRef(pk, node_id))
    new = sorted(wanted - found.keys() - careful)
    known = {d.pk for d in found.values()}
    for chunk in _chunks(new):
        for ns, name in chunk:
            if not ns or not name:
                raise ApplicationError(
                    "A dataset needs a namespace and a name.", code="invalid_dataset"
                )
        now = timezone.now()
        inserted = insert_ignoring_conflicts(
            Dataset,
            ["namespace", "name", "node_id", "description", "license", "created_at"],
            [(ns, name, node_id_for("dataset", ns, name), "", "", now) for ns, name in chunk],
            returning=["id", "namespace", "name", "node_id"],
        )
        for pk, ns, name, node_id in inserted:
            found[(ns, name)] = DatasetRef(pk, node_id)
        # Rows another transaction inserted first, or all of them without RETURNING.
        ids = {
            node_id_for("dataset", ns, name): (ns, name)
            for ns, name in chunk
            if (ns, name) not in found
        }
        if ids:
            rows = Dataset.objects.filter(among(Dataset, "node_id", ids)).values_list(
                "pk", "namespace", "name", "node_id"
            )
            for pk, ns, name, node_id in rows:
                if (ns, name) in wanted:
                    found[(ns, name)] = DatasetRef(pk, node_id)
                    known.add(pk)
    for ns, name in sorted(wanted - found.keys()):
        dataset = dataset_register(namespace=ns, name=name)
        found[(ns, name)] = DatasetRef(dataset.pk, dataset.node_id)
        known.add(dataset.pk)  # taken one at a time: not known to be new
    return found, {d.pk for d in found.values()} - known


def versions_get_or_register_bulk(
    *, items: Sequence[tuple[DatasetRef, VersionInput]], created_by_run: Run | None = None
) -> list[VersionRef]:
    """The versions named, one for each item and in its order, registering the missing ones
    together. A version that exists is taken as it is (as OpenLineage ingestion takes it)."""
    keys = {(dataset.pk, data.version): (dataset, data) for dataset, data in items}
    found: dict[tuple[int, str], VersionRef] = {}
    fields = [
        "id",
        "dataset",
        "version",
        "facets",
        "created_by_run",
        "membership_declared",
        "created_at",
        *VERSION_CONTENT,
    ]
    # Insert every one (a version that exists stays as it is: ON CONFLICT DO NOTHING); the
    # rows inserted come back from the INSERT, only the others are read.
    for chunk in _chunks(sorted(keys)):
        now = timezone.now()
        rows = []
        for key in chunk:
            dataset, data = keys[key]
            content = _version_content(data)
            rows.append(
                (
                    uuid.uuid4(),
                    dataset.pk,
                    data.version,
                    data.facets,
                    created_by_run.pk if created_by_run else None,
                    False,
                    now,
                    *(content[name] for name in VERSION_CONTENT),
                )
            )
        returned = insert_ignoring_conflicts(
            DatasetVersion, fields, rows, returning=["id", "dataset", "version"]
        )
        for pk, dataset_id, version in returned:
            found[(dataset_id, version)] = VersionRef(pk, version, keys[(dataset_id, version)][0])
        rest = [key for key in chunk if key not in found]
        if rest:
            dataset_ids, names = {d for d, _ in rest}, {v for _, v in rest}
            stored = (
                DatasetVersion.objects.filter(among(DatasetVersion, "dataset", dataset_ids))
                .filter(among(DatasetVersion, "version", names))
                .values_list("pk", "dataset_id", "version")
            )
            for pk, dataset_id, version in stored:
                if (dataset_id, version) in keys:
                    found[(dataset_id, version)] = VersionRef(
                        pk, version, keys[(dataset_id, version)][0]
                    )
    return [found[(dataset.pk, data.version)] for dataset, data in items]


def _dataset_named(namespace: str, name: str) -> Dataset | None:
    found = Dataset.objects.filter(namespace=namespace, name=name).first()
    if found is None:
        alias = (
            DatasetAlias.objects.filter(namespace=namespace, name=name)
            .select_related("dataset")
            .first()
        )
        found = alias.dataset if alias is not None else None
    return found


def dataset_alias_add(*, dataset: Dataset, namespace: str, name: str, type: str = "") -> None:
    """Record another name of `dataset`, unless the name is already a dataset's or an
    alias's (`dataset_register` merges two known datasets first)."""
    if not namespace or not name or (dataset.namespace, dataset.name) == (namespace, name):
        return
    if Dataset.objects.filter(namespace=namespace, name=name).exists():
        return
    if DatasetAlias.objects.filter(namespace=namespace, name=name).exists():
        return
    DatasetAlias.objects.create(dataset=dataset, namespace=namespace, name=name, type=type[:100])


def column_lineage_record(
    *,
    target: Dataset,
    fields: dict[str, Any],
    run: Run | None = None,
    dataset_wide: list[Any] | None = None,
    target_fields: Sequence[str] = (),
) -> int:
    """Store a `columnLineage` facet's `fields` (output field -> the input fields it was
    computed from); returns how many column edges it names. Entries of another shape are
    skipped: a facet with an unknown `_schemaURL` arrives unchecked.

    `dataset_wide` is the facet's `dataset` list (1-1-0 on): input fields that shape every row
    of the output (a filter, a join key, a grouping), so every output field depends on them.
    Each is kept as sent (`DatasetWideInput`, whether or not the output's fields are known),
    and becomes an edge to every output field, those of `fields` and `target_fields` (the
    output's schema), typed by its transformations (INDIRECT, as the spec writes them): the
    shape producers without that list give the same lineage, and Marquez's graph shows."""
    fields = dict(fields)
    wide = [item for item in dataset_wide or [] if isinstance(item, dict) and _names_field(item)]
    _dataset_wide_record(target=target, items=wide, run=run)
    wide_ids = {id(item) for item in wide}
    if wide:
        outputs = dict.fromkeys([*fields, *target_fields])
        for target_field in outputs:
            spec = fields.get(target_field)
            inputs = spec.get("inputFields") if isinstance(spec, dict) else None
            direct = inputs if isinstance(inputs, list) else []
            fields[target_field] = {
                **(spec if isinstance(spec, dict) else {}),
                "inputFields": [*direct, *wide],
            }
    edges = []
    for target_field, spec in fields.items():
        if not isinstance(spec, dict) or not isinstance(spec.get("inputFields"), list):
            continue
        description = spec.get("transformationDescription")
        kind = spec.get("transformationType")
        for item in spec["inputFields"]:
            if not isinstance(item, dict) or not _names_field(item):
                continue
            if max(len(target_field), len(item["field"])) > 500:
                raise ApplicationError(
                    "Field names are at most 500 characters.", code="value_too_long"
                )
            transformations = item.get("transformations")
            if not isinstance(transformations, list):
                old = item.get("transformation")  # facet 1-0-x: one string
                transformations = [{"description": old}] if isinstance(old, str) else []
            edge_kind = kind if isinstance(kind, str) else ""
            if id(item) in wide_ids:  # typed by its transformations (INDIRECT)
                types = [t.get("type") for t in transformations if isinstance(t, dict)]
                edge_kind = next((t for t in types if isinstance(t, str)), "INDIRECT")
            source = dataset_register(namespace=item["namespace"], name=item["name"])
            edges.append(
                ColumnEdge(
                    source=source,
                    source_field=item["field"],
                    target=target,
                    target_field=target_field,
                    run=run,
                    transformations=transformations,
                    transformation_description=description if isinstance(description, str) else "",
                    transformation_type=edge_kind[:100],
                )
            )
    ColumnEdge.objects.bulk_create(edges, ignore_conflicts=True)
    return len(edges)


def _names_field(item: dict) -> bool:
    return all(
        isinstance(item.get(key), str) and item.get(key) for key in ("namespace", "name", "field")
    )


def _dataset_wide_record(*, target: Dataset, items: list[dict], run: Run | None) -> None:
    rows = []
    for item in items:
        if len(item["field"]) > 500:
            raise ApplicationError("Field names are at most 500 characters.", code="value_too_long")
        transformations = item.get("transformations")
        rows.append(
            DatasetWideInput(
                source=dataset_register(namespace=item["namespace"], name=item["name"]),
                source_field=item["field"],
                target=target,
                run=run,
                transformations=[t for t in transformations if isinstance(t, dict)]
                if isinstance(transformations, list)
                else [],
            )
        )
    DatasetWideInput.objects.bulk_create(rows, ignore_conflicts=True)


VERSION_CONTENT = (
    "digest",
    "record_count",
    "schema_fields",
    "data_categories",
    "purposes",
    "languages",
    "origin",
)


def _version_content(data: VersionInput) -> dict[str, Any]:
    return {
        "digest": data.digest,
        "record_count": data.record_count,
        "schema_fields": list(data.schema_fields),
        "data_categories": sorted(set(data.data_categories)),
        "purposes": sorted(set(data.purposes)),
        "languages": sorted({language_code(code) for code in data.languages}),
        "origin": data.origin,
    }


def version_register(
    *, dataset: Dataset, data: VersionInput, created_by_run: Run | None = None
) -> DatasetVersion:
    """Register a version; the same content again is a no-op, other content is refused
    (versions are immutable: a correction is a new version)."""
    return version_get_or_register(dataset=dataset, data=data, created_by_run=created_by_run)[0]


def version_get_or_register(
    *, dataset: Dataset, data: VersionInput, created_by_run: Run | None = None
) -> tuple[DatasetVersion, bool]:
    """`version_register`, also saying whether the version is new."""
    if data.digest and not (data.digest.startswith("sha256:") and len(data.digest) == 71):
        raise ApplicationError(
            "digest is sha256:<64 hex>.", code="invalid_digest", fields={"digest": "invalid_digest"}
        )
    content = _version_content(data)
    with transaction.atomic():
        existing = DatasetVersion.objects.filter(dataset=dataset, version=data.version).first()
        if existing is not None:
            stored = {key: getattr(existing, key) for key in content}
            if stored != content:
                raise Conflict(
                    "That version exists with other content; register a new version.",
                    code="version_immutable",
                )
            version, created = existing, False
        else:
            created = True
            version = DatasetVersion.objects.create(
                dataset=dataset,
                version=data.version,
                facets=data.facets,
                created_by_run=created_by_run,
                **content,
            )
        for location in data.locations:
            location_add(version=version, location=location)
    return version, created


def dataset_version_register(*, namespace: str, name: str, data: VersionInput) -> DatasetVersion:
    """A version of a dataset named by namespace and name, registering the dataset if new;
    one transaction, so a refused version leaves no dataset behind."""
    return dataset_version_get_or_register(namespace=namespace, name=name, data=data)[0]


def dataset_version_get_or_register(
    *, namespace: str, name: str, data: VersionInput
) -> tuple[DatasetVersion, bool]:
    """`dataset_version_register`, also saying whether the version is new."""
    with transaction.atomic():
        dataset = dataset_register(namespace=namespace, name=name)
        return version_get_or_register(dataset=dataset, data=data)


def location_add(*, version: DatasetVersion, location: LocationInput) -> StorageLocation:
    stored, _ = StorageLocation.objects.get_or_create(
        version=version,
        uri=location.uri,
        defaults={
            "system": location.system,
            "country": country_code(location.country),
            "region": location.region,
            "provider": location.provider,
            "transfer_basis": location.transfer_basis,
        },
    )
    return stored


def job_register(*, namespace: str, name: str, facets: dict[str, Any] | None = None) -> Job:
    job, created = Job.objects.get_or_create(
        namespace=namespace, name=name, defaults={"facets": facets or {}}
    )
    if not created and facets:
        job.facets = {**job.facets, **facets}
        job.save(update_fields=["facets"])
    return job


def job_lineage_declare(
    *, job: Job, inputs: Sequence[Dataset] = (), outputs: Sequence[Dataset] = ()
) -> None:
    """Edges a job declares before (or without) running: dataset -> job -> dataset."""
    _edges([(d.node_id, job.node_id) for d in inputs] + [(job.node_id, d.node_id) for d in outputs])


def _edges(pairs: Iterable[tuple[str, str]]) -> None:
    insert_ignoring_conflicts(Edge, ["source", "target"], sorted(set(pairs)))


def insert_ignoring_conflicts(
    model, fields: list[str], rows: Sequence[tuple], returning: Sequence[str] = ()
) -> list[tuple]:
    """INSERT … ON CONFLICT DO NOTHING of many rows. On PostgreSQL one statement a chunk,
    the rows sent as one JSON text (`json_to_recordset`), with no model instance built and no
    parameter a value; a column with one value in every row (a run, a direction, a creation
    time, empty facets) is bound once instead: what makes an event with ten thousand inputs
    take a second rather than ten. Elsewhere (SQLite, the embedded mode) `bulk_create`.

    Returns the `returning` columns of the rows this statement inserted (PostgreSQL only;
    elsewhere nothing, and the caller reads the rows back)."""
    if not rows:
        return []
    meta = model._meta
    columns = [meta.get_field(name) for name in fields]
    if connection.vendor != "postgresql":
        model.objects.bulk_create(
            [model(**{c.attname: v for c, v in zip(columns, row, strict=True)}) for row in rows],
            ignore_conflicts=True,
        )
        return []
    quote = connection.ops.quote_name
    names = ", ".join(quote(c.column) for c in columns)
    tail = " ON CONFLICT DO NOTHING"
    if returning:
        tail += " RETURNING " + ", ".join(quote(meta.get_field(f).column) for f in returning)
    inserted: list[tuple] = []
    with connection.cursor() as cursor:
        for chunk in _chunks(list(rows), 20_000):
            first = chunk[0]
            same = [i for i in range(len(columns)) if all(row[i] == first[i] for row in chunk)][
                : len(columns) - 1
            ]  # one column at least comes from the rows
            varying = [i for i in range(len(columns)) if i not in same]
            values, params = [], []
            for i, c in enumerate(columns):
                kind = column_type(c)
                if i in same:
                    values.append(f"%s::{kind}")
                    params.append(json.dumps(first[i]) if kind in ("json", "jsonb") else first[i])
                else:
                    values.append(f"r.{quote(c.column)}")
            record = ", ".join(
                f"{quote(columns[i].column)} {column_type(columns[i])}" for i in varying
            )
            keys = [(columns[i].column, i) for i in varying]
            body = json.dumps([{k: row[i] for k, i in keys} for row in chunk], default=str)
            # Table and column names come from the model; the values are bound parameters.
            cursor.execute(
                f"INSERT INTO {quote(meta.db_table)} ({names}) "  # noqa: S608
                f"SELECT {', '.join(values)} FROM json_to_recordset(%s::json) AS r({record})"
                + tail,
                [*params, body],
            )
            if returning:
                inserted += cursor.fetchall()
    return inserted


def run_record(
    *,
    run_id: Any,
    job: Job,
    state: str,
    inputs: Sequence[DatasetVersion | VersionRef] = (),
    outputs: Sequence[DatasetVersion | VersionRef] = (),
    started_at: datetime | None = None,
    ended_at: datetime | None = None,
    facets: dict[str, Any] | None = None,
    derive: bool = True,
) -> Run:
    """Record a run (or its next state) with the versions it read and wrote. With
    `derive=False` the graph's edges wait for a following call (one pass for both)."""
    with transaction.atomic():
        run, created = Run.objects.get_or_create(
            run_id=run_id,
            defaults={
                "job": job,
                "state": state,
                "started_at": started_at,
                "ended_at": ended_at,
                "facets": facets or {},
            },
        )
        if not created:
            if run.job_id != job.id:
                raise Conflict("That run id belongs to another job.", code="run_job_mismatch")
            run.state = state
            run.started_at = run.started_at or started_at
            run.ended_at = ended_at or run.ended_at
            run.facets = {**run.facets, **(facets or {})}
            run.save(update_fields=["state", "started_at", "ended_at", "facets"])
        insert_ignoring_conflicts(
            RunDataset,
            ["run", "version", "direction"],
            [(run.pk, v.pk, "input") for v in inputs] + [(run.pk, v.pk, "output") for v in outputs],
        )
        if derive:
            _run_edges_derive(run=run, job=job)
    return run


def _run_edges_derive(*, run: Run, job: Job) -> None:
    """Runs accumulate: the edges of a run are those of everything it has read and written
    (dataset -> job -> dataset, and each input version -> each output version). INSERT …
    SELECT statements, on PostgreSQL and SQLite alike: a run of ten thousand inputs sends no
    row to Python and back."""
    quote = connection.ops.quote_name
    link, version, dataset, edge, version_edge = (
        quote(model._meta.db_table)
        for model in (RunDataset, DatasetVersion, Dataset, Edge, VersionEdge)
    )
    linked = (
        f"FROM {link} l JOIN {version} v ON v.id = l.version_id "
        f"JOIN {dataset} d ON d.id = v.dataset_id WHERE l.run_id = %s AND l.direction = %s"
    )
    # Table names come from the models; the values are bound. Rows go in a fixed order so
    # that concurrent runs lock index entries in the same order; the WHERE before ON CONFLICT
    # keeps SQLite's parser from reading it as a join's ON.
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {edge} (source, target) SELECT source, target FROM ("  # noqa: S608
            f"SELECT d.node_id AS source, %s AS target {linked} "
            f"UNION SELECT %s, d.node_id {linked}"
            ") AS pairs WHERE true ORDER BY source, target ON CONFLICT DO NOTHING",
            [job.node_id, run.pk, "input", job.node_id, run.pk, "output"],
        )
    # Every input to every output: one statement a version of the smaller side (joining the
    # run's links to themselves would scan one side once for each row of the other).
    links = run.datasets.values_list("version_id", flat=True)
    outputs = list(links.filter(direction="output"))
    if not outputs:
        return
    inputs = links.filter(direction="input")
    if len(outputs) == 1 or len(outputs) <= inputs.count():
        pivots, pairs, others = outputs, "version_id, %s", "input"
    else:
        pivots, pairs, others = list(inputs), "%s, version_id", "output"
    prepare = DatasetVersion._meta.pk.get_db_prep_value
    with connection.cursor() as cursor:
        for pk in pivots:
            value = prepare(pk, connection)
            cursor.execute(
                f"INSERT INTO {version_edge} (source_id, target_id, run_id) "  # noqa: S608
                f"SELECT {pairs}, run_id FROM {link} "
                "WHERE run_id = %s AND direction = %s AND version_id <> %s "
                "ORDER BY version_id ON CONFLICT DO NOTHING",
                [value, run.pk, others, value],
            )


def model_version_get(model_version_id) -> ModelVersion | None:
    if model_version_id is None:
        return None
    found = ModelVersion.objects.filter(pk=model_version_id).select_related("model").first()
    if found is None:
        raise NotFound("No such model version.", code="unknown_model_version")
    return found


def model_version_register(
    *,
    namespace: str,
    name: str,
    version: str,
    trained_on: Sequence[DatasetVersion] = (),
    fine_tuned_on: Sequence[DatasetVersion] = (),
    evaluated_on: Sequence[DatasetVersion] = (),
    fine_tuned_from: ModelVersion | None = None,
    created_by_run: Run | None = None,
    facets: dict[str, Any] | None = None,
    markets: Sequence[str] | None = None,
) -> ModelVersion:
    """Register a model version and the data it was trained, fine-tuned or evaluated on.

    Adding an evaluation later is allowed (evaluations follow training); the training data of
    an existing version cannot change. `markets`, when given, replaces the markets it is
    deployed to (a deployment changes; its training does not).
    """
    deployed = sorted({country_code(code) for code in markets}) if markets is not None else None
    with transaction.atomic():
        model, _ = Model.objects.get_or_create(namespace=namespace, name=name)
        model_version, created = ModelVersion.objects.get_or_create(
            model=model,
            version=version,
            defaults={
                "fine_tuned_from": fine_tuned_from,
                "created_by_run": created_by_run,
                "facets": facets or {},
                "markets": deployed or [],
            },
        )
        if not created and deployed is not None and deployed != model_version.markets:
            model_version.markets = deployed
            model_version.save(update_fields=["markets"])
        training = {(v.pk, "trained_on") for v in trained_on} | {
            (v.pk, "fine_tuned_on") for v in fine_tuned_on
        }
        if not created:
            stored = set(
                model_version.data.exclude(kind="evaluated_on").values_list("version_id", "kind")
            )
            # The run that makes a version may name more of its inputs in later events (runs
            # accumulate); anyone else changing its training data is refused.
            growing = (
                created_by_run is not None
                and model_version.created_by_run_id == created_by_run.pk
                and stored <= training
            )
            if training and training != stored and not growing:
                raise Conflict(
                    "That model version's training data is already registered.",
                    code="model_version_immutable",
                )
        ModelData.objects.bulk_create(
            [
                ModelData(model_version=model_version, version_id=pk, kind=kind)
                for pk, kind in training
            ]
            + [
                ModelData(model_version=model_version, version=v, kind="evaluated_on")
                for v in evaluated_on
            ],
            ignore_conflicts=True,
        )
        sources = [*trained_on, *fine_tuned_on, *evaluated_on]
        via = created_by_run.job.node_id if created_by_run else None
        pairs = []
        for v in sources:
            if via:
                pairs += [(v.dataset.node_id, via), (via, model.node_id)]
            else:
                pairs.append((v.dataset.node_id, model.node_id))
        if fine_tuned_from is not None:
            pairs.append((fine_tuned_from.model.node_id, model.node_id))
        _edges(pairs)
    return model_version
