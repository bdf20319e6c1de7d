import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from django.utils import timezone
from rest_framework import authentication, exceptions

from access.models import ApiToken
from access.services import TOKEN_TAG
from access.tokencache import CachedToken, token_cached, token_remember
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
    """`Authorization: Bearer lup_<prefix>_<secret>`.

    An active token is read from the cache when it is there (access.tokencache, which also says
    why a revoked token is refused at once), else from the database; either way the secret is
    hashed and compared in constant time on every call.
    """

    keyword = "Bearer"
    # Writing last_used_at on every call would turn reads into writes; once a minute (per web
    # process: each remembers when it last wrote a token's) is enough.
    touch_interval_seconds = 60
    _touched: ClassVar[dict[int, datetime]] = {}

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
        if tag != TOKEN_TAG:
            ApiToken.hash_secret(secret)  # the same work as for a wrong secret
            raise exceptions.AuthenticationFailed("Invalid token.")
        token = token_cached(prefix)
        last_used_at = None
        if token is None:
            row = ApiToken.objects.filter(prefix=prefix).first()
            if row is None:
                # Hash anyway so an unknown prefix and a wrong secret take the same time.
                ApiToken.hash_secret(secret)
                raise exceptions.AuthenticationFailed("Invalid token.")
            if not row.is_active:
                ApiToken.hash_secret(secret)
                raise exceptions.AuthenticationFailed("Invalid token.")
            token_remember(row)
            token = CachedToken(
                id=row.pk, name=row.name, scopes=tuple(row.scopes), secret_hash=row.secret_hash
            )
            last_used_at = row.last_used_at
        if not hmac.compare_digest(token.secret_hash, ApiToken.hash_secret(secret)):
            raise exceptions.AuthenticationFailed("Invalid token.")
        self._touch(token.id, last_used_at)
        principal = ServicePrincipal(
            token_id=token.id, name=token.name, scopes=frozenset(token.scopes)
        )
        return principal, token

    def _touch(self, token_id: int, last_used_at: datetime | None) -> None:
        now = timezone.now()
        last = max(filter(None, (last_used_at, self._touched.get(token_id))), default=None)
        if last is None or (now - last).total_seconds() > self.touch_interval_seconds:
            self._touched[token_id] = now
            ApiToken.objects.filter(pk=token_id).update(last_used_at=now)

    def authenticate_header(self, request) -> str:
        return self.keyword
