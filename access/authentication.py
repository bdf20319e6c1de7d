from dataclasses import dataclass

from django.utils import timezone
from rest_framework import authentication, exceptions

from access.models import ApiToken
from access.services import TOKEN_TAG
from core.actors import token_actor


@dataclass(frozen=True)
class ServicePrincipal:
    """The caller behind an API token: not a Django user, it holds only scopes."""

    token_id: int
    name: str
    scopes: frozenset[str]
    is_authenticated: bool = True
    is_active: bool = True
    is_staff: bool = False
    is_superuser: bool = False

    @property
    def pk(self) -> str:
        return token_actor(self.token_id)


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer lup_<prefix>_<secret>`."""

    keyword = "Bearer"
    # Writing last_used_at on every call would turn reads into writes; once a minute is enough.
    touch_interval_seconds = 60

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Malformed bearer token header.")
        try:
            text = header[1].decode("ascii")
            tag, prefix, secret = text.split("_", 2)
        except (UnicodeDecodeError, ValueError):
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        token = ApiToken.objects.filter(prefix=prefix).first() if tag == TOKEN_TAG else None
        if token is None:
            # Hash anyway so an unknown prefix and a wrong secret take the same time.
            ApiToken.hash_secret(secret)
            raise exceptions.AuthenticationFailed("Invalid token.")
        if not token.secret_matches(secret) or not token.is_active:
            raise exceptions.AuthenticationFailed("Invalid token.")
        now = timezone.now()
        if (
            token.last_used_at is None
            or (now - token.last_used_at).total_seconds() > self.touch_interval_seconds
        ):
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        principal = ServicePrincipal(
            token_id=token.pk, name=token.name, scopes=frozenset(token.scopes)
        )
        return principal, token

    def authenticate_header(self, request) -> str:
        return self.keyword
