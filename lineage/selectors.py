"""Reads of the lineage graph: nodes, neighbourhoods, derivations."""

from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Q

from core.errors import ApplicationError, NotFound
from lineage import marquez
from lineage.models import (
    NODE_ID_LENGTH,
    ColumnEdge,
    Dataset,
    DatasetAlias,
    DatasetVersion,
    DatasetWideInput,
    Edge,
    Job,
    Membership,
    Model,
    ModelData,
    VersionEdge,
)
from lineage.sql import among

NODE_TYPES = {"dataset": Dataset, "job": Job, "model": Model}
MAX_DEPTH = 50
# A graph answer stops growing at this many nodes (LUP_LINEAGE_MAX_NODES), however deep it
# was asked to go: depth is the caller's question, the budget bounds what one answer costs.
DEFAULT_MAX_NODES = 10_000


def lineage_max_nodes() -> int:
    return int(getattr(settings, "LUP_LINEAGE_MAX_NODES", DEFAULT_MAX_NODES))


def node_object(node_id: str) -> Dataset | Job | Model:
    """The dataset, job or model a node id (`dataset:<namespace>:<name>`) names; a dataset's
    alias (a `symlinks` name) names the dataset. Ids are matched whole, never split: names
    and namespaces hold colons."""
    kind = node_id.partition(":")[0]
    model = NODE_TYPES.get(kind)
    if model is None or "\x00" in node_id or len(node_id) > NODE_ID_LENGTH:
        raise ApplicationError(
            "nodeId is dataset:, job: or model: followed by <namespace>:<name>.",
            code="invalid_node_id",
        )
    found = model.objects.filter(node_id=node_id).first()
    if found is None and model is Dataset:
        alias = DatasetAlias.objects.filter(node_id=node_id).select_related("dataset").first()
        found = alias.dataset if alias is not None else None
    if found is None:
        raise NotFound("No such node.", code="unknown_node")
    return found


def node_names(*, node_ids) -> dict[str, str]:
    """node id -> the node's name, for the nodes that exist."""
    names: dict[str, str] = {}
    for kind, model in NODE_TYPES.items():
        wanted = [n for n in node_ids if n.startswith(f"{kind}:")]
        if wanted:
            names.update(model.objects.filter(node_id__in=wanted).values_list("node_id", "name"))
    return names


# Both directions of every edge, walked breadth-first to a depth. UNION (not UNION ALL) drops
# repeated (node, depth) pairs, and the depth bound ends cycles.
NEIGHBOURHOOD_SQL = """
WITH RECURSIVE walk(node, depth) AS (
    SELECT CAST(%s AS VARCHAR(1100)), 0
    UNION
    SELECT e.b, w.depth + 1
    FROM walk w
    JOIN (SELECT source AS a, target AS b FROM lineage_edge
          UNION ALL
          SELECT target AS a, source AS b FROM lineage_edge) e ON e.a = w.node
    WHERE w.depth < %s
)
SELECT node, MIN(depth) FROM walk GROUP BY node
"""

DOWNSTREAM_SQL = """
WITH RECURSIVE walk(node, depth) AS (
    SELECT CAST(%s AS VARCHAR(1100)), 0
    UNION
    SELECT e.target, w.depth + 1
    FROM walk w JOIN lineage_edge e ON e.source = w.node
    WHERE w.depth < %s
)
SELECT node, MIN(depth) FROM walk GROUP BY node
"""


UPSTREAM_SQL = """
WITH RECURSIVE walk(node, depth) AS (
    SELECT CAST(%s AS VARCHAR(1100)), 0
    UNION
    SELECT e.source, w.depth + 1
    FROM walk w JOIN lineage_edge e ON e.target = w.node
    WHERE w.depth < %s
)
SELECT node, MIN(depth) FROM walk GROUP BY node
"""


def neighbourhood(*, node_id: str, depth: int) -> dict[str, int]:
    """Nodes within `depth` edges of `node_id`, either direction, with their distance."""
    _check_depth(depth)
    with connection.cursor() as cursor:
        cursor.execute(NEIGHBOURHOOD_SQL, [node_id, depth])
        return dict(cursor.fetchall())


def downstream(*, node_id: str, depth: int) -> dict[str, int]:
    _check_depth(depth)
    with connection.cursor() as cursor:
        cursor.execute(DOWNSTREAM_SQL, [node_id, depth])
        return dict(cursor.fetchall())


