from django.contrib.admin.apps import AdminConfig


class LupAdminConfig(AdminConfig):
    """Django's admin, with Lup's site (`core.admin_site.LupAdminSite`) as `admin.site`."""

    default_site = "core.admin_site.LupAdminSite"

    def ready(self) -> None:
        super().ready()
        from core import checks  # noqa: F401  (registers the system checks)
