from django.apps import AppConfig


class TargetsConfig(AppConfig):
    """The registry of erasure targets: registering, approving and retiring them, their API and
    admin pages, and the demo's. The `Target` model itself is erasure's, which plans and runs
    requests on it; this app sits above erasure and only writes targets through their rules."""

    name = "targets"
    verbose_name = "Erasure targets"
