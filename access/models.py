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


class StaffAction(models.Model):
    """One admin request by a staff member: who, when, which view, which object, what status.

    Append-only: on PostgreSQL a trigger refuses UPDATE and DELETE. Neither the query string nor
    the form data is kept, since search boxes and intake forms carry identifiers. The user is
    held by id and name, not a foreign key, so the record outlives the account and deleting a
    user never has to touch this table.
    """

    class Kind(models.TextChoices):
        CHANGELIST = "changelist"
        VIEW = "view"  # the change page read (GET)
        CHANGE = "change"  # the change page submitted
        ADD = "add"
        DELETE = "delete"
        HISTORY = "history"
        OTHER = "other"  # the index, custom pages (registers, rules), login, logout…
        LOCKED_OUT = "locked_out"  # too many failed sign-ins (django-axes); user_id 0 if unknown

    at = models.DateTimeField(db_index=True)
    user_id = models.BigIntegerField()
    username = models.CharField(max_length=150)
    method = models.CharField(max_length=10)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    url_name = models.CharField(max_length=200, blank=True)
    model = models.CharField(max_length=200, blank=True)  # app_label.model_name
    object_id = models.CharField(max_length=200, blank=True)
    status = models.PositiveSmallIntegerField()
    # The client's address as core.clientip finds it (behind LUP_TRUSTED_PROXIES, the real one).
    address = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["model", "object_id"]),
            models.Index(fields=["user_id", "at"]),
        ]
        # Written only by the middleware: nobody is ever granted add, change or delete.
        default_permissions = ("view",)
        verbose_name = "staff action"

    def __str__(self) -> str:
        target = f" {self.model} {self.object_id}".rstrip() if self.model else ""
        return f"{self.username} {self.kind}{target} ({self.status})"
