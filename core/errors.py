"""One error shape for the whole API: `{"code", "detail", "fields"}` with the right 4xx status.

Services raise `ApplicationError` subclasses with a stable code; views never build error
responses by hand. Codes are part of the API contract: clients branch on them, so they never
change once published.
"""

from typing import Any

from django.http import JsonResponse
from rest_framework import status


class ApplicationError(Exception):
    """A refusal the client can act on. Subclasses set `code` and `status_code`."""

    code = "invalid_request"
    status_code = status.HTTP_400_BAD_REQUEST

    def __init__(self, detail: str, *, fields: dict[str, Any] | None = None, code: str = ""):
        super().__init__(detail)
        self.detail = detail
        self.fields = fields or {}
        if code:
            self.code = code


class NotFound(ApplicationError):
    code = "not_found"
    status_code = status.HTTP_404_NOT_FOUND


class Forbidden(ApplicationError):
    """Allowed to call, not to do this: e.g. approving one's own request (four eyes)."""

    code = "forbidden"
    status_code = status.HTTP_403_FORBIDDEN


class Conflict(ApplicationError):
    code = "conflict"
    status_code = status.HTTP_409_CONFLICT


class PayloadTooLarge(ApplicationError):
    code = "payload_too_large"
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE


def error_body(code: str, detail: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"code": code, "detail": detail, "fields": fields or {}}


def json_error_view(status_code: int, code: str, detail: str):
    """Django-level handlers (404/500 outside DRF) answer in the same shape under /api/."""

    def view(request, exception=None):
        return JsonResponse(error_body(code, detail), status=status_code)

    return view
