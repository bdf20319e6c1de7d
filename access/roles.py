"""Staff roles: Django groups made by a migration, with the API scopes and admin rights each holds.

- compliance_officer: everything, reads and writes.
- auditor: reads everywhere, writes nothing.
- engineer: registers lineage; reads consent, erasure and the ledger.
"""

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from access import scopes

COMPLIANCE_OFFICER = "compliance_officer"
AUDITOR = "auditor"
ENGINEER = "engineer"

ROLE_SCOPES: dict[str, frozenset[str]] = {
    COMPLIANCE_OFFICER: scopes.ALL_SCOPES,
    AUDITOR: scopes.READ_SCOPES,
    ENGINEER: scopes.READ_SCOPES | {scopes.LINEAGE_WRITE},
}

# Admin rights per role: app labels whose models the role may change (view is always granted).
ROLE_WRITABLE_APPS: dict[str, frozenset[str]] = {
    COMPLIANCE_OFFICER: frozenset({"consent", "erasure", "lineage", "jurisdictions"}),
    AUDITOR: frozenset(),
    ENGINEER: frozenset({"lineage"}),
}
ROLE_VISIBLE_APPS = frozenset({"consent", "erasure", "lineage", "ledger", "jurisdictions"})


def user_scopes(user: AbstractBaseUser | AnonymousUser) -> frozenset[str]:
    """The API scopes a staff session holds, from its groups."""
    if not user.is_authenticated or not user.is_active:
        return frozenset()
    if user.is_superuser:
        return scopes.ALL_SCOPES
    names = user.groups.values_list("name", flat=True)
    return frozenset().union(*(ROLE_SCOPES.get(name, frozenset()) for name in names))


def sync_role_permissions(sender, using: str = "default", **kwargs) -> None:
    """Give each role group its admin permissions once they exist (after every migrate)."""
    from django.contrib.auth.models import Group, Permission

    groups = {group.name: group for group in Group.objects.using(using).filter(
        name__in=list(ROLE_SCOPES)
    )}
    if not groups:
        return
    permissions = Permission.objects.using(using).filter(
        content_type__app_label__in=ROLE_VISIBLE_APPS
    ).select_related("content_type")
    for name, group in groups.items():
        writable = ROLE_WRITABLE_APPS[name]
        wanted = [
            perm
            for perm in permissions
            if perm.codename.startswith("view_") or perm.content_type.app_label in writable
        ]
        group.permissions.set(wanted)