def upstream(*, node_id: str, depth: int) -> dict[str, int]:
    _check_depth(depth)
    with connection.cursor() as cursor:
        cursor.execute(UPSTREAM_SQL, [node_id, depth])
        return dict(cursor.fetchall())


def _check_depth(depth: int) -> None:
    if not 0 <= depth <= MAX_DEPTH:
        raise ApplicationError(f"depth is 0 to {MAX_DEPTH}.", code="invalid_depth")


def graph(*, node_id: str, depth: int, max_nodes: int | None = None) -> dict[str, Any]:
    """The graph around a node in Marquez's shape: {"graph": [{id, type, data, inEdges,
    outEdges}]} with Marquez's DatasetData and JobData (`lineage.marquez`).

    `depth` counts job hops, as Marquez does: a job's own inputs and outputs are at depth 0,
    the jobs those datasets feed or come from at depth 1, and so on (from a dataset, the jobs
    that read or write it are at depth 0). Edges are walked in both directions, as Marquez
    walks them. The walk stops at `max_nodes` nodes (LUP_LINEAGE_MAX_NODES), nearest first,
    and says so with `"truncated": true`. Lup's addition: models reached by the walk are
    under `"models"` in the same node shape, with their edges; the `"graph"` list holds only
    datasets and jobs, and only the edges between them, as Marquez's clients expect."""
    budget = max_nodes or lineage_max_nodes()
    start = node_object(node_id)
    edge_depth = 2 * depth + (1 if isinstance(start, Job) else 2)
    nodes, truncated = _walk(start.node_id, edge_depth, budget)
    edges = list(
        Edge.objects.filter(source__in=nodes, target__in=nodes).values_list("source", "target")
    )
    incoming: dict[str, list] = {n: [] for n in nodes}
    outgoing: dict[str, list] = {n: [] for n in nodes}
    for source, target in sorted(edges):
        edge = {"origin": source, "destination": target}
        # Marquez's list holds only edges between datasets and jobs: an edge that touches a
        # model is listed on the model's side only.
        touches_model = source.startswith("model:") or target.startswith("model:")
        if not touches_model or source.startswith("model:"):
            outgoing[source].append(edge)
        if not touches_model or target.startswith("model:"):
            incoming[target].append(edge)
    kinds: dict[str, list[str]] = {"dataset": [], "job": [], "model": []}
    for node in nodes:
        kinds[node.partition(":")[0]].append(node)
    data = {
        **marquez.datasets_data(kinds["dataset"]),
        **marquez.jobs_data(kinds["job"]),
        **marquez.models_data(kinds["model"]),
    }

    def entry(node: str) -> dict[str, Any]:
        return {
            "id": node,
            "type": node.partition(":")[0].upper(),
            "data": data.get(node, {}),
            "inEdges": incoming[node],
            "outEdges": outgoing[node],
        }

    return {
        "graph": [entry(n) for n in sorted(kinds["dataset"] + kinds["job"])],
        "models": [entry(n) for n in sorted(kinds["model"])],
        "truncated": truncated,
    }


def _walk(start: str, depth: int, budget: int) -> tuple[list[str], bool]:
    """Nodes within `depth` edges of `start`, either direction, breadth first: one query a
    level, each node visited once, stopping at `budget` nodes (then truncated is True)."""
    seen = {start}
    order = [start]
    frontier = [start]
    step = 0
    edges = Edge.objects.values_list("source", "target")
    while frontier and step < depth:
        step += 1
        reached = []
        for source, target in edges.filter(Q(source__in=frontier) | Q(target__in=frontier)):
            for node in (source, target):
                if node not in seen:
                    seen.add(node)
                    reached.append(node)
        reached.sort()  # the same answer every time, whichever order rows come in
        if len(order) + len(reached) > budget:
            order.extend(reached[: budget - len(order)])
            return order, True
        order.extend(reached)
        frontier = reached
    return order, False


def _objects(node_ids) -> dict[str, dict[str, Any]]:
    """Node data, one query per node type."""
    data: dict[str, dict[str, Any]] = {}
    for kind, model in NODE_TYPES.items():
        wanted = [n for n in node_ids if n.startswith(f"{kind}:")]
        if not wanted:
            continue
        for obj in model.objects.filter(node_id__in=wanted):
            data[obj.node_id] = {"namespace": obj.namespace, "name": obj.name, "type": kind.upper()}
    return data


# Versions derived from the given ones through runs, any number of steps. UNION on the id
# alone visits each version once, so cycles end.
DESCENDANTS_SQL = """
WITH RECURSIVE derived(id) AS (
    SELECT unnest(%s::uuid[])
    UNION
    SELECT e.target_id FROM derived d JOIN lineage_versionedge e ON e.source_id = d.id
)
SELECT id FROM derived
"""


