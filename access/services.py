import secrets
from collections.abc import Iterable
from datetime import datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.utils import timezone

from access.models import ApiToken, StaffAction
from access.scopes import ALL_SCOPES
from core.errors import ApplicationError

TOKEN_TAG = "lup"  # noqa: S105 (a public prefix, not a secret)


def api_token_create(*, name: str, scopes: Iterable[str], created_by=None) -> tuple[ApiToken, str]:
    """Make a token and return it with its text, which is shown once and never stored."""
    wanted = sorted(set(scopes))
    unknown = [scope for scope in wanted if scope not in ALL_SCOPES]
    if unknown or not wanted:
        raise ApplicationError(
            "Scopes must be a non-empty subset of: " + ", ".join(sorted(ALL_SCOPES)),
            code="invalid_scope",
            fields={"scopes": unknown},
        )
    if not name.strip():
        raise ApplicationError("A token needs a name.", code="invalid", fields={"name": "empty"})
    prefix = secrets.token_hex(4)
    secret = secrets.token_urlsafe(30)
    token = ApiToken.objects.create(
        name=name.strip(),
        prefix=prefix,
        secret_hash=ApiToken.hash_secret(secret),
        scopes=wanted,
        created_by=created_by,
    )
    return token, f"{TOKEN_TAG}_{prefix}_{secret}"


def api_token_revoke(*, token: ApiToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])


def staff_action_record(
    *,
    user: AbstractBaseUser,
    method: str,
    kind: str,
    status: int,
    url_name: str = "",
    model: str = "",
    object_id: str = "",
    address: str | None = None,
    now: datetime | None = None,
) -> StaffAction:
    """Append one admin request of a staff member to the staff audit."""
    return StaffAction.objects.create(
        address=address or None,
        at=now or timezone.now(),
        user_id=user.pk,
        username=user.get_username()[:150],
        method=method[:10],
        kind=kind,
        url_name=url_name[:200],
        model=model[:200],
        object_id=object_id[:200],
        status=status,
    )


def staff_lockout_record(*, username: str, address: str | None, now: datetime | None = None):
    """Append a sign-in lock-out to the staff audit: the username as typed (user_id 0 when no
    account has it) and the client's address."""
    User = get_user_model()
    user_id = (
        User.objects.filter(**{User.USERNAME_FIELD: username}).values_list("pk", flat=True).first()
    )
    return StaffAction.objects.create(
        at=now or timezone.now(),
        user_id=user_id or 0,
        username=(username or "")[:150],
        method="POST",
        kind=StaffAction.Kind.LOCKED_OUT,
        url_name="login",
        status=429,
        address=address or None,
    )
