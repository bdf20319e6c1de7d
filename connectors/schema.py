"""Each kind's config as a JSON Schema (draft 2020-12): what the kind takes, described key by key.

A kind sets `config_schema = schema.config(...)` beside its class; the schema refuses unknown
keys (`additionalProperties: false`), gives every key a type and a description (the README's
reference and the OpenAPI document are generated from it) and carries one example. A config is
validated against it when the connector is built, before the kind's own checks, which still
decide what a schema cannot say (a column in the catalog, a template's placeholders).

Errors name the failing key and the rule it broke, never the value: a config may hold what
someone pasted by mistake, a password among it.

Secrets: a config holds the *name* of an environment variable (`*_env`), never a secret itself.
`secrets(config)` refuses what looks like one all the same: a URL with credentials in it
(`user:password@`, or a `token=` in its query) anywhere in the config, answered
`credentials_in_url`; an unknown key named like a secret (`password`, `dsn`, `token`) is
`inline_secret` (see `config.checked`).
"""

import re
import urllib.parse
from collections.abc import Mapping
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from .errors import ConnectorConfigError, CredentialsInUrl, InlineSecret

DIALECT = "https://json-schema.org/draft/2020-12/schema"
# The longest timeout a config may ask for (seconds).
MAX_TIMEOUT_SECONDS = 3600
DEFAULT_TIMEOUT_SECONDS = 30

# Names that say a key holds a secret, and query parameters that carry one.
SECRET_NAME = re.compile(
    r"passw(or)?d|secret|token|dsn|api_?key|access_?key|credential|private_?key", re.IGNORECASE
)
SECRET_PARAMETER = re.compile(
    r"^(?:.*[_-])?(?:token|secret|passw(or)?d|pwd|sig|signature|api_?key|apikey|key|auth"
    r"|credentials?)$",
    re.IGNORECASE,
)
# A URL (any scheme) and the parts a credential hides in.
URL = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s\"'<>]+")
# A DSN written as key=value pairs with a password among them.
KEYWORD_PASSWORD = re.compile(r"(?:^|\s)password\s*=", re.IGNORECASE)

# --- fragments shared by the kinds -----------------------------------------------------------

ID_TYPE = {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,31}$"}
SQL_NAME = "^[A-Za-z_][A-Za-z0-9_]{0,62}$"


def env_name(description: str) -> dict[str, Any]:
    return {
        "type": "string",
        "pattern": "^[A-Za-z_][A-Za-z0-9_]{0,127}$",
        "description": description,
    }


def path(description: str = "") -> dict[str, Any]:
    return {
        "type": "string",
        "minLength": 1,
        "description": (
            f"{description} Absolute, or relative to the first of `LUP_FILE_ROOTS`; it must "
            "resolve (symbolic links followed) under one of them."
        ).strip(),
    }


def sharding(what: str) -> dict[str, dict[str, Any]]:
    """`dir` + `glob`: many files of the kind under one directory, instead of `path`."""
    return {
        "dir": {
            "type": "string",
            "minLength": 1,
            "description": f"Instead of `path`: the directory holding {what}, erased shard by "
            "shard (one task per file, or per group of small files, across every worker). "
            "Absolute, or relative to the first of `LUP_FILE_ROOTS`; it must resolve under one "
            "of them.",
        },
        "glob": {
            "type": "string",
            "minLength": 1,
            "maxLength": 512,
            "description": "Required with `dir`: the pattern of the shards' names under it "
            "(`*.jsonl.gz`, `2026-*/part-*.csv`; `**` for any depth). Relative, without `..`; "
            "hidden files are never shards.",
        },
    }


def id_types(description: str) -> dict[str, Any]:
    return {"type": "array", "items": ID_TYPE, "minItems": 1, "description": description}


def match(what: dict[str, Any], description: str) -> dict[str, Any]:
    """{identifier type: `what`}: the place each identifier type is found."""
    return {
        "type": "object",
        "minProperties": 1,
        "propertyNames": ID_TYPE,
        "additionalProperties": what,
        "description": description,
    }


def integer(low: int, high: int, default: int, description: str) -> dict[str, Any]:
    return {
        "type": "integer",
        "minimum": low,
        "maximum": high,
        "default": default,
        "description": description,
    }


