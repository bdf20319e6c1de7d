"""Read-only lists of target runs and affected models, where the dashboard's "failed target
runs" and "affected models awaiting a decision" lead, and of the shards of sharded passes, where
a run's shard count leads. Runs and shards change only through their tasks and decisions
through the request, so these lists only show and link to the request.

The run and affected-model lists are registered by `ErasureConfig.ready`, after the admin's
autodiscovery; a model registered elsewhere keeps that registration. Manual tasks, the runs a
person does by hand, have their own list.
"""

from django import forms
from django.contrib import admin
from django.db.models import Count
from django.urls import reverse
from django.utils.html import format_html

from core.actors import staff_actor
from core.readonly_admin import ReadOnlyAdmin
from erasure.models import AffectedModel, ErasureRequest, ManualTask, ShardRun, TargetRun
from erasure.runs import target_run_attest
from erasure.services import erasure_request_identifiers


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
        "shard_progress",
        "enqueued_at",
        "updated_at",
    )
    readonly_fields = fields

    @admin.display(description="request", ordering="request__received_at")
    def request_link(self, obj: TargetRun) -> str:
        return _request_link(obj.request, self.admin_site.name)

    @admin.display(description="shards")
    def shard_progress(self, obj: TargetRun) -> str:
        """A sharded pass's shards by status, linked to their list (every run of the pass
        shows its lead's shards)."""
        if obj.shard_pass_id is None:
            return "—"
        by_status = dict(
            ShardRun.objects.filter(run_id=obj.shard_pass_id)
            .values_list("status")
            .annotate(n=Count("pk"))
            .order_by("status")
        )
        url = reverse(f"{self.admin_site.name}:erasure_shardrun_changelist")
        summary = ", ".join(f"{n} {status}" for status, n in by_status.items())
        return format_html(
            '<a href="{}?run__id__exact={}">{} shard(s)</a>: {}',
            url,
            obj.shard_pass_id,
            sum(by_status.values()),
            summary or "none",
        )


class ShardRunAdmin(ReadOnlyAdmin):
    """The shards of sharded passes: which task holds each, how often it was tried, why it
    failed (a stable code), and what it erased and changed."""

    list_display = (
        "key",
        "pass_link",
        "target",
        "status",
        "attempts",
        "last_error",
        "erased",
        "size",
        "claimed_by",
        "updated_at",
    )
    list_filter = ("status", "run__target")
    list_select_related = ("run__target",)
    search_fields = ("key",)
    fields = (
        "key",
        "pass_link",
        "target",
        "status",
        "attempts",
        "last_error",
        "size",
        "op",
        "counts",
        "remaining",
        "before",
        "after",
        "history",
        "held",
        "enqueued_at",
        "claimed_at",
        "claimed_by",
        "started_at",
        "completed_at",
        "checked_at",
        "updated_at",
    )
    readonly_fields = fields

    @admin.display(description="pass (its first run)", ordering="run_id")
    def pass_link(self, obj: ShardRun) -> str:
        url = reverse(f"{self.admin_site.name}:erasure_targetrun_change", args=[obj.run_id])
        return format_html('<a href="{}">run {}</a>', url, obj.run_id)

    @admin.display(description="target", ordering="run__target__name")
    def target(self, obj: ShardRun) -> str:
        return obj.run.target.name

    @admin.display(description="items erased")
    def erased(self, obj: ShardRun) -> int:
        return sum(int(n) for n in obj.counts.values())


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
    for model, model_admin in (
        (TargetRun, TargetRunAdmin),
        (ShardRun, ShardRunAdmin),
        (AffectedModel, AffectedModelAdmin),
    ):
        if not site.is_registered(model):
            site.register(model, model_admin)


class AttestForm(forms.ModelForm):
    erased = forms.IntegerField(min_value=0, help_text="Items you erased")
    remaining = forms.IntegerField(
        min_value=0, help_text="Items a second search still finds (0 if none)"
    )

    class Meta:
        model = ManualTask
        fields = ()


@admin.register(ManualTask)
class ManualTaskAdmin(admin.ModelAdmin):
    """Erasures a person does by hand: the instructions, the subject's identifiers (shown here
    and only here, to the person doing the work), and the attestation."""

    form = AttestForm
    list_display = ("target", "request", "status", "updated_at")
    list_filter = ("status",)
    readonly_fields = ("target", "request", "status", "instructions", "identifiers")

    def get_queryset(self, request):
        return super().get_queryset(request).filter(target__kind="manual")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="instructions")
    def instructions(self, obj: ManualTask) -> str:
        return obj.target.config.get("instructions", "")

    @admin.display(description="identifiers")
    def identifiers(self, obj: ManualTask) -> str:
        if obj.status != TargetRun.Status.AWAITING_PERSON:
            return "—"
        wanted = set(obj.target.id_types)
        return ", ".join(
            f"{i['id_type']}: {i['value']}"
            for i in erasure_request_identifiers(request=obj.request)
            if i["id_type"] in wanted
        )

    def save_model(self, request, obj, form, change):
        target_run_attest(
            run=obj,
            erased=form.cleaned_data["erased"],
            remaining=form.cleaned_data["remaining"],
            actor=staff_actor(request.user.get_username()),
        )
