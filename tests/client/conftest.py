"""The `lup` command and client against the service served over real HTTP (`live_server`)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from access.services import api_token_create
from lup.client import Lup

ROOT = Path(__file__).resolve().parents[2]
SCOPES = (
    "consent:read",
    "lineage:read",
    "lineage:write",
    "erasure:read",
    "erasure:write",
)


@pytest.fixture
def token(transactional_db) -> str:
    return api_token_create(name="cli", scopes=SCOPES)[1]


@pytest.fixture
def lup(live_server, token) -> Lup:
    return Lup(live_server.url, token)


@pytest.fixture
def run(live_server, token, tmp_path):
    """`run("consent", "filter", ...)`: the command as a subprocess, with LUP_URL/LUP_TOKEN."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "LUP_"))}
    env.update(LUP_URL=live_server.url, LUP_TOKEN=token, LUP_CONFIG=str(tmp_path / "none.toml"))

    def command(*args: str, stdin: bytes | None = None, **overrides: str):
        return subprocess.run(
            [sys.executable, "-m", "lup", *args],
            cwd=ROOT,
            env={**env, **overrides},
            input=stdin,
            capture_output=True,
            timeout=120,
        )

    return command
