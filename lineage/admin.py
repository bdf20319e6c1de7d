from django.contrib import admin
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from lineage.models import (
    Dataset,
    DatasetVersion,
    Job,
    Model,
    ModelData,
    ModelVersion,
    Run,
    RunDataset,
    StorageLocation,
)
from lineage.picture import neighbourhood_svg


class StorageLocationInline(admin.TabularInline):
    model = StorageLocation
    extra = 0
    fields = ("system", "uri", "country", "region", "provider", "transfer_basis")


class VersionInline(admin.TabularInline):
    model = DatasetVersion
    extra = 0
    fields = ("version", "digest", "record_count", "membership_declared", "created_at")
    readonly_fields = fields
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ("namespace", "name", "license", "created_at")
    search_fields = ("namespace", "name")
    inlines = (VersionInline,)


@admin.register(DatasetVersion)
class DatasetVersionAdmin(admin.ModelAdmin):
    list_display = ("dataset", "version", "record_count", "membership_declared", "created_at")
    list_filter = ("membership_declared",)
    search_fields = ("dataset__namespace", "dataset__name", "version")
    list_select_related = ("dataset",)
    inlines = (StorageLocationInline,)
    # Versions are immutable once registered: a correction is a new version.
    readonly_fields = (
        "dataset",
        "version",
        "digest",
        "record_count",
        "schema_fields",
        "data_categories",
        "purposes",
        "languages",
        "origin",
        "facets",
        "created_by_run",
        "membership_declared",
        "membership_source",
        "created_at",
        "neighbourhood",
    )

    @admin.display(description="neighbourhood")
    def neighbourhood(self, obj: DatasetVersion) -> str:
        svg = neighbourhood_svg(node_id=obj.dataset.node_id, depth=2)
        # The SVG is built from escaped labels only (lineage.picture), so it is safe inline.
        return format_html('<div style="overflow-x:auto">{}</div>', mark_safe(svg))  # noqa: S308

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class RunDatasetInline(admin.TabularInline):
    model = RunDataset
    extra = 0
    fields = ("direction", "version")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ("namespace", "name", "created_at")
    search_fields = ("namespace", "name")


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = ("run_id", "job", "state", "started_at", "ended_at")
    list_filter = ("state",)
    list_select_related = ("job",)
    readonly_fields = ("run_id", "job", "state", "started_at", "ended_at", "facets")
    inlines = (RunDatasetInline,)


class ModelDataInline(admin.TabularInline):
    model = ModelData
    extra = 0
    fields = ("kind", "version")
    readonly_fields = fields


@admin.register(Model)
class ModelAdmin(admin.ModelAdmin):
    list_display = ("namespace", "name", "created_at")
    search_fields = ("namespace", "name")


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ("model", "version", "fine_tuned_from", "markets", "created_at")
    list_select_related = ("model",)
    readonly_fields = ("model", "version", "fine_tuned_from", "created_by_run", "facets")
    inlines = (ModelDataInline,)
