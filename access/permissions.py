from rest_framework.permissions import BasePermission

from access.authentication import ServicePrincipal
from access.roles import user_scopes


def caller_scopes(request) -> frozenset[str]:
    if isinstance(request.user, ServicePrincipal):
        return request.user.scopes
    if request.user is None:
        return frozenset()
    return user_scopes(request.user)


class HasScope(BasePermission):
    """Allow a caller holding the view's `required_scope`; a view that names none is closed.

    `required_scope` is a scope, or a mapping of HTTP method to scope for a view that serves
    two operations on one URL (list and create)."""

    message = "This credential lacks the scope this operation needs."
    code = "insufficient_scope"

    def has_permission(self, request, view) -> bool:
        required = getattr(view, "required_scope", None)
        if isinstance(required, dict):
            required = required.get(request.method if request.method != "HEAD" else "GET")
        if required is None:
            return False
        if request.user is None or not request.user.is_authenticated:
            return False
        return required in caller_scopes(request)
