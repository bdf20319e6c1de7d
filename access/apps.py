from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AccessConfig(AppConfig):
    name = "access"
    verbose_name = "Access: API tokens and staff roles"

    def ready(self) -> None:
        from access.roles import sync_role_permissions

        post_migrate.connect(sync_role_permissions, dispatch_uid="access.sync_role_permissions")
        from axes.signals import user_locked_out

        user_locked_out.connect(_locked_out, dispatch_uid="access.staff_lockout")
        from django.db.models.signals import post_delete, post_save

        from access.models import ApiToken
        from access.tokencache import token_changed

        # A changed or deleted token leaves the authentication cache once the change commits.
        post_save.connect(token_changed, sender=ApiToken, dispatch_uid="access.token_changed")
        post_delete.connect(token_changed, sender=ApiToken, dispatch_uid="access.token_deleted")


def _locked_out(sender, request=None, username=None, ip_address=None, **kwargs) -> None:
    """django-axes locked a username out from an address: the staff audit records it."""
    from access.services import staff_lockout_record

    staff_lockout_record(username=username or "", address=ip_address)
