from django.contrib import admin

from consent.models import (
    ConsentEvent,
    ConsentState,
    Notice,
    Purpose,
    Subject,
    SubjectIdentifier,
)
from consent.services import notice_digest
from core import subject_keys as keys
from core.readonly_admin import ReadOnlyAdmin

IDENTIFIER_SEARCH_HELP = (
    "Search by e-mail, phone (+855…) or key. The identifier is hashed in memory and only its key "
    "is compared; it is never stored."
)


class IdentifierSearchMixin:
    """Search by raw identifier: hashed on the fly, never stored, never logged."""

    subject_field = "subject_id"
    search_fields = ("pk",)  # enables the search box; get_search_results does the work
    search_help_text = IDENTIFIER_SEARCH_HELP

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        candidate_keys = set()
        if keys.SUBJECT_KEY.match(term):
            candidate_keys.add(term)
        for id_type in ("email", "phone", "user_id"):
            try:
                candidate_keys.add(keys.key_for(id_type, term))
            except keys.InvalidIdentifier:
                continue
        subject_ids = SubjectIdentifier.objects.filter(key__in=candidate_keys).values("subject_id")
        return queryset.filter(**{f"{self.subject_field}__in": subject_ids}), False


class SubjectIdentifierInline(admin.TabularInline):
    model = SubjectIdentifier
    fields = ("id_type", "key", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class ConsentStateInline(admin.TabularInline):
    model = ConsentState
    fields = ("purpose", "status", "event", "event_time", "expires_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Subject)
class SubjectAdmin(IdentifierSearchMixin, ReadOnlyAdmin):
    subject_field = "id"
    list_display = ("id", "created_at")
    inlines = (SubjectIdentifierInline, ConsentStateInline)


@admin.register(Purpose)
class PurposeAdmin(admin.ModelAdmin):
    list_display = ("tree_key", "name", "is_custom")
    list_filter = ("is_custom",)
    search_fields = ("key", "name")
    readonly_fields = ("is_custom",)

    @admin.display(description="purpose", ordering="key")
    def tree_key(self, obj: Purpose) -> str:
        depth = obj.key.count(".")
        return "\u2003" * depth + obj.key.rsplit(".", 1)[-1] if depth else obj.key

    def get_readonly_fields(self, request, obj=None):
        # A purpose's key is referenced by events and receipts; it never changes once made.
        return ("key", "parent", "is_custom") if obj else ("is_custom",)

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Notice)
class NoticeAdmin(admin.ModelAdmin):
    list_display = ("key", "version", "language", "title", "digest", "published_at")
    list_filter = ("key", "language")
    readonly_fields = ("digest", "published_at")

    def get_readonly_fields(self, request, obj=None):
        # A published text is what subjects saw; a change is a new version.
        if obj:
            return ("key", "version", "language", "title", "text", "digest", "published_at")
        return self.readonly_fields

    def save_model(self, request, obj, form, change):
        obj.digest = notice_digest(obj.text)
        super().save_model(request, obj, form, change)

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ConsentEvent)
class ConsentEventAdmin(IdentifierSearchMixin, ReadOnlyAdmin):
    list_display = (
        "id",
        "subject",
        "purpose",
        "status",
        "legal_basis",
        "jurisdiction",
        "method",
        "event_time",
    )
    list_filter = ("status", "legal_basis", "jurisdiction", "method")
    list_select_related = ("purpose", "subject")
    date_hierarchy = "event_time"


@admin.register(ConsentState)
class ConsentStateAdmin(IdentifierSearchMixin, ReadOnlyAdmin):
    list_display = ("subject", "purpose", "status", "event", "event_time", "expires_at")
    list_filter = ("status", "purpose")
    list_select_related = ("purpose", "subject")
