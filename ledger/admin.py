from django.contrib import admin

from core.readonly_admin import ReadOnlyAdmin
from ledger.models import AuditRun, Checkpoint, Receipt, SigningKey


@admin.register(Receipt)
class ReceiptAdmin(ReadOnlyAdmin):
    list_display = ("leaf_index", "type", "receipt_id", "key_id", "issued_at")
    list_filter = ("type", "key_id")
    search_fields = ("receipt_id",)
    fields = ("receipt_id", "type", "leaf_index", "key_id", "issued_at", "payload_text")
    readonly_fields = fields

    @admin.display(description="payload (JCS)")
    def payload_text(self, obj: Receipt) -> str:
        return bytes(obj.payload).decode()


@admin.register(Checkpoint)
class CheckpointAdmin(ReadOnlyAdmin):
    list_display = ("size", "key_id", "created_at")
    fields = ("size", "key_id", "created_at", "note")
    readonly_fields = fields


@admin.register(SigningKey)
class SigningKeyAdmin(ReadOnlyAdmin):
    list_display = ("key_id", "name", "first_index", "last_index", "created_at")
    fields = ("key_id", "name", "verifier_key", "first_index", "last_index", "created_at")
    readonly_fields = fields


@admin.register(AuditRun)
class AuditRunAdmin(ReadOnlyAdmin):
    list_display = ("finished_at", "ok", "leaves", "checkpoints", "receipts", "problems", "problem")
    list_filter = ("ok",)
    fields = (
        "started_at",
        "finished_at",
        "ok",
        "leaves",
        "checkpoints",
        "receipts",
        "problems",
        "problem",
    )
    readonly_fields = fields
