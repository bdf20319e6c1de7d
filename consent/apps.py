from django.apps import AppConfig


class ConsentConfig(AppConfig):
    name = "consent"
    verbose_name = "Consent and purposes"

    def ready(self) -> None:
        from consent import checks  # noqa: F401  (registers the system checks)