# The `history` block of the kinds whose store keeps earlier versions (`connectors.history`).
DEFAULT_RETAIN_DAYS = 7
MAX_RETAIN_DAYS = 3650
HISTORY = {
    "type": "object",
    "properties": {
        "policy": {
            "enum": ["purged", "retained"],
            "description": "`purged`: right after an erasure every earlier version is removed, "
            "and the post-check reads every version the store still keeps. `retained`: earlier "
            "versions are kept for `retain_days`, and the receipt says until when.",
        },
        "retain_days": {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_RETAIN_DAYS,
            "default": DEFAULT_RETAIN_DAYS,
            "description": "With `retained`: days earlier versions are kept after an erasure "
            "before the next clean-up may remove them.",
        },
        "legal_basis": {
            "type": "string",
            "minLength": 1,
            "maxLength": 200,
            "description": "Why earlier versions are kept (a backup duty, an audit), for staff "
            "reading the target; never put in a receipt.",
        },
    },
    "required": ["policy"],
    "additionalProperties": False,
}


def history(what: str) -> dict[str, Any]:
    """The `history` block, `what` saying which earlier versions the kind's store keeps."""
    return {
        **HISTORY,
        "description": f"What happens to {what} after an erasure (see *Earlier versions* "
        "below). Without it they are retained for 7 days; removing them at once (`purged`) "
        "must be said here.",
    }


def history_of(*, purged: str, retained: str) -> dict[str, Any]:
    """The `history` block of a kind that claims nothing of its earlier versions without one
    (the database kinds); `purged` and `retained` say what the kind does under each policy."""
    return {
        **HISTORY,
        "description": "Optional: what happens to the older versions this store keeps after "
        'an erasure. {"policy": "purged"}: ' + purged + " The receipt then says `purged`: no "
        'version the store keeps still held the person\'s data. {"policy": "retained", '
        '"retain_days": N}: ' + retained + " The receipt says `retained` and until when: "
        "the time of the check plus N days. Without `history` the receipt covers the current "
        "data only.",
    }


TIMEOUT = {
    "type": "number",
    "exclusiveMinimum": 0,
    "maximum": MAX_TIMEOUT_SECONDS,
    "default": DEFAULT_TIMEOUT_SECONDS,
    "description": "Seconds one call to the target may take before it is abandoned and retried.",
}


def config(
    *,
    description: str,
    properties: Mapping[str, dict[str, Any]],
    required: list[str],
    example: dict[str, Any],
    one_of: list[list[str]] = (),  # type: ignore[assignment]
    together: list[list[str]] = (),  # type: ignore[assignment]
) -> dict[str, Any]:
    """A kind's config schema: an object of exactly these keys (and `timeout_seconds`), with
    exactly one key of each group in `one_of` (`dsn_env` or `dsn_file`), and the keys of each
    group in `together` all given or none (`dir` and `glob`)."""
    described = {
        "$schema": DIALECT,
        "type": "object",
        "description": description,
        "properties": {**properties, "timeout_seconds": TIMEOUT},
        "additionalProperties": False,
        "examples": [example],
    }
    if required:  # OpenAPI 3.0 refuses an empty list
        described["required"] = required
    if one_of:
        described["oneOf"] = [{"required": keys} for keys in one_of]
    if together:
        described["dependentRequired"] = {
            key: [other for other in keys if other != key] for keys in together for key in keys
        }
    return described


# --- validation ------------------------------------------------------------------------------

# What each rule broken says of the key (the value itself is never repeated).
REASONS = {
    "type": "wrong type",
    "required": "required",
    "additionalProperties": "unknown key",
    "propertyNames": "malformed key",
    "pattern": "not in the expected form",
    "enum": "not an allowed value",
    "const": "not an allowed value",
    "minimum": "out of range",
    "maximum": "out of range",
    "exclusiveMinimum": "out of range",
    "exclusiveMaximum": "out of range",
    "minLength": "empty",
    "maxLength": "too long",
    "minItems": "empty",
    "maxItems": "too many items",
    "minProperties": "empty",
    "uniqueItems": "duplicate items",
}


# Each schema's validator, built once (a connector is built for every call to its target).
_validators: dict[int, tuple[dict[str, Any], Draft202012Validator]] = {}


