"""The subject index a target builds of itself: its schedule and how far its last build got."""

from django.db import models


class TargetIndex(models.Model):
    """The subject index of one target (`targets.indexing`): Lup scans the target for the
    identifiers its `match` names and makes their keys the membership of the dataset versions
    the target stores. Counts only, never a value: `records` read, `identifiers` found in them,
    `invalid` ones (no valid identifier of their type, left out), `keys_staged` so far, and
    `subjects`, the distinct subjects the last finished build found."""

    class State(models.TextChoices):
        QUEUED = "queued"  # asked for; a worker has not started it
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"  # `error_code` says why; the versions keep their earlier membership

    target = models.OneToOneField(
        "erasure.Target", on_delete=models.CASCADE, related_name="subject_index"
    )
    # Rebuilt by beat this often (minutes); null: only when asked.
    every_minutes = models.PositiveIntegerField(null=True, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    # The current (or last) build: a task carrying another one is stale and does nothing.
    run = models.UUIDField(null=True, blank=True)
    requested_at = models.DateTimeField(null=True, blank=True)
    requested_by = models.CharField(max_length=200, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # When the last build finished well: the index is as of then.
    indexed_at = models.DateTimeField(null=True, blank=True)
    records = models.BigIntegerField(default=0)
    identifiers = models.BigIntegerField(default=0)
    invalid = models.BigIntegerField(default=0)
    keys_staged = models.BigIntegerField(default=0)
    subjects = models.BigIntegerField(null=True, blank=True)
    versions = models.PositiveIntegerField(default=0)
    error_code = models.CharField(max_length=64, blank=True)
    # Written with every progress report: a running build silent for long has lost its worker.
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "subject index"
        verbose_name_plural = "subject indexes"

    def __str__(self) -> str:
        return f"subject index of target {self.target_id} ({self.state})"
