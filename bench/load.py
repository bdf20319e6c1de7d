"""Load on a running stack (`make stack`): consent checks and erasure intakes per second, with
p50/p99 latency, beside `/healthz` requests per second on the same stack (the ceiling of the
HTTP stack itself: gunicorn and Django's middleware, no database, no token).

Run by hand, never by the test suite, with the stack's settings (it makes its own token with
`manage.py create_api_token`):

    scripts/stack.sh exec .venv/bin/python bench/load.py [--users 16 --seconds 20 --repeat 3]

It imports --subjects subjects, each with a consent, through the API, then runs locust (the
`bench` extra: `pip install -e '.[bench]'`) once per scenario and repeat, each run a process of
its own (locust patches the standard library when imported), and prints each run's figures and
their medians. Each scenario first runs --warmup seconds (20) uncounted: the medians are of a
warm stack (cached consent answers, workers past their lazy imports). Erasure intakes add
requests (state `received`) to the stack's database.
"""

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCUSTFILE = ROOT / "bench" / "locustfile.py"
SCENARIOS = {
    "healthz": "Healthz",
    "consent-check": "ConsentCheck",
    "erasure-intake": "ErasureIntake",
}
PURPOSE = "train_ai_system"
NOTICE = {
    "key": "load-bench",
    "version": 1,
    "language": "en",
    "title": "Load bench",
    "text": "Subjects made up by bench/load.py.",
}


def call(
    host: str,
    method: str,
    path: str,
    token: str = "",
    body: bytes | None = None,
    content_type: str = "application/json",
) -> tuple[int, bytes]:
    request = urllib.request.Request(host + path, data=body, method=method)  # noqa: S310
    request.add_header("Content-Type", content_type)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=300) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def make_token() -> str:
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "create_api_token",
            "--name",
            f"load-bench-{int(time.time())}",
            "--scopes",
            "consent:read,consent:write,erasure:read,erasure:write",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def import_subjects(host: str, token: str, n: int) -> list[str]:
    """n subjects, new to this run, each with a consent to PURPOSE, through the import API."""
    status, body = call(host, "POST", "/api/v1/consent/notices", token, json.dumps(NOTICE).encode())
    if status not in (201, 409):  # 409: published by an earlier run
        sys.exit(f"publishing the notice answered {status}: {body[:300]!r}")
    tag = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    emails = [f"load-{tag}-{i}@example.org" for i in range(n)]
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    lines = b"".join(
        json.dumps(
            {
                "subject": {"id_type": "email", "value": email},
                "purpose": PURPOSE,
                "status": "given",
                "legal_basis": "consent",
                "jurisdiction": "SG",
                "notice": {k: NOTICE[k] for k in ("key", "version", "language")},
                "event_time": now,
            }
        ).encode()
        + b"\n"
        for email in emails
    )
    status, body = call(
        host, "POST", "/api/v1/consent/events/import", token, lines, "application/x-ndjson"
    )
    if status != 201:
        sys.exit(f"the consent import answered {status}: {body[:300]!r}")
    return emails


def run_locust(
    host: str, scenario: str, users: int, seconds: int, out: Path, env: dict[str, str]
) -> dict[str, float]:
    """One locust run; its aggregated figures from the stats CSV."""
    locust = Path(sys.executable).parent / "locust"
    prefix = out / f"{scenario}-{time.monotonic_ns()}"
    result = subprocess.run(
        [
            str(locust),
            "-f",
            str(LOCUSTFILE),
            "--headless",
            "-u",
            str(users),
            "-r",
            str(users),
            "-t",
            f"{seconds}s",
            "--host",
            host,
            "--csv",
            str(prefix),
            "--only-summary",
            "--loglevel",
            "WARNING",
            "--exit-code-on-error",
            "0",
            SCENARIOS[scenario],
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        sys.exit(f"locust failed ({result.returncode}):\n{result.stderr[-2000:]}")
    with open(f"{prefix}_stats.csv", newline="") as handle:
        (row,) = [r for r in csv.DictReader(handle) if r["Name"] == "Aggregated"]
    return {
        "rps": float(row["Requests/s"]),
        "p50": float(row["50%"]),
        "p99": float(row["99%"]),
        "requests": int(row["Request Count"]),
        "failures": int(row["Failure Count"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default=f"http://127.0.0.1:{os.environ.get('PORT', '8000')}")
    parser.add_argument("--users", type=int, default=16, help="concurrent locust users")
    parser.add_argument("--seconds", type=int, default=20, help="length of one run")
    parser.add_argument("--repeat", type=int, default=3, help="runs per scenario")
    parser.add_argument(
        "--warmup", type=int, default=20, help="seconds of an uncounted run first (0: none)"
    )
    parser.add_argument("--subjects", type=int, default=2000)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    args = parser.parse_args()
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    if unknown := set(scenarios) - set(SCENARIOS):
        sys.exit(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    if not (Path(sys.executable).parent / "locust").exists():
        sys.exit("locust is not installed: pip install -e '.[bench]'")
    status, _ = call(args.host, "GET", "/readyz")
    if status != 200:
        sys.exit(f"{args.host}/readyz answered {status}: start the stack first (make stack)")

    token = make_token()
    started = time.perf_counter()
    emails = import_subjects(args.host, token, args.subjects)
    print(
        f"setup: token, {len(emails):,} subjects imported in {time.perf_counter() - started:.1f} s"
    )
    print(
        f"{args.users} users, {args.repeat} run(s) of {args.seconds} s per scenario, "
        f"against {args.host}"
    )

    results: dict[str, list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="lup-load-") as tmp:
        subjects = Path(tmp) / "subjects.txt"
        subjects.write_text("\n".join(emails))
        env = dict(
            os.environ,
            LUP_LOAD_TOKEN=token,
            LUP_LOAD_SUBJECTS=str(subjects),
            LUP_LOAD_PURPOSE=PURPOSE,
        )
        for scenario in scenarios:
            results[scenario] = []
            if args.warmup:
                # Not counted: the first seconds fill the caches (each subject's first check
                # reads the database) and the workers' lazy imports.
                figures = run_locust(args.host, scenario, args.users, args.warmup, Path(tmp), env)
                print(f"  {scenario:<15} warm-up: {figures['rps']:8.1f} req/s (not counted)")
            for n in range(args.repeat):
                figures = run_locust(args.host, scenario, args.users, args.seconds, Path(tmp), env)
                results[scenario].append(figures)
                print(
                    f"  {scenario:<15} run {n + 1}: {figures['rps']:8.1f} req/s   "
                    f"p50 {figures['p50']:6.0f} ms   p99 {figures['p99']:6.0f} ms   "
                    f"{figures['failures']} failed of {figures['requests']}"
                )

    print()
    print(
        f"{'scenario':<15} {'req/s (median)':>15} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'failed':>7}  of /healthz"
    )
    ceiling = (
        statistics.median(r["rps"] for r in results.get("healthz", []))
        if "healthz" in results
        else None
    )
    for scenario, runs in results.items():
        rps = statistics.median(r["rps"] for r in runs)
        ratio = f"{rps / ceiling:6.0%}" if ceiling else "     -"
        print(
            f"{scenario:<15} {rps:15.1f} {statistics.median(r['p50'] for r in runs):8.0f} "
            f"{statistics.median(r['p99'] for r in runs):8.0f} "
            f"{sum(r['failures'] for r in runs):7d}  {ratio}"
        )


if __name__ == "__main__":
    main()
