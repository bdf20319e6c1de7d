"""Consent and purpose registry.

A subject is known only by keys (HMAC of a normalized identifier). Consent events are
append-only; `ConsentState` is a projection of them, one row per subject and purpose, which
`consent_state_rebuild` can recompute from the events at any time.
"""

import uuid

from django.db import models


class Subject(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"subject {str(self.id)[:8]}"


class SubjectIdentifier(models.Model):
    """One identifier of a subject, as its key: HMAC-SHA256(pepper, "<id_type>:<normalized>")."""

    key = models.CharField(max_length=64, unique=True)
    id_type = models.CharField(max_length=32)
    subject = models.ForeignKey(Subject, on_delete=models.CASCADE, related_name="identifiers")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.id_type}:{self.key[:12]}…"


class Purpose(models.Model):
    """A use of personal data: a fideslang data use, or a custom one under a parent."""

    key = models.CharField(max_length=200, unique=True)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    is_custom = models.BooleanField(default=False)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.key


class Notice(models.Model):
    """One version of a privacy notice in one language; the digest pins the exact text."""

    key = models.SlugField(max_length=100)
    version = models.PositiveIntegerField()
    language = models.CharField(max_length=16)
    title = models.CharField(max_length=300)
    text = models.TextField()
    digest = models.CharField(max_length=71, editable=False)  # "sha256:" + 64 hex
    published_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["key", "version", "language"], name="notice_unique_version_language"
            )
        ]
        ordering = ["key", "-version", "language"]

    def __str__(self) -> str:
        return f"{self.key} v{self.version} ({self.language})"


class Status(models.TextChoices):
    GIVEN = "given"
    WITHDRAWN = "withdrawn"
    REFUSED = "refused"


class LegalBasis(models.TextChoices):
    CONSENT = "consent"
    CONTRACT = "contract"
    LEGAL_OBLIGATION = "legal_obligation"
    VITAL_INTERESTS = "vital_interests"
    PUBLIC_TASK = "public_task"
    LEGITIMATE_INTERESTS = "legitimate_interests"


class ConsentEvent(models.Model):
    """An append-only record: on PostgreSQL a trigger refuses UPDATE and DELETE."""

    id = models.BigAutoField(primary_key=True)
    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="events")
    purpose = models.ForeignKey(Purpose, on_delete=models.PROTECT, related_name="events")
    status = models.CharField(max_length=16, choices=Status.choices)
    legal_basis = models.CharField(max_length=32, choices=LegalBasis.choices)
    jurisdiction = models.CharField(max_length=2)
    notice = models.ForeignKey(Notice, null=True, blank=True, on_delete=models.PROTECT)
    method = models.CharField(max_length=32)
    event_time = models.DateTimeField()
    expires_at = models.DateTimeField(null=True, blank=True)
    data_categories = models.JSONField(default=list, blank=True)
    recorded_at = models.DateTimeField(auto_now_add=True)
    # The signed receipt attesting this event (ledger.Receipt). Not a foreign key: a receipt's
    # envelope may be deleted when its retention ends, and events are never updated.
    receipt_id = models.UUIDField(null=True, blank=True, unique=True, editable=False)

    class Meta:
        indexes = [models.Index(fields=["subject", "purpose", "event_time", "id"])]

    def __str__(self) -> str:
        return f"{self.status} {self.purpose_id} #{self.id}"


class ConsentState(models.Model):
    """The latest event per subject and purpose (by event time, then record order)."""

    subject = models.ForeignKey(Subject, on_delete=models.CASCADE, related_name="states")
    purpose = models.ForeignKey(Purpose, on_delete=models.PROTECT, related_name="+")
    event = models.ForeignKey(ConsentEvent, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=16, choices=Status.choices)
    event_time = models.DateTimeField()
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["subject", "purpose"], name="consent_state_unique")
        ]

    def __str__(self) -> str:
        return f"{self.status} {self.purpose_id}"
