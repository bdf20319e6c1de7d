from django.contrib import admin

from ledger.models import Checkpoint, Receipt, SigningKey


class ReadOnly(admin.ModelAdmin):
    """The log is evidence: staff read it, nobody edits it here."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Receipt)
class ReceiptAdmin(ReadOnly):
    list_display = ("leaf_index", "type", "receipt_id", "key_id", "issued_at")
    list_filter = ("type", "key_id")
    search_fields = ("receipt_id",)
    fields = ("receipt_id", "type", "leaf_index", "key_id", "issued_at", "payload_text")
    readonly_fields = fields

    @admin.display(description="payload (JCS)")
    def payload_text(self, obj: Receipt) -> str:
        return bytes(obj.payload).decode()


@admin.register(Checkpoint)
class CheckpointAdmin(ReadOnly):
    list_display = ("size", "key_id", "created_at")
    fields = ("size", "key_id", "created_at", "note")
    readonly_fields = fields


@admin.register(SigningKey)
class SigningKeyAdmin(ReadOnly):
    list_display = ("key_id", "name", "first_index", "last_index", "created_at")
    fields = ("key_id", "name", "verifier_key", "first_index", "last_index", "created_at")
    readonly_fields = fields
