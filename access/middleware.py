"""The staff audit: every admin request by a staff member, recorded after its response."""

from collections.abc import Callable

from django.contrib.admin.utils import unquote
from django.http import HttpRequest, HttpResponseBase
from django.urls import ResolverMatch

from access.models import StaffAction
from access.services import staff_action_record
from core.clientip import client_address

Kind = StaffAction.Kind

# The suffixes of a ModelAdmin's URL names (`<app>_<model>_<suffix>`) and what they do.
_MODEL_VIEW_KINDS = {
    "changelist": Kind.CHANGELIST,
    "add": Kind.ADD,
    "delete": Kind.DELETE,
    "history": Kind.HISTORY,
}
_READS = frozenset({"GET", "HEAD", "OPTIONS"})


def admin_view_kind(match: ResolverMatch, method: str) -> tuple[str, str, str]:
    """(kind, "app_label.model_name", object id) of a resolved admin URL.

    Django's ModelAdmin marks each of its views with `model_admin`; any other admin URL (the
    index, an app's page, a custom page) is "other", with the object id if it names one.
    """
    object_id = match.kwargs.get("object_id")
    object_id = unquote(str(object_id)) if object_id is not None else ""
    model_admin = getattr(match.func, "model_admin", None)
    if model_admin is None:
        return Kind.OTHER, "", object_id
    opts = model_admin.opts
    suffix = (match.url_name or "").removeprefix(f"{opts.app_label}_{opts.model_name}_")
    if suffix == "change":
        # One URL serves reading and saving; the method tells who only looked.
        kind = Kind.VIEW if method in _READS else Kind.CHANGE
    else:
        kind = _MODEL_VIEW_KINDS.get(suffix, Kind.OTHER)
    return kind, opts.label_lower, object_id


class StaffAuditMiddleware:
    """Append a `StaffAction` for each request an authenticated staff member makes to an admin
    site. Install it after AuthenticationMiddleware.

    Only the resolved view is kept: never the query string or the body, which may hold the
    identifiers staff searched for or typed in.
    """

    # Views that are not staff actions: the admin's translations for its scripts.
    skipped_url_names = frozenset({"jsi18n"})
    # The namespace every Django admin site's URLs share.
    admin_app_name = "admin"

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        audited = getattr(request, "_staff_audit", None)
        if audited is None:
            return response
        match, before = audited
        # The user after the view (a login just happened), else before it (a logout did).
        user = self._staff(request) or before
        if user is not None:
            kind, model, object_id = admin_view_kind(match, request.method or "")
            staff_action_record(
                user=user,
                method=request.method or "",
                kind=kind,
                url_name=match.url_name or "",
                model=model,
                object_id=object_id,
                status=response.status_code,
                address=client_address(request),
            )
        return response

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs) -> None:
        match = request.resolver_match
        if (
            match is not None
            and self.admin_app_name in match.app_names
            and match.url_name not in self.skipped_url_names
        ):
            request._staff_audit = (match, self._staff(request))

    @staticmethod
    def _staff(request: HttpRequest):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or not user.is_staff:
            return None
        return user
