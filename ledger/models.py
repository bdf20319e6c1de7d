"""The transparency log and the receipts in it.

`LogLeaf` and `LogNode` hold hashes only, so deleting a receipt's envelope (when its retention
ends) leaves the tree whole and free of personal data. Leaves, nodes and checkpoints are
append-only: on PostgreSQL, triggers refuse UPDATE and DELETE.
"""

import uuid

from django.db import models


class SigningKey(models.Model):
    """A public key that signed the log from `first_index` (to `last_index` once rotated)."""

    key_id = models.CharField(max_length=8, unique=True)  # C2SP key ID, hex
    name = models.CharField(max_length=200)  # the log origin
    public_key = models.BinaryField(max_length=32)
    verifier_key = models.CharField(max_length=300)
    first_index = models.BigIntegerField()
    last_index = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["first_index"]

    def __str__(self) -> str:
        return self.verifier_key


class LogHead(models.Model):
    """One row: the log's size. Appends lock it, which serializes them across processes."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    size = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="log_head_singleton")]

    def __str__(self) -> str:
        return f"log of {self.size} leaves"


class LogLeaf(models.Model):
    index = models.BigIntegerField(primary_key=True)
    leaf = models.BinaryField(max_length=52)  # "lup-receipt-leaf/v1\n" + SHA-256(payload)
    appended_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["index"]

    def __str__(self) -> str:
        return f"leaf {self.index}"


class LogNode(models.Model):
    """The hash of a complete subtree: leaves [index·2^level, (index+1)·2^level).

    Level 0 holds leaf hashes. Any root or proof needs O(log n) of these, never the leaves.
    """

    level = models.PositiveSmallIntegerField()
    index = models.BigIntegerField()
    hash = models.BinaryField(max_length=32)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["level", "index"], name="log_node_unique")]

    def __str__(self) -> str:
        return f"node {self.level}/{self.index}"


class Checkpoint(models.Model):
    """A signed note of the tree at one size. Never two roots for one size."""

    size = models.BigIntegerField(unique=True)
    root = models.BinaryField(max_length=32)
    note = models.TextField()
    key_id = models.CharField(max_length=8)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-size"]
        get_latest_by = "size"

    def __str__(self) -> str:
        return f"checkpoint at size {self.size}"


class ReceiptType(models.TextChoices):
    CONSENT = "consent"
    ERASURE_TARGET = "erasure.target"
    ERASURE_REQUEST = "erasure.request"


class Receipt(models.Model):
    """A signed receipt's envelope, at its place in the log."""

    receipt_id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    type = models.CharField(max_length=32, choices=ReceiptType.choices)
    leaf_index = models.BigIntegerField(unique=True)
    payload = models.BinaryField()  # the JCS bytes, exactly as signed
    signature = models.BinaryField(max_length=64)
    key_id = models.CharField(max_length=8)
    issued_at = models.DateTimeField()

    class Meta:
        ordering = ["leaf_index"]

    def __str__(self) -> str:
        return f"{self.type} receipt #{self.leaf_index}"


class AuditRun(models.Model):
    """The outcome of one `ledger_audit`: counts and the first problem, never a payload.

    Problems name indexes and sizes only, so a run holds no personal data. Append-only on
    PostgreSQL, like the log it audits.
    """

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    ok = models.BooleanField()
    leaves = models.BigIntegerField(default=0)
    checkpoints = models.PositiveIntegerField(default=0)
    receipts = models.BigIntegerField(default=0)
    problems = models.PositiveIntegerField(default=0)
    # The first mismatch as the command reports it ("index 5: leaf does not match…"), or
    # "error: <exception class>" when the audit itself failed.
    problem = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-finished_at", "-id"]
        get_latest_by = "finished_at"
        # Written only by the command: nobody is ever granted add, change or delete.
        default_permissions = ("view",)

    def __str__(self) -> str:
        return f"audit of {self.finished_at:%Y-%m-%d %H:%M} ({'ok' if self.ok else 'failed'})"