def _validator(schema: dict[str, Any]) -> Draft202012Validator:
    found = _validators.get(id(schema))
    if found is None or found[0] is not schema:
        Draft202012Validator.check_schema(schema)
        found = _validators[id(schema)] = (schema, Draft202012Validator(schema))
    return found[1]


def validate(config: Mapping[str, Any], schema: dict[str, Any], *, kind: str = "") -> None:
    """Refuse `config` unless `schema` accepts it, naming the first failing key."""
    error = best_match(_validator(schema).iter_errors(config))
    if error is None:
        return
    key, reason = _where(error)
    what = f"a {kind} config" if kind else "this config"
    messages = {
        "required": f"{key} is required in {what}.",
        "unknown key": f"{key} is not a setting of {what}.",
    }
    raise ConnectorConfigError(
        messages.get(reason, f"{key}: {reason} (see the reference of {what})."),
        fields={key: reason},
    )


def _where(error: ValidationError) -> tuple[str, str]:
    """The dotted key an error is about and the reason, from the rule alone."""
    key = ""
    for part in error.absolute_path:  # `match.email`, `keys[0]`: as the kinds' own checks say
        key += f"[{part}]" if isinstance(part, int) else f".{part}"
    reason = REASONS.get(str(error.validator), "invalid")
    instance = error.instance
    if error.validator == "required" and isinstance(instance, Mapping):
        missing = [k for k in error.validator_value if k not in instance]
        key += f".{missing[0]}" if missing else ""
    elif error.validator == "oneOf" and isinstance(instance, Mapping):
        # Exactly one of `dsn_env` / `dsn_file`: named by the first, as a missing key is.
        choices = [key for branch in error.validator_value for key in branch.get("required", ())]
        given = [choice for choice in choices if choice in instance]
        key += f".{(given or choices)[0]}"
        reason = "required" if not given else "only one of " + " and ".join(choices)
    elif error.validator == "dependentRequired" and isinstance(instance, Mapping):
        missing = [k for keys in error.validator_value.values() for k in keys if k not in instance]
        key, reason = f"{key}.{missing[0]}" if missing else key, "required"
    elif error.validator == "additionalProperties" and isinstance(instance, Mapping):
        known = set(error.schema.get("properties", {}))
        unknown = sorted(str(k) for k in instance if k not in known)
        key += f".{unknown[0][:64]}" if unknown else ""
    return key.removeprefix(".") or "config", reason


# --- secrets ---------------------------------------------------------------------------------


def secrets(config: Mapping[str, Any]) -> None:
    """Refuse a config holding what looks like a secret in any of its values."""
    for key, value in config.items():
        for text in _strings(value):
            _refuse_secret(str(key), text)


def unknown_key(key: str, value: Any) -> ConnectorConfigError:
    """The error for a key the kind does not take: a secret by its name or its value says so."""
    shown = key[:64]
    for text in _strings(value):
        _refuse_secret(shown, text)
    if SECRET_NAME.search(key):
        return InlineSecret(
            f"{shown!r} would hold a secret in the config. Name the environment variable that "
            "holds it instead (a key ending in _env).",
            fields={shown: "inline secret"},
        )
    return ConnectorConfigError(
        f"{shown!r} is not a setting of this kind of target.", fields={shown: "unknown key"}
    )


def _refuse_secret(key: str, text: str) -> None:
    for found in URL.finditer(text):
        parts = urllib.parse.urlsplit(found.group(0))
        query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        if "@" in parts.netloc or any(SECRET_PARAMETER.match(name) for name, _ in query):
            raise CredentialsInUrl(
                f"{key} holds a URL with credentials in it. Keep the URL in an environment "
                "variable and name the variable (a key ending in _env).",
                fields={key: "credentials in url"},
            )
    if KEYWORD_PASSWORD.search(text):
        raise InlineSecret(
            f"{key} holds a password. Keep it in an environment variable and name the variable "
            "(a key ending in _env).",
            fields={key: "inline secret"},
        )


def _strings(value: Any, depth: int = 0):
    """Every string in a JSON value, keys of objects included (depth bounded by the caps)."""
    if isinstance(value, str):
        yield value
    elif depth < 32 and isinstance(value, Mapping):
        for inner_key, inner in value.items():
            yield from _strings(inner_key, depth + 1)
            yield from _strings(inner, depth + 1)
    elif depth < 32 and isinstance(value, list | tuple):
        for inner in value:
            yield from _strings(inner, depth + 1)
