from django.contrib import admin


class ReadOnlyAdmin(admin.ModelAdmin):
    """For evidence (events, receipts, the log): staff read it, nobody edits it in the admin."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
