"""Staff roles: Django groups made by a migration, with the API scopes and admin rights each holds.

- compliance_officer: everything, reads and writes, and acts on erasure requests (approve, deny,
  hold, decide on affected models, retry); the only role with `erasure:approve`, and the only
  one that approves proposed targets.
- auditor: reads everywhere, writes nothing.
- engineer: registers lineage and erasure targets; reads consent, erasure and the ledger; never
  acts on a request.
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
# Single models ("app_label.model") a role may add and change outside its writable apps. Only
# add and change: a model's custom permissions come with a writable app, never from here.
ROLE_WRITABLE_MODELS: dict[str, frozenset[str]] = {
    COMPLIANCE_OFFICER: frozenset(),
    AUDITOR: frozenset(),
    ENGINEER: frozenset({"erasure.target"}),
}
MODEL_GRANTS = ("add", "change")
ROLE_VISIBLE_APPS = frozenset(
    {"access", "consent", "erasure", "lineage", "ledger", "jurisdictions"}
)

# Approving, denying, holding, deciding on models and retrying are decisions about a person's
# data, so only these roles hold the permission, whatever apps the others may write to.
ACT_ON_REQUESTS = "erasure.act_on_erasurerequest"
# An `always` target, a webhook or an identity source (or a change to one) takes effect only
# once a compliance officer approves it: it decides where every subject's data goes.
APPROVE_TARGETS = "erasure.approve_target"
ACTING_ROLES = frozenset({COMPLIANCE_OFFICER})
DECISIONS = frozenset({ACT_ON_REQUESTS, APPROVE_TARGETS})


def user_scopes(user: AbstractBaseUser | AnonymousUser) -> frozenset[str]:
    """The API scopes a staff session holds, from its groups."""
    if not user.is_authenticated or not user.is_active:
        return frozenset()
    if user.is_superuser:
        return scopes.ALL_SCOPES
    names = user.groups.values_list("name", flat=True)
    return frozenset().union(*(ROLE_SCOPES.get(name, frozenset()) for name in names))


def role_grants(role: str, *, app_label: str, model: str, codename: str) -> bool:
    """Whether `role` holds the admin permission `app_label.codename` on `model`."""
    if f"{app_label}.{codename}" in DECISIONS and role not in ACTING_ROLES:
        return False
    if codename.startswith("view_") or app_label in ROLE_WRITABLE_APPS[role]:
        return True
    return f"{app_label}.{model}" in ROLE_WRITABLE_MODELS[role] and codename in {
        f"{action}_{model}" for action in MODEL_GRANTS
    }


def sync_role_permissions(sender, using: str = "default", **kwargs) -> None:
    """Give each role group its admin permissions once they exist (after every migrate)."""
    from django.contrib.auth.models import Group, Permission

    groups = {
        group.name: group for group in Group.objects.using(using).filter(name__in=list(ROLE_SCOPES))
    }
    if not groups:
        return
    permissions = (
        Permission.objects.using(using)
        .filter(content_type__app_label__in=ROLE_VISIBLE_APPS)
        .select_related("content_type")
    )
    for name, group in groups.items():
        wanted = [
            perm
            for perm in permissions
            if role_grants(
                name,
                app_label=perm.content_type.app_label,
                model=perm.content_type.model,
                codename=perm.codename,
            )
        ]
        group.permissions.set(wanted)
