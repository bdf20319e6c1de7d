"""A secret a target's config names: an environment variable (`<name>_env`) or a file under
`settings.LUP_SECRET_FILE_ROOTS` (`<name>_file`, where the platform mounts secrets).

The config holds only the name, so the secret is never stored with the target nor shown back;
it is read at each call and never repeated in an error. The file must lie under a secret root
once resolved: otherwise a config could make a connector read any file the process can (Lup's
own keys among them) and use it as a DSN or a signing key.
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

from . import config as checks
from . import schema
from .errors import ConnectorConfigError, PathOutsideRoots

# A secret file larger than this is not a DSN, a URL or a key.
MAX_SECRET_BYTES = 64 * 1024


def properties(name: str, what: str) -> dict[str, dict[str, Any]]:
    """The schema of `<name>_env` and `<name>_file` (give exactly one: `alternatives`)."""
    return {
        f"{name}_env": schema.env_name(
            f"The environment variable holding {what}; read at each call, never stored. This "
            f"or `{name}_file`."
        ),
        f"{name}_file": {
            "type": "string",
            "minLength": 1,
            "description": f"The file holding {what} (a mounted secret), under one of "
            f"`LUP_SECRET_FILE_ROOTS`; read at each call, never stored. This or `{name}_env`.",
        },
    }


def alternatives(name: str) -> list[list[str]]:
    return [[f"{name}_env"], [f"{name}_file"]]


@dataclass(frozen=True, slots=True)
class Secret:
    """Where a config says its secret is: `key` is the config key naming it."""

    key: str
    env: str = ""
    file: Path | None = None

    def read(self) -> str:
        """The secret, refused (naming `key`, never the value) when absent or empty."""
        if self.file is None:
            value = os.environ.get(self.env, "")
            if not value:
                raise ConnectorConfigError(
                    f"The environment variable {self.env} is not set.", fields={self.key: "not set"}
                )
            return value
        path = confined(str(self.file), self.key)
        try:
            with open(path, "rb") as handle:
                data = handle.read(MAX_SECRET_BYTES + 1)
        except FileNotFoundError:
            raise ConnectorConfigError(
                f"The file named by {self.key} does not exist.", fields={self.key: "not found"}
            ) from None
        except OSError:
            raise ConnectorConfigError(
                f"The file named by {self.key} cannot be read.", fields={self.key: "unreadable"}
            ) from None
        value = data.decode("utf-8", "replace").strip()
        if not value or len(data) > MAX_SECRET_BYTES:
            raise ConnectorConfigError(
                f"The file named by {self.key} is empty or too large.",
                fields={self.key: "empty" if not value else "too large"},
            )
        return value


def secret_of(config: Mapping[str, Any], name: str) -> Secret:
    """Where the secret `name` is: exactly one of `<name>_env` and `<name>_file`, the file
    confined to the secret roots (refused now rather than at the first call)."""
    env_key, file_key = f"{name}_env", f"{name}_file"
    if file_key not in config:
        message = f"{env_key} names the environment variable holding the secret."
        env = checks.text(config, env_key, message=message, valid=checks.ENV_NAME.fullmatch)
        return Secret(key=env_key, env=env)
    return Secret(key=file_key, file=confined(config[file_key], file_key))


def confined(path: str, key: str) -> Path:
    roots = [Path(root).resolve() for root in settings.LUP_SECRET_FILE_ROOTS]
    resolved = Path(path).resolve() if Path(path).is_absolute() else None
    if resolved is None or not any(
        resolved != root and resolved.is_relative_to(root) for root in roots
    ):
        raise PathOutsideRoots(
            f"{key} is an absolute path under one of LUP_SECRET_FILE_ROOTS.",
            fields={key: "outside roots"},
        )
    return resolved
