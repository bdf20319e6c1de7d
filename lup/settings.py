"""Where the service is and which token to send: flags, then `LUP_URL` / `LUP_TOKEN`, then the
config file (`LUP_CONFIG`, else `~/.config/lup/config.toml`):

    url = "https://lup.example.org"
    token = "lup_..."
"""

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

DEFAULT_URL = "http://127.0.0.1:8000"


class SettingsError(Exception):
    """The settings cannot be read (a usage error, not the service's)."""


def config_path() -> Path:
    configured = os.environ.get("LUP_CONFIG")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "lup" / "config.toml"


@dataclass(frozen=True)
class Settings:
    url: str
    token: str


def settings_load(
    *, url: str | None = None, token: str | None = None, path: Path | None = None
) -> Settings:
    path = path or config_path()
    file: dict = {}
    if path.exists():
        try:
            file = tomllib.loads(path.read_text("utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError(f"{path}: {exc}") from None
    return Settings(
        url=(url or os.environ.get("LUP_URL") or file.get("url") or DEFAULT_URL).rstrip("/"),
        token=token or os.environ.get("LUP_TOKEN") or file.get("token") or "",
    )
