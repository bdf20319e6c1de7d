from django import forms
from django.contrib import admin

from config.errors import ApplicationError
from config.readonly_admin import ReadOnlyAdmin
from erasure.connectors import connector_for
from erasure.models import ErasureRequest, LegalHold, Target, Transition


class TransitionInline(admin.TabularInline):
    model = Transition
    fields = ("at", "from_state", "to_state", "actor", "reason")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ErasureRequest)
class ErasureRequestAdmin(ReadOnlyAdmin):
    """The request queue. Identifiers are sealed and never shown; keys identify the subject."""

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
