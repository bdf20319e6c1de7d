from django.contrib.admin.apps import AdminConfig


class LupAdminConfig(AdminConfig):
    """Django's admin, with Lup's site (`config.admin_site.LupAdminSite`) as `admin.site`."""

    default_site = "config.admin_site.LupAdminSite"

    def ready(self) -> None:
        super().ready()
        from config import checks  # noqa: F401  (registers the system checks)
