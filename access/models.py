import hashlib
import hmac

from django.conf import settings
from django.db import models


class ApiToken(models.Model):
    """A service account's bearer token. Only a hash of the secret is stored.

    The secret is 240 random bits, so one SHA-256 suffices (a slow password hash protects
    guessable secrets; this one is not guessable). The stored value names its algorithm so a
    later change of hash still verifies old tokens.
    """

    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, unique=True, editable=False)
    secret_hash = models.CharField(max_length=100, editable=False)
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} (lup_{self.prefix}_…)"

    @staticmethod
    def hash_secret(secret: str) -> str:
        return "sha256$" + hashlib.sha256(secret.encode()).hexdigest()

    def secret_matches(self, secret: str) -> bool:
        return hmac.compare_digest(self.secret_hash, self.hash_secret(secret))

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