def version_descendants(*, version_ids: list) -> set:
    """The versions derived, directly or not, from `version_ids` (which are included)."""
    if not version_ids:
        return set()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(DESCENDANTS_SQL, [list(version_ids)])
            return {row[0] for row in cursor.fetchall()}
    # SQLite: the same walk, seeded from a VALUES list.
    field = DatasetVersion._meta.pk
    seeds = [field.get_db_prep_value(v, connection) for v in version_ids]
    values = ", ".join(["(%s)"] * len(seeds))
    sql = (
        f"WITH RECURSIVE derived(id) AS (VALUES {values} UNION "  # noqa: S608
        "SELECT e.target_id FROM derived d JOIN lineage_versionedge e ON e.source_id = d.id) "
        "SELECT id FROM derived"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, seeds)
        return {field.to_python(row[0]) for row in cursor.fetchall()}


def memberships_of(*, keys: list[str]) -> list[Membership]:
    """The membership rows of these subject keys, by version."""
    return list(Membership.objects.filter(subject_key__in=keys).order_by("version_id", "pk"))


def version_paths(
    *, version_ids: set, max_depth: int = MAX_DEPTH
) -> tuple[dict[Any, int], dict[Any, Any]]:
    """Every version derived from `version_ids` within `max_depth` steps: its depth, and the
    version it came from on a shortest path (`version_ids` are at depth 0). A query a step."""
    depth = dict.fromkeys(version_ids, 0)
    parent: dict[Any, Any] = {}
    frontier, step = sorted(version_ids), 0
    while frontier and step < max_depth:
        step += 1
        reached = []
        for source, target in (
            VersionEdge.objects.filter(source_id__in=frontier)
            .order_by("source_id", "target_id")
            .values_list("source_id", "target_id")
        ):
            if target not in depth:
                depth[target], parent[target] = step, source
                reached.append(target)
        frontier = reached
    return depth, parent


def versions_by_id(*, ids) -> dict[Any, DatasetVersion]:
    return DatasetVersion.objects.select_related("dataset").in_bulk(list(ids))


def version_dataset_names(*, version_ids) -> dict[str, list[tuple[str, str]]]:
    """Per version id (as text), the names its dataset goes by: its own (namespace, name)
    and its aliases'."""
    rows = DatasetVersion.objects.filter(among(DatasetVersion, "id", version_ids)).values_list(
        "pk", "dataset_id", "dataset__namespace", "dataset__name"
    )
    by_dataset: dict[Any, list[tuple[str, str]]] = {}
    names: dict[str, list[tuple[str, str]]] = {}
    for pk, dataset_id, namespace, name in rows:
        names[str(pk)] = by_dataset.setdefault(dataset_id, [(namespace, name)])
    aliases = DatasetAlias.objects.filter(among(DatasetAlias, "dataset", by_dataset))
    for dataset_id, namespace, name in aliases.values_list("dataset_id", "namespace", "name"):
        by_dataset[dataset_id].append((namespace, name))
    return names


def versions_of_datasets_named(
    *, namespaces: list[str], namespace_prefixes: list[str], names: list[str]
) -> list[Any]:
    """Ids of the versions of every dataset one of whose names (its own or an alias) has
    one of `names` in a namespace of `namespaces` or starting with one of
    `namespace_prefixes` ("file://" for `file://<host>`)."""
    where = Q(namespace__in=namespaces)
    for prefix in namespace_prefixes:
        where |= Q(namespace__startswith=prefix)
    where &= Q(name__in=names)
    datasets = set(Dataset.objects.filter(where).values_list("pk", flat=True))
    datasets |= set(DatasetAlias.objects.filter(where).values_list("dataset_id", flat=True))
    return list(DatasetVersion.objects.filter(dataset_id__in=datasets).values_list("pk", flat=True))


def dataset_version_find(namespace: str, name: str, version: str) -> DatasetVersion | None:
    return DatasetVersion.objects.filter(
        dataset__namespace=namespace, dataset__name=name, version=version
    ).first()


def models_made_from(*, model_version_ids, version_ids) -> list[tuple[Any, Any]]:
    """(model version, dataset version) pairs: which of the versions each model was made from."""
    return list(
        ModelData.objects.filter(
            model_version_id__in=list(model_version_ids), version_id__in=list(version_ids)
        ).values_list("model_version_id", "version_id")
    )


