"""Lineage queries on a synthetic graph, each beside its baseline in the same run.

The graph: --pipelines independent pipelines of --length dataset versions each (100,000 by
default); each version feeds the next --fanout versions of its pipeline (1,000,000 edges), both
as dataset-level edges and as version-level derivations; --members membership rows (10,000,000)
spread over the versions. Measures, p50/p99 over --samples starts:
- downstream closure at depth 20 in PostgreSQL (recursive CTE) beside networkx on the same
  graph in memory;
- the Marquez-shaped graph (GET /api/v1/lineage: walk, DatasetData and JobData) at depth 20
  job hops, beside the closure query above (the graph answer's walk before it carried
  Marquez's node data: 3.34 ms p50 on this graph); goal < 100 ms p50;
- one OpenLineage event with --inputs inputs (10,000), ingested as START (all new) and
  COMPLETE (all known), beside a raw COPY of as many rows; goal < 2 s;
- "where is subject X" (lineage.membership.subject_locations);
- membership ingest through the service beside a raw COPY of the same file into a temporary
  table, into a logged table, and into a logged table then indexed (the floor of a durable index).
`--only ingest` runs only the OpenLineage event, --repeat times (3), on an empty or any database,
and prints the medians: the quick way to measure ingestion. `--only membership` does the same for
the membership ingest of --upload keys, each time into a new version.
Needs PostgreSQL (DATABASE_URL, SECRET_KEY, LUP_SUBJECT_PEPPER); run from the project root.
"""

import argparse
import io
import json
import random
import statistics
import time
import uuid

import networkx as nx
from django.db import connection, transaction

from _setup import migrate, percentile
from lineage import selectors
from lineage.membership import membership_upload, subject_locations
from lineage.models import Dataset, DatasetVersion, Edge, Job, Membership, Run
from lineage.openlineage import ingest_event

NAMESPACE = "bench"


def node(p: int, i: int) -> str:
    return f"dataset:{NAMESPACE}:p{p}-v{i}"


def copy_rows(table: str, columns: str, rows) -> None:
    with connection.cursor() as cursor, cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as c:
        for row in rows:
            c.write_row(row)


