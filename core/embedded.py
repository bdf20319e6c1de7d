"""The embedded default: what Lup uses when no database or broker is configured.

A first run needs no setup, so the secrets a development instance needs are generated once into
the local data folder (git-ignored) and reused on later runs. Nothing here is used once
`DATABASE_URL` and the secret settings are given.
"""

import os
import secrets
from pathlib import Path


def data_dir(base_dir: Path) -> Path:
    path = Path(os.environ.get("LUP_DATA_DIR") or base_dir / "data")
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def generated_secret(path: Path, *, nbytes: int = 32) -> str:
    """Return the secret stored at `path`, creating it (mode 0600) on first use."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    value = secrets.token_hex(nbytes)
    # O_EXCL: two processes starting together agree on one secret; the loser reads the winner's.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    return value
