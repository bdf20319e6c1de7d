"""What the OpenAPI schema says about the parts every operation shares: the error body, the
bearer token, and which error answers an operation can give.

REST_FRAMEWORK's DEFAULT_SCHEMA_CLASS names `AutoSchema` for every view; an operation documents
its own refusals (a 409, a 404 on an endpoint without path parameters) in
`extend_schema(responses=...)` with `ERROR`.
"""

from drf_spectacular import openapi
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.utils import OpenApiResponse, extend_schema_field
from rest_framework import serializers
from rest_framework.permissions import AllowAny

# What `fields` says of one input: a code or message, a count (an import's `error_count`), a
# list of them (one per problem, or one per item of a list input), or the same again by key
# for an input that is an object.
# Recursive, so it is a component of its own, added to every document by AutoSchema.
FIELD_ERROR = ResolvedComponent(
    name="FieldError",
    type=ResolvedComponent.SCHEMA,
    object="FieldError",
    schema={
        "description": "What was wrong with one input: a code or message, a count, a list of "
        "them, or the same by key for an input that is an object or a list.",
        "oneOf": [
            {"type": "string"},
            {"type": "integer"},
            {"type": "array", "items": {"$ref": "#/components/schemas/FieldError"}},
            {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/FieldError"}},
        ],
    },
)


@extend_schema_field({"type": "object", "additionalProperties": FIELD_ERROR.ref})
class FieldErrorsField(serializers.DictField):
    pass


class ErrorSerializer(serializers.Serializer):
    """The body of every refusal (`core.errors`)."""

    code = serializers.CharField(help_text="Stable; clients branch on it.")
    detail = serializers.CharField(help_text="For people; may change.")
    fields = FieldErrorsField(
        help_text="What was wrong with each input, by field, nested as the input is; empty "
        "when the refusal is not about one input."
    )


ERROR = OpenApiResponse(ErrorSerializer, description="Refused; nothing was changed.")

# Why each code can come back, whatever the operation does.
ERROR_DESCRIPTIONS = {
    400: "Bad input (`code` says which); nothing was changed.",
    401: "No credential, or not a valid one.",
    403: "The credential lacks the scope this operation needs (`insufficient_scope`).",
    404: "No such object (`code` says which kind).",
    413: "The body is larger than this operation accepts.",
    415: "The body is of a media type this operation does not read.",
}


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """`Authorization: Bearer lup_…`. The class is named by its dotted path, as settings name
    it, so core still imports no app."""

    target_class = "access.authentication.ApiTokenAuthentication"
    name = "bearerAuth"

    def get_security_requirement(self, auto_schema):
        return None  # SPECTACULAR_SETTINGS["SECURITY"] already asks every operation for it

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "lup_<prefix>_<secret>"}


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's schema, plus the error answers an operation can give from its shape:
    400 when it takes input, 413 and 415 when it takes a body, 404 when its path names an
    object, and 401 and 403 unless anyone may call it. Codes an operation documents itself
    are kept as they are."""

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        registry.register_on_missing(FIELD_ERROR)
        error = self.resolve_serializer(ErrorSerializer, "response").ref
        for code in sorted(self.error_codes(operation)):
            operation["responses"].setdefault(
                str(code),
                {
                    "description": ERROR_DESCRIPTIONS[code],
                    "content": {"application/json": {"schema": error}},
                },
            )
        return operation

    def error_codes(self, operation: dict) -> set[int]:
        parameters = operation.get("parameters", [])
        codes = set()
        if parameters or "requestBody" in operation:
            codes.add(400)
        if "requestBody" in operation:
            codes |= {413, 415}
        if any(parameter["in"] == "path" for parameter in parameters):
            codes.add(404)
        if not all(isinstance(p, AllowAny) for p in self.view.get_permissions()):
            codes |= {401, 403}
        return codes
