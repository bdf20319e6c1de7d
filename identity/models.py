"""One-time codes kept in the database (`stores.DatabaseCodeStore`): never the code, only a
keyed hash of it, with what is needed to check it (expiry, wrong attempts, when it was used)."""

from django.db import models


class OneTimeCode(models.Model):
    """A code sent to a subject for a scope such as `erasure-request:<uuid>`. The latest code of
    a scope counts. Only a keyed hash is stored: a database reader cannot use a pending code."""

    scope = models.CharField(max_length=200)
    code_hash = models.CharField(max_length=64)
    channel = models.CharField(max_length=16)  # the identifier type it went to
    expires_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)  # wrong codes tried so far
    consumed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The one lookup: the latest code of a scope.
            models.Index(fields=["scope", "-created_at"], name="identity_code_scope_latest")
        ]

    def __str__(self) -> str:
        return f"code for {self.scope} via {self.channel}"


class BearerLink(models.Model):
    """A secret that opens one record without an account, such as the subject's status page of
    an erasure request (`purpose` "erasure-status", `ref` the request id).

    Only a hash of the token is stored, prefixed with its algorithm (`sha256$…`): whoever reads
    the database or a backup cannot open the pages. A plain SHA-256 is enough, unlike for
    passwords, because the token is 256 random bits that no one can guess to test against it.
    """

    digest = models.CharField(max_length=80, unique=True)
    purpose = models.CharField(max_length=40)
    ref = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.purpose} link for {self.ref}"
