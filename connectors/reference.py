"""The reference of every kind's config, in Markdown, made from the kinds' JSON Schemas: the
README carries it (`manage.py connector_reference --write`), and a test fails when the two
differ, so the documented keys are the keys a connector takes."""

import json
from typing import Any

from . import CONNECTORS
from .history import HISTORY_IN_PLAIN_WORDS
from .schema import HISTORY, ID_TYPE


def markdown() -> str:
    """Every kind, in the order of its name: what it is, a table of its keys, one example;
    then the `history` block the versioned kinds share, in plain words."""
    kinds = "\n".join(_kind(kind, CONNECTORS[kind].config_schema) for kind in sorted(CONNECTORS))
    versioned = sorted(
        kind for kind, cls in CONNECTORS.items() if "history" in cls.config_schema["properties"]
    )
    if not versioned:
        return kinds
    return "\n".join([kinds, _history(versioned)])


def _history(kinds: list[str]) -> str:
    rows = ["| key | type | meaning |", "|---|---|---|"]
    for key, prop in HISTORY["properties"].items():
        rows.append(f"| `{key}` | {_type(prop)} | {_cell(prop.get('description', ''))} |")
    return "\n".join(
        [
            "##### Earlier versions (`history`)",
            "",
            f"Taken by {', '.join(f'`{kind}`' for kind in kinds)}.",
            "",
            *HISTORY_IN_PLAIN_WORDS,
            "",
            *rows,
            "",
        ]
    )


def _kind(kind: str, schema: dict[str, Any]) -> str:
    required = set(schema.get("required", ()))
    # Keys of which exactly one is given (`dsn_env` or `dsn_file`).
    choices = [key for branch in schema.get("oneOf", ()) for key in branch.get("required", ())]
    rows = [
        "| key | type | required | default | meaning |",
        "|---|---|---|---|---|",
    ]
    for key, prop in schema["properties"].items():
        default = f"`{json.dumps(prop['default'])}`" if "default" in prop else ""
        rows.append(
            f"| `{key}` | {_type(prop)} | {_required(key, required, choices)} | {default} "
            f"| {_cell(prop.get('description', ''))} |"
        )
    # A key a line, each value on its line.
    lines = ",\n".join(
        f"  {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}"
        for key, value in schema["examples"][0].items()
    )
    return "\n".join(
        [
            f"##### `{kind}`",
            "",
            schema["description"],
            "",
            *rows,
            "",
            "```json",
            "{",
            lines,
            "}",
            "```",
            "",
        ]
    )


def _required(key: str, required: set[str], choices: list[str]) -> str:
    if key in required:
        return "yes"
    if key in choices:
        return "one of " + ", ".join(f"`{choice}`" for choice in choices)
    return ""


def _type(prop: dict[str, Any]) -> str:
    """A short, readable type: `string`, `integer 1 to 1000`, `object: id_type → string`."""
    kind = prop.get("type")
    if "enum" in prop:
        return " or ".join(f"`{json.dumps(value)}`" for value in prop["enum"])
    if isinstance(kind, list):
        return " or ".join(kind)
    if kind in ("integer", "number") and "minimum" in prop and "maximum" in prop:
        return f"{kind} {prop['minimum']} to {prop['maximum']}"
    if kind in ("integer", "number") and "maximum" in prop:
        return f"{kind} > 0, ≤ {prop['maximum']}"
    if kind == "array":
        return f"list of {_type(prop.get('items', {}))}"
    if kind == "object" and "properties" in prop:
        return "object: " + ", ".join(f"`{name}`" for name in prop["properties"])
    if kind == "object" and isinstance(prop.get("additionalProperties"), dict):
        names = "id_type" if prop.get("propertyNames") == ID_TYPE else "column"
        return f"object: {names} → {_type(prop['additionalProperties'])}"
    return str(kind or "any")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
