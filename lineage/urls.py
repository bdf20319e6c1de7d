from django.urls import path

from lineage.api import croissant, membership, views

app_name = "lineage"

urlpatterns = [
    # GET: the graph around a node (Marquez's shape). POST: an OpenLineage event.
    path("lineage", views.LineageApi.as_view(), name="lineage"),
    path("column-lineage", views.ColumnLineageApi.as_view(), name="column-lineage"),
    path("lineage/prov", views.ProvExportApi.as_view(), name="prov"),
    path("lineage/picture.svg", views.PictureApi.as_view(), name="picture"),
    path("lineage/transfers", views.TransferReportApi.as_view(), name="transfers"),
    path("lineage/datasets", views.DatasetCreateApi.as_view(), name="dataset-create"),
    path(
        "lineage/datasets/<path:path>/versions",
        views.DatasetVersionsApi.as_view(),
        name="dataset-versions",
    ),
    path("lineage/versions", views.VersionCreateApi.as_view(), name="version-create"),
    path("lineage/manifests", views.ManifestApi.as_view(), name="manifests"),
    path("lineage/versions/<uuid:version_id>", views.VersionGetApi.as_view(), name="version"),
    path(
        "lineage/versions/<uuid:version_id>/locations",
        views.LocationCreateApi.as_view(),
        name="location-create",
    ),
    path("lineage/models", views.ModelVersionCreateApi.as_view(), name="model-create"),
    path(
        "lineage/versions/<uuid:version_id>/members",
        membership.MembershipUploadApi.as_view(),
        name="members",
    ),
    path(
        "lineage/versions/<uuid:version_id>/purpose-check",
        membership.PurposeCheckApi.as_view(),
        name="purpose-check",
    ),
    path(
        "lineage/subjects/locate", membership.SubjectLocationsApi.as_view(), name="subject-locate"
    ),
    path("lineage/croissant", croissant.CroissantExportApi.as_view(), name="croissant-export"),
    path(
        "lineage/croissant/import", croissant.CroissantImportApi.as_view(), name="croissant-import"
    ),
]
