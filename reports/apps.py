from django.apps import AppConfig


class ReportsConfig(AppConfig):
    """The readiness report, the registers and the dashboard: they read every other app, and
    no app reads them (config reaches them by the dotted paths its settings name)."""

    name = "reports"
    verbose_name = "Reports"

    def ready(self) -> None:
        from reports import checks  # noqa: F401  (registers the system checks)
