from django.apps import AppConfig


class ErasureConfig(AppConfig):
    name = "erasure"
    verbose_name = "Erasure"

    def ready(self) -> None:
        from erasure import checks  # noqa: F401  (registers the system checks)
