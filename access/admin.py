from django.contrib import admin, messages

from access.models import ApiToken, StaffAction
from access.services import api_token_create, api_token_revoke
from core.readonly_admin import ReadOnlyAdmin


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "masked", "scopes", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("masked", "created_at", "created_by", "last_used_at", "revoked_at")
    fields = ("name", "scopes", "masked", "created_at", "created_by", "last_used_at", "revoked_at")
    actions = ("revoke",)

    @admin.display(description="token")
    def masked(self, obj: ApiToken) -> str:
        return f"lup_{obj.prefix}_…" if obj.prefix else "—"

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        token, text = api_token_create(name=obj.name, scopes=obj.scopes, created_by=request.user)
        obj.pk = token.pk
        messages.warning(request, f"Copy this token now; it is not shown again: {text}")

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request, queryset):
        for token in queryset:
            api_token_revoke(token=token)


@admin.register(StaffAction)
class StaffActionAdmin(ReadOnlyAdmin):
    """The staff audit, for auditors (`access.view_staffaction`); nobody edits it, superusers
    included, and the database refuses it anyway."""

    list_display = ("at", "username", "method", "kind", "model", "object_id", "status", "url_name")
    list_filter = ("kind", "method", "model", "status")
    search_fields = ("username", "object_id")
    date_hierarchy = "at"
    fields = (
        "at",
        "user_id",
        "username",
        "method",
        "kind",
        "url_name",
        "model",
        "object_id",
        "status",
    )
    readonly_fields = fields
