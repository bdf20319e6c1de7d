"""Check an answer against the schema the OpenAPI document (/api/schema/) gives it, for answers
the generated-input run and its scenario do not reach with real data."""

from typing import Any

from jsonschema import Draft202012Validator
from rest_framework.test import APIClient


def _as_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 to JSON Schema: `nullable` becomes a null type, refs point at `$defs`."""
    if isinstance(node, list):
        return [_as_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {
        key: (
            value.replace("#/components/schemas/", "#/$defs/")
            if key == "$ref"
            else _as_json_schema(value)
        )
        for key, value in node.items()
        if key not in ("nullable", "discriminator", "example", "readOnly", "writeOnly")
    }
    if node.get("nullable"):
        return {"anyOf": [converted, {"type": "null"}]}
    return converted


def documented_errors(path: str, method: str, status: int, body: Any) -> list[str]:
    """What in `body` the document's schema for that answer does not allow."""
    document = APIClient().get("/api/schema/", {"format": "json"}).json()
    answer = document["paths"][path][method]["responses"][str(status)]
    schema = _as_json_schema(answer["content"]["application/json"]["schema"])
    schema["$defs"] = _as_json_schema(document["components"]["schemas"])
    return [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message[:200]}"
        for error in Draft202012Validator(schema).iter_errors(body)
    ]
