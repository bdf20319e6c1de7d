"""The subject index built by scanning a target, beside one plain sequential read of its file.

Writes a JSON Lines eval set of --lines lines (1,000,000 by default, about 230 bytes each) naming
--subjects distinct subjects (200,000) under `user.email`, registers it as a `jsonl_file` target
storing one dataset version, then measures in the same run, the file warm in the page cache for
all of them:
- a plain sequential read of the file in 1 MiB blocks, and line by line (the baselines);
- the connector's `scan()` alone (read and parse every line, pick the match field);
- the whole build (`targets.indexing.target_index_build`: scan, normalize and HMAC every value,
  stage the keys in batches, swap them in as the version's membership), twice: the first on an
  empty version, the second a re-index that changes nothing;
and the process's peak memory before and after the builds (flat: keys are staged as read).
Needs PostgreSQL (DATABASE_URL, SECRET_KEY, LUP_SUBJECT_PEPPER); run from the project root.
"""

import argparse
import json
import random
import resource
import tempfile
import time
import uuid
from pathlib import Path

from django.conf import settings

from _setup import migrate
from connectors import connector_for
from core.actors import SYSTEM
from erasure.models import Target
from lineage import membership
from lineage import services as lineage
from lineage.models import Membership
from lineage.services import VersionInput
from targets import indexing
from targets.models import TargetIndex
from targets.services import target_save

BLOCK = 1 << 20


def write_file(path: Path, lines: int, subjects: int, rng: random.Random) -> int:
    with path.open("w") as out:
        for n in range(lines):
            record = {
                "id": f"qa-{n}",
                "user": {"email": f"Person.{rng.randrange(subjects)}@Example.org", "locale": "km"},
                "prompt": "How do I change my password? " + "x" * rng.randrange(40, 80),
                "response": "Open Settings, then Security.",
                "score": rng.random(),
            }
            out.write(json.dumps(record) + "\n")
    return path.stat().st_size


def rate(size: int, lines: int, seconds: float) -> str:
    return f"{seconds:7.2f} s  {size / seconds / 1e6:8.1f} MB/s  {lines / seconds:12,.0f} lines/s"


def read_blocks(path: Path) -> None:
    with path.open("rb", buffering=0) as f:
        while f.read(BLOCK):
            pass


def read_lines(path: Path) -> int:
    count = 0
    with path.open("rb") as f:
        for _ in f:
            count += 1
    return count


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--subjects", type=int, default=200_000)
    parser.add_argument("--dir", default=None, help="where to write the file (a temporary dir)")
    args = parser.parse_args()
    migrate()
    rng = random.Random(13)
    folder = Path(args.dir or tempfile.mkdtemp(prefix="lup-bench-index-"))
    settings.LUP_FILE_ROOTS = [str(folder)]
    path = folder / "evals.jsonl"
    size = write_file(path, args.lines, args.subjects, rng)
    print(f"file: {args.lines:,} lines, {size / 1e6:.1f} MB, {args.subjects:,} subjects")

    name = f"bench-index-{uuid.uuid4().hex[:8]}"
    version = lineage.version_register(
        dataset=lineage.dataset_register(namespace="bench://index", name=name),
        data=VersionInput(version="1"),
    )
    target = target_save(
        name=name,
        kind="jsonl_file",
        config={"path": str(path), "match": {"email": "user.email"}},
        country="KH",
        versions=[version.pk],
        actor=SYSTEM,
    )
    connector = connector_for(target.kind, target.config)

    read_blocks(path)  # warm the page cache, so every pass below reads from memory alike
    block_s, _ = timed(lambda: read_blocks(path))
    line_s, _ = timed(lambda: read_lines(path))
    scan_s, _ = timed(lambda: sum(1 for _ in connector.scan()))
    print(f"plain read, 1 MiB blocks  {rate(size, args.lines, block_s)}")
    print(f"plain read, line by line  {rate(size, args.lines, line_s)}")
    print(f"connector scan()          {rate(size, args.lines, scan_s)}  {scan_s / line_s:5.1f}x")

    indexing._enqueue = lambda **_: None  # the build runs here, in this process
    spent = {"stage": 0.0, "swap": 0.0}
    for name_, step in (("stage", "_stage_write"), ("swap", "_swap")):
        original = getattr(membership, step)

        def clocked(*a, _original=original, _name=name_, **k):
            start = time.perf_counter()
            try:
                return _original(*a, **k)
            finally:
                spent[_name] += time.perf_counter() - start

        setattr(membership, step, clocked)
    before = peak_mb()
    for label in ("index build (new)       ", "index build (unchanged) "):
        spent.update(stage=0.0, swap=0.0)
        index = indexing.target_index_start(target=Target.objects.get(pk=target.pk))
        build_s, state = timed(
            lambda index=index: indexing.target_index_build(target_id=target.pk, run=str(index.run))
        )
        index = TargetIndex.objects.get(pk=index.pk)
        assert state == "done", index.error_code
        print(
            f"{label}  {rate(size, args.lines, build_s)}  {build_s / line_s:5.1f}x"
            f"  ({index.subjects:,} subjects; staging {spent['stage']:.2f} s,"
            f" swap {spent['swap']:.2f} s)"
        )
    print(f"peak memory: {before:.0f} MB before the builds, {peak_mb():.0f} MB after")
    assert Membership.objects.filter(version=version).count() == index.subjects
    Membership.objects.filter(version=version).delete()
    Target.objects.filter(pk=target.pk).delete()
    path.unlink()


if __name__ == "__main__":
    main()
