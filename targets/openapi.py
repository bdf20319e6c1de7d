"""How the OpenAPI document describes a target: one shape per connector kind, chosen by `kind`.

A target's `config` is a different object for every kind (`connectors.schema`). The document
says so with a `oneOf` of one variant per kind and a discriminator on `kind`, each variant's
`config` being that kind's schema, so a client generated from the document knows every key.
"""

from typing import Any

from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema_field
from rest_framework import serializers

from connectors import CONNECTORS

# JSON Schema keywords OpenAPI 3.0 does not know; the rule they state is still enforced when
# the connector is built.
UNKNOWN_TO_OPENAPI_30 = frozenset(
    {"$schema", "propertyNames", "dependentRequired", "if", "then", "else"}
)


def openapi_schema(schema: Any) -> Any:
    """A draft 2020-12 schema as an OpenAPI 3.0 schema object (`example`, `nullable`, a
    boolean `exclusiveMinimum`)."""
    if isinstance(schema, list):
        return [openapi_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in UNKNOWN_TO_OPENAPI_30:
            continue
        if key == "examples":
            out["example"] = value[0]
        elif key == "exclusiveMinimum":
            out.update(minimum=value, exclusiveMinimum=True)
        elif key == "type" and isinstance(value, list):
            types = [t for t in value if t != "null"]
            out["type"] = types[0]
            if "null" in value:
                out["nullable"] = True
        elif key in ("properties",):
            out[key] = {name: openapi_schema(inner) for name, inner in value.items()}
        else:
            out[key] = openapi_schema(value)
    return out


def _camel(kind: str) -> str:
    return "".join(part.capitalize() for part in kind.split("_"))


def _kind_field(kind: str, name: str) -> type[serializers.Field]:
    field = type(f"{_camel(kind)}KindField", (serializers.CharField,), {})
    # One enum of one value per variant; its id keeps drf-spectacular from seeing the request's
    # and the answer's as one enum shared by two components (which it would name by a hash).
    schema = {"type": "string", "enum": [kind], "x-spec-enum-id": f"{name}-{kind}"}
    return extend_schema_field(schema)(field)


def _config_field(kind: str) -> type[serializers.Field]:
    field = type(f"{_camel(kind)}ConfigField", (serializers.JSONField,), {})
    return extend_schema_field(openapi_schema(CONNECTORS[kind].config_schema))(field)


_variants: dict[str, dict[str, type[serializers.Serializer]]] = {}


def by_kind(
    base: type[serializers.Serializer], *, name: str, many: bool = False
) -> PolymorphicProxySerializer:
    """`base` as one variant per kind, its `kind` and `config` fields narrowed to the kind
    (the variants of a name are made once, so every operation refers to the same ones)."""
    if name not in _variants:
        _variants[name] = _made(base, name)
    return PolymorphicProxySerializer(
        component_name=name,
        serializers=_variants[name],
        resource_type_field_name="kind",
        many=many,
    )


def _made(base: type[serializers.Serializer], name: str) -> dict[str, type]:
    return {
        kind: type(
            f"{name}{_camel(kind)}Serializer",
            (base,),
            {
                "__doc__": f"A `{kind}` target: {CONNECTORS[kind].config_schema['description']}",
                "kind": _kind_field(kind, name)(),
                "config": _config_field(kind)(),
            },
        )
        for kind in sorted(CONNECTORS)
    }
