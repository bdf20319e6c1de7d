"""The OpenAPI document (/api/schema/) types every body and shows an example of each operation.

A body that is, or holds at its top level, a free-form object (`{}`, or `type: object` with no
properties and no typed `additionalProperties`) tells a client nothing it can generate code or
checks from. Every operation also carries an example (on its request body or a 2xx answer),
which the docs UI (/api/docs/) shows beside the schema (one with no body either way, such as
a 204 delete, has nothing to show).

The operations not there yet are named below, each list only allowed to shrink: the test also
fails when a listed operation has become fine, so the entry is removed with the fix.
"""

from typing import Any

import pytest

pytestmark = pytest.mark.django_db

METHODS = ("get", "put", "post", "patch", "delete")

# Operations whose bodies still hold a free-form object, by operationId (each entry goes when
# its operation is typed). Empty: every body is typed.
UNTYPED_YET: frozenset[str] = frozenset()

# Operations without an example yet, by operationId. Empty: every operation has one.
NO_EXAMPLE_YET: frozenset[str] = frozenset()


@pytest.fixture(scope="module")
def document(django_db_blocker) -> dict[str, Any]:
    from rest_framework.test import APIClient

    with django_db_blocker.unblock():
        answer = APIClient().get("/api/schema/", {"format": "json"})
    assert answer.status_code == 200
    return answer.json()


def operations(document: dict) -> dict[str, dict]:
    return {
        operation["operationId"]: operation
        for item in document["paths"].values()
        for method, operation in item.items()
        if method in METHODS
    }


class Untyped:
    """Finds the free-form objects at the top of a body schema, following `$ref`s."""

    def __init__(self, document: dict):
        self.components = document["components"]["schemas"]

    def resolve(self, node: Any) -> Any:
        while isinstance(node, dict) and "$ref" in node:
            node = self.components[node["$ref"].rsplit("/", 1)[1]]
        return node

    def free(self, node: Any, depth: int = 0) -> bool:
        """Says nothing of its shape: `{}`, or an object with neither properties nor typed
        values. A union is free when one of its members is. (Depth bounds recursive
        components, such as an error's nested field messages.)"""
        node = self.resolve(node)
        if not isinstance(node, dict) or depth > 3:
            return False
        kind = node.get("type")
        if kind is None:
            # Without a type of its own, a union is the shape (with one, its members are only
            # constraints, such as "one of these keys is required").
            for union in ("oneOf", "anyOf"):
                if union in node:
                    return any(self.free(member, depth + 1) for member in node[union])
            return not ({"enum", "format", "allOf"} & node.keys())
        if kind == "object" and not node.get("properties"):
            values = node.get("additionalProperties", True)
            return values is True or values == {} or self.free(values, depth + 1)
        return False

    def free_or_list_of_free(self, node: Any) -> bool:
        node = self.resolve(node)
        if isinstance(node, dict) and node.get("type") == "array":
            return self.free(node.get("items", {}))
        return self.free(node)

    def parts(self, node: Any) -> list[str]:
        """`body`, or `body.<property>`, for each free-form object at the body's top level
        (the body, its items if it is a list, its properties, in every variant of a union)."""
        node = self.resolve(node)
        if self.free_or_list_of_free(node):
            return ["body"]
        if node.get("type") == "array":
            node = self.resolve(node.get("items", {}))
        variants = [self.resolve(v) for v in node.get("oneOf", []) + node.get("anyOf", [])]
        found = []
        for variant in [node, *variants]:
            for name, value in (variant.get("properties") or {}).items():
                if self.free_or_list_of_free(value):
                    found.append(f"body.{name}")
        return sorted(set(found))


def untyped_bodies(document: dict) -> dict[str, list[str]]:
    untyped = Untyped(document)
    found: dict[str, list[str]] = {}
    for op_id, operation in operations(document).items():
        bodies = [
            (f"request {media}", content)
            for media, content in operation.get("requestBody", {}).get("content", {}).items()
        ] + [
            (f"{status} {media}", content)
            for status, answer in operation["responses"].items()
            for media, content in (answer.get("content") or {}).items()
        ]
        problems = [
            f"{where}: {part}"
            for where, content in bodies
            if "schema" in content
            for part in untyped.parts(content["schema"])
        ]
        if problems:
            found[op_id] = problems
    return found


def has_example(operation: dict) -> bool:
    contents = list(operation.get("requestBody", {}).get("content", {}).values()) + [
        content
        for status, answer in operation["responses"].items()
        if status.startswith("2")
        for content in (answer.get("content") or {}).values()
    ]
    # An operation with no body either way (a 204 delete) has nothing to show.
    return not contents or any("examples" in c or "example" in c for c in contents)


def test_every_body_is_typed(document):
    untyped = untyped_bodies(document)
    new = {op_id: parts for op_id, parts in untyped.items() if op_id not in UNTYPED_YET}
    assert new == {}, "type these bodies (serializers, extend_schema_field)"
    fixed = sorted(UNTYPED_YET - untyped.keys())
    assert fixed == [], "typed now: remove them from UNTYPED_YET"


def test_every_operation_has_an_example(document):
    missing = {op_id for op_id, op in operations(document).items() if not has_example(op)}
    assert sorted(missing - NO_EXAMPLE_YET) == [], "add an OpenApiExample to these operations"
    assert sorted(NO_EXAMPLE_YET - missing) == [], "they have one now: remove from NO_EXAMPLE_YET"


def test_the_checks_see_what_they_are_for(document):
    """The detector itself: a free-form body, a free-form property and a free map are found;
    a typed map, a union of typed variants and a recursive component are not."""
    checker = Untyped(
        {
            "components": {
                "schemas": {
                    "Typed": {"type": "object", "properties": {"id": {"type": "string"}}},
                    "Loop": {
                        "oneOf": [
                            {"type": "string"},
                            {"type": "object", "additionalProperties": {"$ref": "#/x/Loop"}},
                        ]
                    },
                }
            }
        }
    )
    assert checker.parts({}) == ["body"]
    assert checker.parts({"type": "object", "additionalProperties": {}}) == ["body"]
    assert checker.parts({"type": "array", "items": {"type": "object"}}) == ["body"]
    assert checker.parts({"type": "object", "properties": {"a": {}, "b": {"type": "string"}}}) == [
        "body.a"
    ]
    assert checker.parts({"type": "object", "additionalProperties": {"type": "string"}}) == []
    assert checker.parts({"oneOf": [{"$ref": "#/x/Typed"}]}) == []
    assert checker.parts({"$ref": "#/x/Loop"}) == []
    constrained = {"type": "object", "properties": {"a": {}}, "anyOf": [{"required": ["a"]}]}
    assert checker.parts(constrained) == ["body.a"]


def test_the_docs_page_serves_the_document(client):
    page = client.get("/api/docs/")
    assert page.status_code == 200
    assert b"swagger" in page.content.lower()
