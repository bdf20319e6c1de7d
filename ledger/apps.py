from django.apps import AppConfig


class LedgerConfig(AppConfig):
    name = "ledger"
    verbose_name = "Ledger: receipts and transparency log"

    def ready(self) -> None:
        from ledger import checks  # noqa: F401  (registers the system checks)