# Column lineage (OpenLineage's columnLineage facet), in the shape of Marquez's
# GET /api/v1/column-lineage.

FIELD_PREFIX = "datasetField:"


def field_node_id(dataset: Dataset, field: str) -> str:
    return f"{FIELD_PREFIX}{dataset.node_id.removeprefix('dataset:')}:{field}"


def field_object(node_id: str) -> tuple[Dataset, str]:
    """The dataset and field a `datasetField:<namespace>:<name>:<field>` id names. Every
    split at a colon is a candidate; the dataset that has that field in its column lineage
    wins, else the longest dataset id."""
    rest = node_id.removeprefix(FIELD_PREFIX)
    if not node_id.startswith(FIELD_PREFIX) or "\x00" in rest or len(node_id) > 2 * 1100:
        raise ApplicationError(
            "nodeId is datasetField:<namespace>:<name>:<field>.", code="invalid_node_id"
        )
    splits = {f"dataset:{rest[:i]}": rest[i + 1 :] for i, c in enumerate(rest) if c == ":"}
    found: dict[str, Dataset] = {d.node_id: d for d in Dataset.objects.filter(node_id__in=splits)}
    for alias in DatasetAlias.objects.filter(node_id__in=splits).select_related("dataset"):
        found.setdefault(alias.node_id, alias.dataset)
    if not found:
        raise NotFound("No such node.", code="unknown_node")
    candidates = sorted(found, key=len, reverse=True)
    for candidate in candidates:
        dataset, field = found[candidate], splits[candidate]
        if ColumnEdge.objects.filter(
            Q(source=dataset, source_field=field) | Q(target=dataset, target_field=field)
        ).exists():
            return dataset, field
    return found[candidates[0]], splits[candidates[0]]


def column_lineage(
    *, node_id: str, depth: int, with_downstream: bool = False, max_nodes: int | None = None
) -> dict[str, Any]:
    """Fields upstream of a field (or of every field of a dataset), and downstream too when
    asked, walked `depth` column edges far, as Marquez's column-lineage graph."""
    budget = max_nodes or lineage_max_nodes()
    if node_id.startswith(FIELD_PREFIX):
        dataset, field = field_object(node_id)
        start = {(dataset.pk, field)}
        asked = None
    else:
        dataset = node_object(node_id)
        if not isinstance(dataset, Dataset):
            raise ApplicationError(
                "Column lineage starts at a dataset or a dataset field.", code="invalid_node_id"
            )
        start = set(
            ColumnEdge.objects.filter(target=dataset).values_list("target_id", "target_field")
        ) | set(ColumnEdge.objects.filter(source=dataset).values_list("source_id", "source_field"))
        asked = dataset.pk
    seen = set(start)
    edges: set[int] = set()
    directions = [("target", "source")] + ([("source", "target")] if with_downstream else [])
    for near, far in directions:
        frontier, step = set(start), 0
        while frontier and step < depth and len(seen) < budget:
            step += 1
            condition = Q()
            for dataset_id, field in frontier:
                condition |= Q(**{f"{near}_id": dataset_id, f"{near}_field": field})
            reached = set()
            for edge in ColumnEdge.objects.filter(condition).values(
                "pk", f"{far}_id", f"{far}_field"
            ):
                edges.add(edge["pk"])
                pair = (edge[f"{far}_id"], edge[f"{far}_field"])
                if pair not in seen:
                    seen.add(pair)
                    reached.add(pair)
            frontier = reached
    answer = _column_graph(seen, edges)
    answer["datasetWide"] = _dataset_wide(
        targets={d for d, _ in seen} | ({asked} if asked is not None else set()),
        sources=seen if with_downstream else set(),
    )
    return answer


def _dataset_wide(*, targets: set[int], sources: set[tuple[int, str]]) -> list[dict[str, Any]]:
    """Lup's addition to Marquez's answer: the `columnLineage` facet's `dataset` entries (input
    fields that shape every row of a dataset) of the datasets the answer reaches, and, walking
    downstream, of the datasets the answer's fields shape, as the facet sends them. Marquez's
    own graph shows them as INDIRECT input fields of every output field."""
    condition = Q(target_id__in=targets)
    for dataset_id, field in sources:
        condition |= Q(source_id=dataset_id, source_field=field)
    rows = list(
        DatasetWideInput.objects.filter(condition)
        .select_related("source", "target")
        .order_by("target__node_id", "source__node_id", "source_field")
    )
    by_target: dict[int, dict[str, Any]] = {}
    for row in rows:
        entry = by_target.setdefault(
            row.target_id,
            {
                "id": row.target.node_id,
                "namespace": row.target.namespace,
                "name": row.target.name,
                "inputFields": [],
            },
        )
        entry["inputFields"].append(
            {
                "namespace": row.source.namespace,
                "dataset": row.source.name,
                "field": row.source_field,
                "transformations": row.transformations,
            }
        )
    return list(by_target.values())


