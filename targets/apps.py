from django.apps import AppConfig


class TargetsConfig(AppConfig):
    """The registry of erasure targets: registering, approving and retiring them, their API and
    admin pages, and the demo's. The `Target` model itself is erasure's, which plans and runs
    requests on it; this app sits above erasure and only writes targets through their rules."""

    name = "targets"
    verbose_name = "Erasure targets"

    def ready(self) -> None:
        from lineage.signals import dataset_versions_named
        from targets.ties import on_versions_named

        dataset_versions_named.connect(on_versions_named, dispatch_uid="targets.ties")
