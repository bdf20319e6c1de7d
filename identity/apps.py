from django.apps import AppConfig


class IdentityConfig(AppConfig):
    """One-time codes that confirm a subject holds an identifier, and the senders that deliver
    them. Erasure and the subject pages use it; it knows nothing of either."""

    name = "identity"
    verbose_name = "Identity: one-time codes"

    def ready(self) -> None:
        from identity import checks  # noqa: F401  (registers the system checks)
