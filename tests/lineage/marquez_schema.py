"""Validation of lineage graph answers against Marquez's vendored OpenAPI schemas.

OpenAPI 3.0 is read as JSON Schema the way Marquez's clients read it: `type: enum` is an enum
of strings, `format` is an annotation, and a node's `data` is checked against the schema its
node `type` names (the discriminator's mapping), since `oneOf` alone matches both.
"""

import functools
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

import lineage

SPEC = Path(lineage.__file__).parent / "schemas" / "marquez" / "openapi-lineage.yml"


def _as_json_schema(node: Any) -> Any:
    if isinstance(node, dict):
        converted = {}
        for key, value in node.items():
            if key == "$ref":
                converted[key] = value.replace("#/components/schemas/", "#/$defs/")
            elif key == "type" and value == "enum":
                converted[key] = "string"
            elif key in ("discriminator", "example", "deprecated"):
                continue
            else:
                converted[key] = _as_json_schema(value)
        return converted
    if isinstance(node, list):
        return [_as_json_schema(item) for item in node]
    return node


@functools.cache
def _defs() -> dict[str, Any]:
    return _as_json_schema(yaml.safe_load(SPEC.read_text())["components"]["schemas"])


def _validator(name: str, overrides: dict | None = None) -> Draft202012Validator:
    defs = {**_defs(), **(overrides or {})}
    return Draft202012Validator({"$defs": defs, "$ref": f"#/$defs/{name}"})


def errors(answer: dict) -> list[str]:
    """Every way `answer` departs from Marquez's LineageGraph, as readable lines."""
    graph_node = {**_defs()["GraphNode"]}
    graph_node["properties"] = {**graph_node["properties"], "data": {"type": "object"}}
    found = [
        f"{e.json_path}: {e.message}"
        for e in _validator("LineageGraph", {"GraphNode": graph_node}).iter_errors(answer)
    ]
    data_schemas = {"DATASET": "Dataset", "JOB": "Job"}
    for index, node in enumerate(answer.get("graph", [])):
        schema = data_schemas.get(node.get("type"))
        if schema is None:
            continue
        found += [
            f"$.graph[{index}].data{e.json_path[1:]}: {e.message}"
            for e in _validator(schema).iter_errors(node.get("data"))
        ]
    return found


def assert_valid(answer: dict) -> None:
    problems = errors(answer)
    assert not problems, "\n".join(problems)
