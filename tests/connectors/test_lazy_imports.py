"""A worker loads the heavy libraries of a kind (pyarrow, deltalake, boto3...) only when a target
of that kind needs them: importing every connector and every task, as a worker starts, loads
none of them, and the first use of one loads it where it is used."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

HEAVY = ("pyarrow", "numpy", "pandas", "deltalake", "boto3", "botocore", "lancedb", "datasets")

STARTS = """
import sys
import django
django.setup()
from config.celery import app
app.loader.import_default_modules()
import connectors
print(" ".join(sorted({name.split(".")[0] for name in sys.modules} & set(sys.argv[1:]))))
"""

USES = """
import sys
import django
django.setup()
from connectors import parquet_file
parquet_file.pa.table({"a": [1]})
print("pyarrow" in sys.modules, "boto3" in sys.modules)
"""


def run(code: str, *args: str) -> str:
    """`code` in a new interpreter with the suite's environment: its last line of output."""
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"},
        timeout=120,
    )
    lines = done.stdout.strip().splitlines()
    return lines[-1] if lines else ""


def test_a_starting_worker_loads_no_heavy_library():
    assert run(STARTS, *HEAVY) == ""


def test_the_first_use_loads_the_library_where_it_is_used():
    assert run(USES) == "True False"
