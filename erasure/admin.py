from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render

from config.errors import ApplicationError
from config.readonly_admin import ReadOnlyAdmin
from erasure.connectors import connector_for
from erasure.execution import target_run_attest
from erasure.models import (
    ErasureRequest,
    LegalHold,
    ManualTask,
    Target,
    TargetRun,
    Transition,
)
from erasure.services import erasure_request_create, erasure_request_identifiers


class TransitionInline(admin.TabularInline):
    model = Transition
    fields = ("at", "from_state", "to_state", "actor", "reason")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class IntakeForm(forms.Form):
    """Staff file a request for a subject who asked by phone, letter or at a counter."""

    identifiers = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One per line, as type:value, e.g. email:sokha@example.com or phone:+855…",
    )
    country = forms.CharField(required=False, max_length=2,
                              help_text="The subject's country (ISO 3166-1 alpha-2), if known")

    def clean_identifiers(self) -> list[dict[str, str]]:
        parsed = []
        for line in self.cleaned_data["identifiers"].splitlines():
            if not line.strip():
                continue
            id_type, sep, value = line.partition(":")
            if not sep:
                raise forms.ValidationError("Write each identifier as type:value.")
            parsed.append({"id_type": id_type.strip(), "value": value.strip()})
        return parsed


@admin.register(ErasureRequest)
class ErasureRequestAdmin(ReadOnlyAdmin):
    """The request queue. Identifiers are sealed and never shown; keys identify the subject."""

    def has_add_permission(self, request):
        return request.user.has_perm("erasure.add_erasurerequest")

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = IntakeForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                filed, _ = erasure_request_create(
                    identifiers=form.cleaned_data["identifiers"],
                    country=form.cleaned_data["country"].upper() or None,
                    channel="admin",
                    actor=f"staff:{request.user.get_username()}",
                )
            except ApplicationError as exc:
                form.add_error(None, f"{exc.code}: {exc.detail}")
            else:
                messages.success(request, "The request was filed.")
                return redirect("admin:erasure_erasurerequest_change", filed.pk)
        context = {**self.admin_site.each_context(request), "form": form,
                   "title": "File an erasure request", "opts": self.model._meta}
        return render(request, "admin/erasure/intake.html", context)

    list_display = ("id", "state", "channel", "subject_country", "received_at", "deadline",
                    "linked_to")
    list_filter = ("state", "channel", "subject_country")
    date_hierarchy = "received_at"
    fields = ("id", "state", "channel", "subject_country", "requested_by", "linked_to",
              "received_at", "verified_at", "deadline", "closed_at", "retention_until",
              "shredded_at")
    readonly_fields = fields
    inlines = (TransitionInline,)


class TargetForm(forms.ModelForm):
    class Meta:
        model = Target
        fields = ("name", "kind", "config", "country", "always", "requires_approval",
                  "identity_source", "versions")

    def clean(self):
        cleaned = super().clean()
        try:
            connector = connector_for(cleaned.get("kind"), cleaned.get("config") or {})
        except ApplicationError as exc:
            raise forms.ValidationError(f"{exc.code}: {exc.detail}") from None
        self.instance.id_types = sorted(connector.id_types)
        return cleaned


@admin.register(Target)
class TargetAdmin(admin.ModelAdmin):
    form = TargetForm
    list_display = ("name", "kind", "country", "always", "requires_approval",
                    "identity_source")
    list_filter = ("kind", "country", "always", "requires_approval")
    search_fields = ("name",)
    readonly_fields = ("id_types", "created_at", "updated_at")
    filter_horizontal = ("versions",)


@admin.register(LegalHold)
class LegalHoldAdmin(admin.ModelAdmin):
    list_display = ("basis", "target", "until", "created_by", "released_at")
    list_filter = ("target",)
    readonly_fields = ("created_by", "created_at")

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = f"staff:{request.user.get_username()}"
        super().save_model(request, obj, form, change)


class AttestForm(forms.ModelForm):
    erased = forms.IntegerField(min_value=0, help_text="Items you erased")
    remaining = forms.IntegerField(min_value=0,
                                   help_text="Items a second search still finds (0 if none)")

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
        return ", ".join(f"{i['id_type']}: {i['value']}"
                         for i in erasure_request_identifiers(request=obj.request)
                         if i["id_type"] in wanted)

    def save_model(self, request, obj, form, change):
        target_run_attest(run=obj, erased=form.cleaned_data["erased"],
                          remaining=form.cleaned_data["remaining"],
                          actor=f"staff:{request.user.get_username()}")