def build(args, rng: random.Random) -> list[list[uuid.UUID]]:
    """Create the synthetic graph once (skipped when it is there)."""
    if Dataset.objects.filter(namespace=NAMESPACE).exists():
        versions = {}
        for pk, name in DatasetVersion.objects.filter(dataset__namespace=NAMESPACE).values_list(
            "pk", "dataset__name"
        ):
            p, i = name[1:].split("-v")
            versions[(int(p), int(i))] = pk
        return [[versions[(p, i)] for i in range(args.length)] for p in range(args.pipelines)]
    start = time.perf_counter()
    with transaction.atomic():
        job = Job.objects.create(namespace=NAMESPACE, name="derive")
        run = Run.objects.create(run_id=uuid.uuid4(), job=job, state="COMPLETE")
        copy_rows(
            "lineage_dataset",
            "namespace, name, node_id, description, license, created_at",
            (
                (NAMESPACE, f"p{p}-v{i}", node(p, i), "", "", "now")
                for p in range(args.pipelines)
                for i in range(args.length)
            ),
        )
        dataset_ids = dict(Dataset.objects.filter(namespace=NAMESPACE).values_list("name", "id"))
        ids = [[uuid.uuid4() for _ in range(args.length)] for _ in range(args.pipelines)]
        copy_rows(
            "lineage_datasetversion",
            "id, dataset_id, version, digest, schema_fields, data_categories, purposes, facets,"
            " languages, origin, membership_declared, created_at",
            (
                (
                    ids[p][i],
                    dataset_ids[f"p{p}-v{i}"],
                    "1",
                    "",
                    "[]",
                    "[]",
                    "[]",
                    "{}",
                    "[]",
                    "",
                    True,
                    "now",
                )
                for p in range(args.pipelines)
                for i in range(args.length)
            ),
        )
        pairs = [
            (p, i, j)
            for p in range(args.pipelines)
            for i in range(args.length)
            for j in range(i + 1, min(args.length, i + 1 + args.fanout))
        ]
        copy_rows("lineage_edge", "source, target", ((node(p, i), node(p, j)) for p, i, j in pairs))
        copy_rows(
            "lineage_versionedge",
            "source_id, target_id, run_id",
            ((ids[p][i], ids[p][j], run.pk) for p, i, j in pairs),
        )
        flat = [v for pipeline in ids for v in pipeline]
        per_version = args.members // len(flat)
        pool = args.members // 5
        copy_rows(
            "lineage_membership",
            "version_id, subject_key",
            (
                (v, f"{k:064x}")
                for v in flat
                for k in set(rng.randrange(pool) for _ in range(per_version))
            ),
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(
        f"built: {len(flat):,} versions, {len(pairs):,} edges, "
        f"{Membership.objects.count():,} membership rows in {time.perf_counter() - start:.0f} s"
    )
    return ids


def timed(fn, inputs) -> list[float]:
    samples = []
    for value in inputs:
        t = time.perf_counter()
        fn(value)
        samples.append((time.perf_counter() - t) * 1000)
    return samples


def line(name: str, samples: list[float], base: list[float] | None = None) -> str:
    text = (
        f"{name:<48} p50 {percentile(samples, 50):8.2f} ms   p99 {percentile(samples, 99):8.2f} ms"
    )
    if base:
        text += f"   x{percentile(samples, 50) / percentile(base, 50):5.1f} of baseline p50"
    return text


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pipelines", type=int, default=1000)
    parser.add_argument("--length", type=int, default=100)
    parser.add_argument("--fanout", type=int, default=10)
    parser.add_argument("--members", type=int, default=10_000_000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--upload", type=int, default=1_000_000)
    parser.add_argument("--inputs", type=int, default=10_000)
    parser.add_argument("--only", choices=["ingest", "membership"], help="run only this part")
    parser.add_argument("--repeat", type=int, default=3, help="runs of the part with --only")
    args = parser.parse_args()
    assert connection.vendor == "postgresql", "run against PostgreSQL (DATABASE_URL)"
    migrate()
    if args.only == "membership":
        membership_only(args.upload, args.repeat)
        return
    if args.only == "ingest":
        print(f"== one OpenLineage event with {args.inputs:,} inputs, {args.repeat} times")
        runs = [ingest_wide(args.inputs) for _ in range(args.repeat)]
        print("medians:")
        for label in runs[0]:
            took = statistics.median(run[label] for run in runs)
            ratio = statistics.median(run[label] / run["raw"] for run in runs)
            print(f"{LABELS[label]:<48} {took:8.2f} s   x{ratio:5.1f} of raw COPY")
        return
    rng = random.Random(5)
    ids = build(args, rng)
    with connection.cursor() as cursor:
        # Earlier runs' wide events changed the run tables; plan on current statistics.
        cursor.execute("ANALYZE lineage_run, lineage_rundataset, lineage_datasetversion")

    graph = nx.DiGraph()
    graph.add_edges_from(
        Edge.objects.filter(source__startswith=f"dataset:{NAMESPACE}:")
        .values_list("source", "target")
        .iterator(chunk_size=100_000)
    )
    starts = [
        node(rng.randrange(args.pipelines), rng.randrange(args.length // 2))
        for _ in range(args.samples)
    ]
    print(
        f"\n== downstream closure at depth 20 ({graph.number_of_nodes():,} nodes, "
        f"{graph.number_of_edges():,} edges)"
    )
    in_memory = timed(lambda s: nx.single_source_shortest_path_length(graph, s, cutoff=20), starts)
    print(line("networkx, in memory (baseline)", in_memory))
    sizes = []
    database = timed(lambda s: sizes.append(len(selectors.downstream(node_id=s, depth=20))), starts)
    print(
        line("PostgreSQL recursive CTE", database, in_memory)
        + f"   (median closure {sorted(sizes)[len(sizes) // 2]} nodes; goal <= 100 ms)"
    )

    print("\n== Marquez graph, GET /api/v1/lineage, depth 20 job hops")
    nodes = []
    marquez = timed(
        lambda s: nodes.append(len(selectors.graph(node_id=s, depth=20)["graph"])), starts
    )
    print(
        line("selectors.graph (walk + DatasetData/JobData)", marquez, database)
        + f"   (median {sorted(nodes)[len(nodes) // 2]} nodes; goal < 100 ms)"
    )

    print(f"\n== one OpenLineage event with {args.inputs:,} inputs")
    ingest_wide(args.inputs)

    print("\n== where is subject X")
    pool = args.members // 5
    keys = [f"{rng.randrange(pool):064x}" for _ in range(args.samples)]
    found = []
    located = timed(lambda k: found.append(len(subject_locations(keys=[k])["versions"])), keys)
    print(
        line("subject_locations (direct, derived, models)", located)
        + f"   (median {sorted(found)[len(found) // 2]} versions; goal <= 20 ms)"
    )

    membership_ingest(DatasetVersion.objects.get(pk=ids[0][0]), args.upload, rng)


def membership_ingest(target: DatasetVersion, count: int, rng: random.Random) -> dict[str, float]:
    """Upload `count` new keys to `target` beside three raw writes of the same body: a COPY into
    a temporary table (the goal's baseline; no WAL), a COPY into a logged table shaped like the
    index (what durable rows cost), and that COPY followed by one unique index built by a sort
    (the least a durable, deduplicated index of the keys costs). Prints rows/s; returns the
    seconds each took."""
    held = Membership.objects.filter(version_id=target.pk).count()
    print(f"\n== membership ingest: {count:,} subject keys, into a version of {held:,} members")
    body = "".join(f"{rng.getrandbits(256):064x}\n" for _ in range(count)).encode()
    took: dict[str, float] = {}
    columns = f"version_id uuid NOT NULL DEFAULT '{target.pk}', subject_key varchar(64) NOT NULL"
    with connection.cursor() as cursor:
        for label, kind in (("temporary", "TEMP TABLE"), ("logged", "TABLE")):
            cursor.execute(f"CREATE {kind} raw_copy ({columns})")
            t = time.perf_counter()
            with cursor.copy("COPY raw_copy (subject_key) FROM STDIN") as c:
                c.write(body)
            took[label] = time.perf_counter() - t
            if label == "logged":
                t = time.perf_counter()
                cursor.execute("CREATE UNIQUE INDEX ON raw_copy (subject_key, version_id)")
                took["floor"] = took[label] + time.perf_counter() - t
            cursor.execute("DROP TABLE raw_copy")
    t = time.perf_counter()
    membership_upload(
        version=target, stream=io.BytesIO(body), content_type="text/plain", id_type="key"
    )
    took["ours"] = time.perf_counter() - t
    for label, name in MEMBERSHIP_LABELS.items():
        print(f"{name:<52} {count / took[label]:>12,.0f} rows/s")
    print(
        f"membership_upload: {took['temporary'] / took['ours']:4.2f}x the temporary COPY's rate"
        f" (goal >= 0.5x), {took['logged'] / took['ours']:4.2f}x the logged COPY's, "
        f"{took['floor'] / took['ours']:4.2f}x the floor's"
    )
    return took


MEMBERSHIP_LABELS = {
    "temporary": "raw COPY into a temporary table (baseline)",
    "logged": "raw COPY into a logged table",
    "floor": "logged COPY + one unique index (the floor)",
    "ours": "membership_upload (validate, dedupe, index)",
}


def membership_only(count: int, repeat: int) -> None:
    """`--only membership`: uploads to new versions (a first upload each), and the medians."""
    rng = random.Random(7)
    runs = []
    for _ in range(repeat):
        dataset = Dataset.objects.create(namespace="bench-members", name=uuid.uuid4().hex)
        runs.append(membership_ingest(DatasetVersion.objects.create(dataset=dataset), count, rng))
    print(f"\nmedians of {repeat}:")
    for label, name in MEMBERSHIP_LABELS.items():
        print(f"{name:<52} {count / statistics.median(r[label] for r in runs):>12,.0f} rows/s")
    for base in ("temporary", "logged", "floor"):
        ratio = statistics.median(r[base] / r["ours"] for r in runs)
        print(f"membership_upload against the {base} write: {ratio:4.2f}x its rate")


LABELS = {
    "raw": "raw COPY of the input names (baseline)",
    "START": "ingest_event START (all new)",
    "COMPLETE": "ingest_event COMPLETE (all known)",
}


def ingest_wide(count: int) -> dict[str, float]:
    """One event of `count` new inputs as START then COMPLETE; the seconds each took."""
    run_id = str(uuid.uuid4())
    tag = run_id[:8]
    event = {
        "eventTime": "2026-11-02T08:00:00Z",
        "producer": "https://example.org/bench",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": run_id},
        "job": {"namespace": "bench-ol", "name": f"wide-{tag}"},
        "inputs": [{"namespace": "s3://bench", "name": f"{tag}/part-{i:05}"} for i in range(count)],
        "outputs": [{"namespace": "s3://bench", "name": f"{tag}/merged"}],
    }
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE IF NOT EXISTS raw_names (namespace text, name text)")
        t = time.perf_counter()
        with cursor.copy("COPY raw_names (namespace, name) FROM STDIN") as c:
            for item in event["inputs"]:
                c.write_row((item["namespace"], item["name"]))
        raw = time.perf_counter() - t
        cursor.execute("DROP TABLE raw_names")
    print(f"{LABELS['raw']:<48} {raw:8.2f} s")
    took = {"raw": raw}
    for state in ("START", "COMPLETE"):
        body = json.dumps({**event, "eventType": state}).encode()
        t = time.perf_counter()
        answer = ingest_event(raw=body, content_encoding="")
        took[state] = time.perf_counter() - t
        assert len(answer["versions"]["inputs"]) == count
        print(
            f"{LABELS[state]:<48} {took[state]:8.2f} s   x{took[state] / raw:5.1f} of raw COPY"
            "   (goal < 2 s)"
        )
    return took


if __name__ == "__main__":
    main()