def _column_graph(fields: set[tuple[int, str]], edge_ids: set[int]) -> dict[str, Any]:
    datasets = Dataset.objects.in_bulk({d for d, _ in fields})
    rows = list(
        ColumnEdge.objects.filter(pk__in=edge_ids)
        .order_by("pk")
        .values(
            "source_id",
            "source_field",
            "target_id",
            "target_field",
            "transformation_description",
            "transformation_type",
        )
    )
    types = _field_types(datasets.values())
    nodes: dict[tuple[int, str], dict[str, Any]] = {}
    for dataset_id, field in sorted(fields, key=lambda p: (datasets[p[0]].node_id, p[1])):
        dataset = datasets[dataset_id]
        data = {"namespace": dataset.namespace, "dataset": dataset.name, "field": field}
        if (dataset_id, field) in types:
            data["fieldType"] = types[(dataset_id, field)]
        data["inputFields"] = []
        nodes[(dataset_id, field)] = {
            "id": field_node_id(dataset, field),
            "type": "DATASET_FIELD",
            "data": data,
            "inEdges": [],
            "outEdges": [],
        }
    for row in rows:
        source = (row["source_id"], row["source_field"])
        target = (row["target_id"], row["target_field"])
        if source not in nodes or target not in nodes:
            continue
        edge = {"origin": nodes[source]["id"], "destination": nodes[target]["id"]}
        nodes[source]["outEdges"].append(edge)
        nodes[target]["inEdges"].append(edge)
        data = nodes[target]["data"]
        described = {
            key: row[column]
            for key, column in (
                ("transformationDescription", "transformation_description"),
                ("transformationType", "transformation_type"),
            )
            if row[column]
        }
        data.update(described)
        data["inputFields"].append(
            {
                "namespace": datasets[source[0]].namespace,
                "dataset": datasets[source[0]].name,
                "field": source[1],
                **described,
            }
        )
    return {"graph": list(nodes.values())}


def _field_types(datasets) -> dict[tuple[int, str], str]:
    """(dataset id, field) -> type, from the schema of each dataset's latest version."""
    types: dict[tuple[int, str], str] = {}
    for dataset in datasets:
        latest = dataset.versions.order_by("-created_at").values_list("schema_fields").first()
        for field in (latest or [[]])[0] or []:
            if isinstance(field, dict) and isinstance(field.get("type"), str):
                types[(dataset.pk, str(field.get("name")))] = field["type"]
    return types


def dataset_by_path(*, path: str) -> Dataset:
    """The dataset `<namespace>/<name>` names in a URL path. Both hold slashes
    (`s3://bucket` + `raw/chats`), so every split at a slash is tried, as node ids are matched
    whole; an alias names its dataset. Namespaces may also be sent percent-encoded
    (`s3:%2F%2Fbucket`), which arrives decoded the same way."""
    if "\x00" in path or len(path) > NODE_ID_LENGTH:
        raise NotFound("No such dataset.", code="unknown_dataset")
    condition = Q()
    for position, char in enumerate(path):
        if char == "/" and 0 < position < len(path) - 1:
            condition |= Q(namespace=path[:position], name=path[position + 1 :])
    if not condition:
        raise NotFound("No such dataset.", code="unknown_dataset")
    found = list(Dataset.objects.filter(condition)[:2])
    if not found:
        found = [
            a.dataset for a in DatasetAlias.objects.filter(condition).select_related("dataset")[:2]
        ]
    if len(found) != 1:
        # None, or two datasets whose names split the same path differently: neither is
        # named unambiguously, and guessing would show one dataset's versions as another's.
        if found:
            raise ApplicationError(
                "Two datasets answer to that path; use the node id's dataset.",
                code="ambiguous_dataset",
            )
        raise NotFound("No such dataset.", code="unknown_dataset")
    return found[0]


def dataset_versions(*, dataset: Dataset):
    """A dataset's versions, newest first, with the run that wrote each and its state."""
    return (
        DatasetVersion.objects.filter(dataset=dataset)
        .select_related("dataset", "created_by_run__job")
        .prefetch_related("locations")
        .order_by("-created_at", "-pk")
    )
