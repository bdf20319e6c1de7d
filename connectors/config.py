"""Reading a target's config: the one place every kind checks the shape of what it was given.

`checked(config, keys=...)` refuses anything but a JSON object of the kind's known keys within
the size caps; the getters then read one key each, with its type, and refuse anything else with
`ConnectorConfigError` naming the key. A config is written by staff but still reaches SQL, the
file system and Redis, and is stored and shown back, so an unknown key (a typo that would
silently do nothing) or a megabyte of text is refused when the target is saved, never a 500 later.
"""

import re
from collections.abc import Callable, Mapping
from typing import Any

from . import schema
from .errors import ConnectorConfigError

# Caps on any value anywhere in a config: far above what a real target needs.
MAX_STRING = 1 << 20  # characters
MAX_ITEMS = 10_000  # items of one list or object
MAX_DEPTH = 16  # containers inside containers
# How much of an unknown key an error repeats.
SHOWN_KEY = 64

ID_TYPE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
# The name of an environment variable holding a secret (a DSN, a URL, a key): the config names
# the variable, so the secret itself is never stored with the target.
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
MISSING: Any = object()


def checked(config: Any, *, keys: frozenset[str]) -> dict[str, Any]:
    """The config as a new dict: refused unless an object whose keys are all in `keys` and
    whose every value is within the caps."""
    if not isinstance(config, Mapping):
        raise ConnectorConfigError("A target's config is a JSON object.", fields={"config": ""})
    for key, value in config.items():
        if not isinstance(key, str) or key not in keys:
            # A key named like a secret, or holding one, says so (`schema.unknown_key`).
            raise schema.unknown_key(str(key)[:SHOWN_KEY], value)
    for key, value in config.items():
        _within_caps(value, key, 1)
    return dict(config)


def _within_caps(value: Any, key: str, depth: int) -> None:
    if isinstance(value, str):
        if len(value) > MAX_STRING:
            raise ConnectorConfigError(
                f"{key} is longer than {MAX_STRING} characters.", fields={key: "too long"}
            )
        # The config is stored as jsonb, which holds neither NUL nor a lone surrogate: refused
        # here, rather than failing in the database when the target is saved.
        if "\x00" in value or not _encodable(value):
            raise ConnectorConfigError(
                f"{key} holds text that is not valid Unicode.", fields={key: "invalid text"}
            )
        return
    if not isinstance(value, Mapping | list | tuple):
        return
    if depth > MAX_DEPTH:
        raise ConnectorConfigError(f"{key} is nested too deeply.", fields={key: "too deep"})
    if len(value) > MAX_ITEMS:
        raise ConnectorConfigError(
            f"{key} has more than {MAX_ITEMS} items.", fields={key: "too many items"}
        )
    items = value.items() if isinstance(value, Mapping) else enumerate(value)
    for inner_key, inner in items:
        if isinstance(value, Mapping):
            _within_caps(inner_key, key, depth + 1)
        _within_caps(inner, key, depth + 1)


def _encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# --- getters: each reads one key of a `checked` config ----------------------------------------


def text(
    config: Mapping[str, Any],
    key: str,
    *,
    message: str,
    reason: str = "required",
    default: Any = MISSING,
    valid: Callable[[str], object] | None = None,
) -> str:
    """A non-blank string without NUL characters (and accepted by `valid`); `default` when the
    key is absent or null, if one is given."""
    value = config.get(key)
    if value is None and default is not MISSING:
        return default
    if (
        not isinstance(value, str)
        or not value.strip()
        or "\x00" in value
        or (valid is not None and not valid(value))
    ):
        raise ConnectorConfigError(message, fields={key: reason})
    return value


def integer(
    config: Mapping[str, Any], key: str, *, low: int, high: int, default: int, message: str
) -> int:
    """A whole number from `low` to `high` (not a boolean); `default` when absent or null."""
    value = config.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConnectorConfigError(message, fields={key: "out of range"})
    return value


def flag(config: Mapping[str, Any], key: str, *, default: Any) -> Any:
    """True or false; `default` when absent or null."""
    value = config.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise ConnectorConfigError(f"{key} is true or false.", fields={key: "not a boolean"})
    return value


def names(
    config: Mapping[str, Any],
    key: str,
    *,
    message: str,
    valid: Callable[[str], object] = ID_TYPE.fullmatch,
) -> list[str]:
    """A non-empty list of strings, each accepted by `valid` (identifier types by default)."""
    value = config.get(key)
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(item, str) and valid(item) for item in value)
    ):
        raise ConnectorConfigError(message, fields={key: "required"})
    return list(value)


def mapping(
    config: Mapping[str, Any], key: str, *, valid: Callable[[str], object], what: str
) -> dict[str, str]:
    """{identifier type: name}, each name accepted by `valid` (errors name `key.<id_type>`)."""
    given = config.get(key)
    if not isinstance(given, Mapping) or not given:
        raise ConnectorConfigError(
            f"{key} maps identifier types to {what}s.", fields={key: "required"}
        )
    found = {}
    for id_type, name in given.items():
        if not isinstance(id_type, str) or not ID_TYPE.fullmatch(id_type):
            raise ConnectorConfigError(
                f"{key} has a malformed identifier type.", fields={key: "bad id_type"}
            )
        if not isinstance(name, str) or not valid(name):
            raise ConnectorConfigError(
                f"{key}.{id_type} is not a valid {what}.",
                fields={f"{key}.{id_type}": f"not a valid {what}"},
            )
        found[id_type] = name
    return found
