"""Targets and legal holds.

Targets are saved through `targets.services.target_save`, so a target added or changed here is
proposed, not active, when it needs a compliance officer's approval (`always`, `webhook`,
`identity_source`): engineers may propose. A target's own page adds its history (who
proposed, approved or retired it, when, why), a pending proposal, and the forms for those who
may use them: approve (compliance officers: `erasure.approve_target`) and retire (those who may
delete targets; one with runs cannot be deleted, since its receipts name it)."""

from functools import update_wrapper
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.views.decorators.http import require_http_methods

from access.roles import APPROVE_TARGETS
from core.actors import staff_actor
from core.errors import ApplicationError
from erasure.admin.actions import ReasonForm
from erasure.models import LegalHold, Target
from targets.models import TargetIndex
from targets.services import (
    target_approve,
    target_check,
    target_delete,
    target_reach,
    target_retire,
    target_save,
)


class TargetForm(forms.ModelForm):
    # Not named `check`: a read-only view would look that name up on the ModelAdmin.
    check_target = forms.BooleanField(
        required=False,
        initial=True,
        label="Check the target",
        help_text="Look at the target before saving it (the file exists, the table and its "
        "columns do, the server answers). Untick to register one that is not there yet.",
    )

    class Meta:
        model = Target
        fields = (
            "name",
            "kind",
            "config",
            "operation",
            "country",
            "always",
            "requires_approval",
            "identity_source",
            "versions",
        )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # As in the API: a target that says nothing deletes. (A read-only view has no field.)
        if "operation" in self.fields:
            self.fields["operation"].required = False

    def clean_operation(self) -> str:
        return self.cleaned_data.get("operation") or Target.Operation.DELETE

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk and self.instance.state == Target.State.RETIRED:
            raise forms.ValidationError("target_retired: a retired target is kept as it was.")
        kind, config = cleaned.get("kind"), cleaned.get("config") or {}
        try:
            target_check(
                kind=kind,
                config=config,
                operation=cleaned.get("operation", Target.Operation.DELETE),
            )
            if cleaned.get("check_target"):
                target_reach(kind=kind, config=config)
        except ApplicationError as exc:
            raise forms.ValidationError(f"{exc.code}: {exc.detail}") from None
        return cleaned


@admin.register(Target)
class TargetAdmin(admin.ModelAdmin):
    form = TargetForm
    list_display = (
        "name",
        "kind",
        "operation",
        "country",
        "state",
        "always",
        "requires_approval",
        "identity_source",
    )
    list_filter = ("state", "kind", "operation", "country", "always", "requires_approval")
    search_fields = ("name",)
    readonly_fields = ("state", "proposal", "id_types", "created_at", "updated_at")
    filter_horizontal = ("versions",)
    change_form_template = "admin/erasure/target/change_form.html"

    def get_fields(self, request, obj=None):
        """The form's fields; "Check the target" only for those who may save (it is no
        model field, so a read-only view has nothing to show for it)."""
        fields = list(super().get_fields(request, obj))
        may_save = (
            self.has_change_permission(request, obj) if obj else self.has_add_permission(request)
        )
        return fields if may_save else [f for f in fields if f != "check_target"]

    def get_urls(self):
        def wrap(view, method: str):
            # admin_view asks for a staff session and checks the CSRF token; the view asks
            # for the permission it needs.
            @require_http_methods([method])
            def wrapper(request, *args, **kwargs):
                return view(request, *args, **kwargs)

            return update_wrapper(self.admin_site.admin_view(wrapper), view)

        return [
            path(
                "<int:object_id>/retire/",
                wrap(self.retire_view, "POST"),
                name="erasure_target_retire",
            ),
            path(
                "<int:object_id>/approve/",
                wrap(self.approve_view, "POST"),
                name="erasure_target_approve",
            ),
            *super().get_urls(),
        ]

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        saved = target_save(
            target=obj if change else None,
            name=data["name"],
            kind=data["kind"],
            config=data["config"],
            operation=data["operation"],
            country=data["country"],
            versions=[version.pk for version in data["versions"]],
            actor=staff_actor(request.user.get_username()),
            check=False,  # looked at in the form's clean, where a refusal can be shown
            **{flag: data[flag] for flag in ("always", "requires_approval", "identity_source")},
        )
        obj.pk = saved.pk
        obj.refresh_from_db()
        if saved.state == Target.State.PROPOSED or saved.proposal is not None:
            messages.warning(
                request, "Proposed: it takes effect once a compliance officer approves it."
            )

    def save_related(self, request, form, formsets, change):
        """Nothing to do: the service set the versions, or kept them in the proposal."""

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, unquote(object_id))
        if obj is not None and self.has_view_permission(request, obj):
            extra_context = {
                **(extra_context or {}),
                "events": list(obj.events.all()),
                "subject_index": TargetIndex.objects.filter(target=obj).first(),
                "retire_url": (
                    reverse(f"{self.admin_site.name}:erasure_target_retire", args=[obj.pk])
                    if self.has_delete_permission(request) and obj.state != Target.State.RETIRED
                    else None
                ),
                "approve_url": (
                    reverse(f"{self.admin_site.name}:erasure_target_approve", args=[obj.pk])
                    if request.user.has_perm(APPROVE_TARGETS)
                    and (obj.state == Target.State.PROPOSED or obj.proposal is not None)
                    else None
                ),
                "reason_form": ReasonForm(),
            }
        return super().change_view(request, object_id, form_url, extra_context)

    def delete_model(self, request, obj):
        target_delete(target=obj)

    def delete_view(self, request, object_id, extra_context=None):
        # Django's own page lists the runs that protect it; the service says what to do.
        try:
            return super().delete_view(request, object_id, extra_context)
        except ApplicationError as exc:
            messages.error(request, f"{exc.detail} ({exc.code})")
            return HttpResponseRedirect(
                reverse(f"{self.admin_site.name}:erasure_target_change", args=[object_id])
            )

    def retire_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        # Retiring ends a target's part in every later erasure: those who may delete targets
        # may retire them; an engineer, who may only add and change, may not.
        if not self.has_delete_permission(request):
            raise PermissionDenied
        return self._decide(request, object_id, target_retire, "Retired")

    def approve_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        # Checked before the object is looked up, so a role without it learns nothing.
        if not request.user.has_perm(APPROVE_TARGETS):
            raise PermissionDenied
        return self._decide(request, object_id, target_approve, "Approved")

    def _decide(self, request: HttpRequest, object_id: int, decide, done: str) -> HttpResponse:
        """Run a decision service with its reason; a refusal becomes an error message."""
        obj = self.get_object(request, str(object_id))
        if obj is None:
            raise Http404("No such target.")
        form = ReasonForm(request.POST)
        back = HttpResponseRedirect(
            reverse(f"{self.admin_site.name}:erasure_target_change", args=[obj.pk])
        )
        reason: Any = form.cleaned_data["reason"] if form.is_valid() else ""
        try:
            decide(target=obj, actor=staff_actor(request.user.get_username()), reason=reason)
        except ApplicationError as exc:
            messages.error(request, f"{exc.detail} ({exc.code})")
            return back
        self.log_change(request, obj, f"{done}: {reason.strip()}")
        messages.success(request, f"{done}: {reason.strip()}")
        return back


@admin.register(LegalHold)
class LegalHoldAdmin(admin.ModelAdmin):
    list_display = ("basis", "target", "until", "created_by", "released_at")
    list_filter = ("target",)
    readonly_fields = ("created_by", "created_at")

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = staff_actor(request.user.get_username())
        super().save_model(request, obj, form, change)
