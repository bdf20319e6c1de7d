from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AccessConfig(AppConfig):
    name = "access"
    verbose_name = "Access: API tokens and staff roles"

    def ready(self) -> None:
        from access.roles import sync_role_permissions

        post_migrate.connect(sync_role_permissions, dispatch_uid="access.sync_role_permissions")
