"""Targets and legal holds."""

from django import forms
from django.contrib import admin

from connectors import connector_for
from core.actors import staff_actor
from core.errors import ApplicationError
from erasure.models import LegalHold, Target


class TargetForm(forms.ModelForm):
    class Meta:
        model = Target
        fields = (
            "name",
            "kind",
            "config",
            "country",
            "always",
            "requires_approval",
            "identity_source",
            "versions",
        )

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
    list_display = ("name", "kind", "country", "always", "requires_approval", "identity_source")
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
            obj.created_by = staff_actor(request.user.get_username())
        super().save_model(request, obj, form, change)
