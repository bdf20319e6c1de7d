"""Read-only lists of target runs and affected models, where the dashboard's "failed target
runs" and "affected models awaiting a decision" lead. Runs change only through their tasks and
decisions through the request, so these lists only show and link to the request.

Registered by `ErasureConfig.ready`, after the admin's autodiscovery; a model that
`erasure/admin.py` registers itself keeps that registration.
"""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from core.readonly_admin import ReadOnlyAdmin
from erasure.models import AffectedModel, ErasureRequest, TargetRun


def _request_link(request: ErasureRequest, site_name: str) -> str:
    url = reverse(f"{site_name}:erasure_erasurerequest_change", args=[request.pk])
    return format_html('<a href="{}">{}</a>', url, str(request.pk)[:8])


class TargetRunAdmin(ReadOnlyAdmin):
    list_display = (
        "target",
        "request_link",
        "status",
        "outcome",
        "attempts",
        "last_error",
        "updated_at",
    )
    list_filter = ("status", "outcome", "target__kind")
    list_select_related = ("target", "request")
    fields = (
        "request_link",
        "target",
        "status",
        "outcome",
        "attempts",
        "last_error",
        "receipt_id",
        "enqueued_at",
        "updated_at",
    )
    readonly_fields = fields

    @admin.display(description="request", ordering="request__received_at")
    def request_link(self, obj: TargetRun) -> str:
        return _request_link(obj.request, self.admin_site.name)


class AffectedModelAdmin(ReadOnlyAdmin):
    list_display = (
        "model_version",
        "request_link",
        "kinds",
        "decision",
        "decided_by",
        "decided_at",
    )
    list_filter = ("decision",)
    list_select_related = ("model_version__model", "request")
    fields = (
        "request_link",
        "model_version",
        "kinds",
        "decision",
        "justification",
        "decided_by",
        "decided_at",
    )
    readonly_fields = fields

    @admin.display(description="request", ordering="request__received_at")
    def request_link(self, obj: AffectedModel) -> str:
        return _request_link(obj.request, self.admin_site.name)


def register(site: admin.AdminSite) -> None:
    for model, model_admin in ((TargetRun, TargetRunAdmin), (AffectedModel, AffectedModelAdmin)):
        if not site.is_registered(model):
            site.register(model, model_admin)
