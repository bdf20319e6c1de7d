"""Reads of the lineage graph: nodes, neighbourhoods, derivations."""

from typing import Any

from django.db import connection
from django.db.models import Q

from core.errors import ApplicationError, NotFound
from lineage.models import (
    Dataset,
    DatasetVersion,
    Edge,
    Job,
    Membership,
    Model,
    ModelData,
    VersionEdge,
)

NODE_TYPES = {"dataset": Dataset, "job": Job, "model": Model}
MAX_DEPTH = 50


def node_object(node_id: str) -> Dataset | Job | Model:
    """The dataset, job or model a node id (`dataset:<namespace>:<name>`) names.

    Namespaces hold colons (`postgres://db:5432`), so every split is tried."""
    kind, _, rest = node_id.partition(":")
    model = NODE_TYPES.get(kind)
    if model is None or ":" not in rest or "\x00" in rest:  # no column holds a NUL
        raise ApplicationError(
            "nodeId is dataset:, job: or model: followed by <namespace>:<name>.",
            code="invalid_node_id",
        )
    condition = Q()
    for position, char in enumerate(rest):
        if char == ":":
            condition |= Q(namespace=rest[:position], name=rest[position + 1 :])
    found = model.objects.filter(condition).first()
    if found is None:
        raise NotFound("No such node.", code="unknown_node")
    return found


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


def graph(*, node_id: str, depth: int) -> dict[str, Any]:
    """The neighbourhood in Marquez's shape: {"graph": [{id, type, data, inEdges, outEdges}]}."""
    node_object(node_id)
    nodes = neighbourhood(node_id=node_id, depth=depth)
    edges = list(
        Edge.objects.filter(source__in=nodes, target__in=nodes).values_list("source", "target")
    )
    incoming: dict[str, list] = {n: [] for n in nodes}
    outgoing: dict[str, list] = {n: [] for n in nodes}
    for source, target in edges:
        outgoing[source].append({"origin": source, "destination": target})
        incoming[target].append({"origin": source, "destination": target})
    objects = _objects(nodes)
    return {
        "graph": [
            {
                "id": node,
                "type": node.split(":", 1)[0].upper(),
                "data": objects.get(node, {}),
                "inEdges": sorted(incoming[node], key=lambda e: e["origin"]),
                "outEdges": sorted(outgoing[node], key=lambda e: e["destination"]),
            }
            for node in sorted(nodes)
        ]
    }


def _objects(node_ids) -> dict[str, dict[str, Any]]:
    """Node data, one query per node type."""
    wanted: dict[str, set[tuple[str, str]]] = {kind: set() for kind in NODE_TYPES}
    for node in node_ids:
        kind, _, rest = node.partition(":")
        namespace, _, name = rest.rpartition(":")
        wanted[kind].add((namespace, name))
    data: dict[str, dict[str, Any]] = {}
    for kind, pairs in wanted.items():
        if not pairs:
            continue
        condition = Q()
        for namespace, name in pairs:
            condition |= Q(namespace=namespace, name=name)
        for obj in NODE_TYPES[kind].objects.filter(condition):
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
