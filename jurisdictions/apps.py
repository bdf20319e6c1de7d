from django.apps import AppConfig


class JurisdictionsConfig(AppConfig):
    name = "jurisdictions"
    verbose_name = "Jurisdictions"

    def ready(self) -> None:
        from jurisdictions import checks  # noqa: F401  (registers the system checks)
