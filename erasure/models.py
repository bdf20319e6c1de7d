"""Erasure requests: what a subject asked, its state, its audit trail, and its sealed identifiers.

The subject's raw identifiers exist only sealed in `sealed_identifiers` (AES-GCM) under a
per-request data key kept in `RequestKey`. Deleting that key row (when the request is closed and
its retention has ended) leaves ciphertext nobody can open: crypto-shredding.
"""

import uuid

from django.db import models


class State(models.TextChoices):
    RECEIVED = "received"
    VERIFYING = "verifying"
    VERIFIED = "verified"
    PLANNED = "planned"
    AWAITING_APPROVAL = "awaiting_approval"
    EXECUTING = "executing"
    COMPLETED = "completed"
    PARTIALLY_COMPLETED = "partially_completed"
    DENIED = "denied"
    FAILED = "failed"


CLOSED_STATES = frozenset({State.COMPLETED, State.PARTIALLY_COMPLETED, State.DENIED, State.FAILED})


class ErasureRequest(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    state = models.CharField(max_length=32, choices=State.choices, default=State.RECEIVED)
    channel = models.CharField(max_length=16)  # api, admin, portal
    subject_country = models.CharField(max_length=2, blank=True)
    sealed_identifiers = models.BinaryField()  # nonce (12 bytes) + AES-GCM ciphertext
    # NULL, not "": requests without a key must not collide in the unique constraint.
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001
    idempotency_digest = models.CharField(max_length=64, blank=True)
    requested_by = models.CharField(max_length=200)  # the actor who filed it
    linked_to = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="linked_requests"
    )
    received_at = models.DateTimeField()
    verified_at = models.DateTimeField(null=True, blank=True)
    deadline = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    retention_until = models.DateTimeField(null=True, blank=True)
    shredded_at = models.DateTimeField(null=True, blank=True)
    # The receipts' commitment to the subject (RECEIPTS.md §5); its nonce is sealed with the
    # identifiers, handed to the subject in the bundle, and shredded with them.
    subject_commit = models.CharField(max_length=44, blank=True)
    closing_receipt_id = models.UUIDField(null=True, blank=True, unique=True)
    # The effective rules when the deadline was set: which jurisdictions, which rule, from where.
    rules = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["requested_by", "idempotency_key"],
                name="erasure_idempotency_unique",
                condition=models.Q(idempotency_key__isnull=False),
            )
        ]
        ordering = ["-received_at"]
        permissions = [
            (
                "act_on_erasurerequest",
                "Can approve, deny, hold, decide on models and retry erasure requests",
            ),
        ]

    def __str__(self) -> str:
        return f"erasure request {str(self.id)[:8]} ({self.state})"

    @property
    def is_open(self) -> bool:
        return self.state not in CLOSED_STATES


class Target(models.Model):
    """A place a subject's data may live, and how to erase it there.

    `config` is the connector's configuration: names, paths, columns; secrets only by the name
    of an environment variable (e.g. `dsn_env`), never their values.
    """

    class State(models.TextChoices):
        PROPOSED = "proposed"  # waits for a compliance officer's approval; not planned
        ACTIVE = "active"
        RETIRED = "retired"

    class Operation(models.TextChoices):
        DELETE = "delete"  # the subject's items are removed
        MASK = "mask"  # kept, with the subject's cells replaced (the kind's mask config)

    name = models.SlugField(max_length=100, unique=True)
    kind = models.CharField(max_length=50)  # a key of connectors.CONNECTORS
    config = models.JSONField(default=dict)
    # What the engine asks the connector to do; "mask" only on a kind and config that can mask
    # (checked when the target is saved), so a table kept for accounting keeps its rows.
    operation = models.CharField(
        max_length=8,
        choices=Operation.choices,
        default=Operation.DELETE,
        help_text='"delete" the subject\'s items, or "mask" them: keep each item with the '
        "config's mask applied. Refused (operation_not_supported) where the kind or its config "
        "cannot mask.",
    )
    id_types = models.JSONField(default=list, editable=False)  # derived from the connector
    country = models.CharField(max_length=2)  # where the data lives (ISO 3166-1 alpha-2)
    # Every request touches it (logs and caches keyed by user).
    always = models.BooleanField(default=False)
    # A human approves before it is erased (e.g. training sets).
    requires_approval = models.BooleanField(default=False)
    # It can map one identifier type to another (e.g. a users table: email -> user_id).
    identity_source = models.BooleanField(default=False)
    versions = models.ManyToManyField("lineage.DatasetVersion", blank=True, related_name="targets")
    # Only active targets are planned. A retired one is kept, with its runs and receipts, for
    # the record; its history (who retired it, when, why) is in `events`.
    state = models.CharField(max_length=16, choices=State.choices, default=State.ACTIVE)
    # A change to an active target that needs approval (see `targets.services`): the whole new
    # registration, applied when a compliance officer approves it; until then the target works
    # as it was.
    proposal = models.JSONField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        permissions = [("approve_target", "Can approve proposed targets and target changes")]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"


class TargetEvent(models.Model):
    """One step of a target's life (proposed, approved, retired): who, when, why."""

    class Action(models.TextChoices):
        PROPOSED = "proposed"
        APPROVED = "approved"
        RETIRED = "retired"

    target = models.ForeignKey(Target, on_delete=models.CASCADE, related_name="events")
    action = models.CharField(max_length=16, choices=Action.choices)
    actor = models.CharField(max_length=200)
    reason = models.TextField(blank=True)
    # What was proposed or approved: the registration (names, paths, flags; never a secret).
    change = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField()

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.target_id} {self.action} by {self.actor}"


class PlanEntry(models.Model):
    """One target the request will touch, and why: every entry explains itself."""

    request = models.ForeignKey(ErasureRequest, on_delete=models.CASCADE, related_name="plan")
    target = models.ForeignKey(Target, on_delete=models.PROTECT, related_name="plan_entries")
    reasons = models.JSONField(default=list)
    id_types = models.JSONField(default=list)  # the request's types this target is keyed by
    needs_resolution = models.BooleanField(default=False)  # keyed only by types not given
    requires_approval = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["request", "target"], name="plan_entry_unique")
        ]

    def __str__(self) -> str:
        return f"{self.target} for {self.request_id}"


class AffectedModel(models.Model):
    """A model trained, fine-tuned or evaluated on the subject's data: staff decide
    (retrain, unlearn, or keep with a written justification); never silently."""

    class Decision(models.TextChoices):
        PENDING = "pending"
        RETRAIN = "retrain"
        UNLEARN = "unlearn"
        KEEP = "keep"

    request = models.ForeignKey(
        ErasureRequest, on_delete=models.CASCADE, related_name="affected_models"
    )
    model_version = models.ForeignKey(
        "lineage.ModelVersion", on_delete=models.PROTECT, related_name="+"
    )
    kinds = models.JSONField(default=list)  # trained_on, fine_tuned_on, evaluated_on, …
    decision = models.CharField(max_length=16, choices=Decision.choices, default=Decision.PENDING)
    justification = models.TextField(blank=True)
    decided_by = models.CharField(max_length=200, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["request", "model_version"], name="affected_model_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.model_version} ({self.decision})"


class TargetRun(models.Model):
    """The erasure of one request on one target: one Celery task, retried until it ends.

    `receipt_id` is set in the same transaction that ends the run, so a run ends once, with
    one receipt, however often its task is delivered."""

    class Status(models.TextChoices):
        PENDING = "pending"
        CLAIMED = "claimed"  # a worker is erasing; its connector I/O holds no lock
        ERASED = "erased"  # the erase ran; its post-check and receipt are still to come
        # A sharded target: its shards are erased by tasks of their own (`ShardRun`); the last
        # one to end receipts every run of the pass.
        SHARDED = "sharded"
        AWAITING_PERSON = "awaiting_person"  # a manual target: a person acts and attests
        AWAITING_CALLBACK = "awaiting_callback"  # a webhook target will report later
        DONE = "done"
        FAILED = "failed"

    class Outcome(models.TextChoices):
        ERASED = "erased"
        NOTHING_FOUND = "nothing_found"
        HELD = "held"
        FAILED = "failed"

    request = models.ForeignKey(ErasureRequest, on_delete=models.CASCADE, related_name="runs")
    target = models.ForeignKey(Target, on_delete=models.PROTECT, related_name="runs")
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.PENDING)
    outcome = models.CharField(max_length=16, blank=True, choices=Outcome.choices)
    attempts = models.PositiveIntegerField(default=0)
    erased = models.JSONField(default=dict, blank=True)  # the connector's Erased, as recorded
    last_error = models.CharField(max_length=100, blank=True)  # a stable code, never a value
    receipt_id = models.UUIDField(null=True, blank=True, unique=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    # Who claimed the run and when: a claim older than `LUP_SWEEP_AFTER_SECONDS` is given back.
    claimed_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=64, blank=True)
    # When a failed attempt is due to be tried again by the in-process sweeper (no broker holds
    # a countdown when tasks run in the calling process); NULL with a worker, whose task retries.
    retry_at = models.DateTimeField(null=True, blank=True)
    # A sharded target: the run whose pass serves this one (its shards are that run's), and,
    # once receipted, the manifest of the shards it changed (RECEIPTS.md §2), for the bundle.
    shard_pass = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    manifest = models.JSONField(default=list, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["request", "target"], name="target_run_unique")
        ]

    def __str__(self) -> str:
        return f"{self.target} for {self.request_id}: {self.status}"


class ShardRun(models.Model):
    """One shard of a sharded target's pass: erased and post-checked for every run of the pass
    at once (one read of the shard however many requests), by a task of its own with its own
    retries. Keyed by (the pass's first run, the shard's key); claimed like a `TargetRun`."""

    class Status(models.TextChoices):
        PENDING = "pending"
        CLAIMED = "claimed"
        DONE = "done"
        FAILED = "failed"

    run = models.ForeignKey(TargetRun, on_delete=models.CASCADE, related_name="shards")
    key = models.TextField()  # relative to the target's prefix; hashed in receipts
    size = models.BigIntegerField(default=0)  # bytes when listed
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=100, blank=True)  # a stable code, never a value
    # Per run of the pass (by id, runs with none left out): items erased, and items the
    # post-check still found.
    counts = models.JSONField(default=dict, blank=True)
    remaining = models.JSONField(default=dict, blank=True)
    op = models.CharField(max_length=8, blank=True)  # what erasing did here: delete or mask
    before = models.CharField(max_length=71, blank=True)  # "sha256:<hex>" of the content
    after = models.CharField(max_length=71, blank=True)
    # What the post-check read of the versions the store keeps (a versioned bucket): policy,
    # versions_checked and, when retained, retained_until; empty for a store that keeps none.
    history = models.JSONField(default=dict, blank=True)
    # The store's lock that refused erasing this shard (an object lock): basis and until; the
    # runs whose subject it holds end `held` with it as their exception.
    held = models.JSONField(default=dict, blank=True)
    # A rewrite about to replace the shard (op, counts per run, digests before and after, when),
    # kept before it is published: a task that died between publishing and recording it leaves
    # its retry what it erased (adopted when the shard's content is that rewrite's); emptied once
    # the shard is recorded.
    prepared = models.JSONField(default=dict, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    # The worker holding the claim; once done, the worker that erased the shard.
    claimed_by = models.CharField(max_length=64, blank=True)
    retry_at = models.DateTimeField(null=True, blank=True)  # in-process retries, as on a run
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "key"], name="shard_run_unique")]

    def __str__(self) -> str:
        return f"shard of run {self.run_id}: {self.status}"


class ManualTask(TargetRun):
    """A manual target's run, as the admin shows it to the person who does the work."""

    class Meta:
        proxy = True
        verbose_name = "manual erasure task"


class LegalHold(models.Model):
    """Keep data despite a request: for one subject (by key), one target, or both."""

    subject_key = models.CharField(max_length=64, blank=True, db_index=True)
    target = models.ForeignKey(
        Target, null=True, blank=True, on_delete=models.CASCADE, related_name="holds"
    )
    basis = models.CharField(max_length=128)  # e.g. "tax-record-retention", "litigation-2026-7"
    until = models.DateTimeField()
    created_by = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    released_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"hold {self.basis} until {self.until:%Y-%m-%d}"


class RequestSubjectKey(models.Model):
    """A pseudonymous key of an identifier the request names: enough to link requests and plan
    the erasure, never to contact or re-identify the subject."""

    request = models.ForeignKey(
        ErasureRequest, on_delete=models.CASCADE, related_name="subject_keys"
    )
    key = models.CharField(max_length=64, db_index=True)
    id_type = models.CharField(max_length=32)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["request", "key"], name="request_key_unique")
        ]

    def __str__(self) -> str:
        return f"{self.id_type} key of {self.request_id}"


class RequestKey(models.Model):
    """A request's data key, wrapped with the deployment's key-encryption key."""

    request = models.OneToOneField(
        ErasureRequest, on_delete=models.CASCADE, primary_key=True, related_name="key"
    )
    wrapped_key = models.BinaryField()

    def __str__(self) -> str:
        return f"key of {self.request_id}"


class Transition(models.Model):
    """One step of a request's state machine: who, when, why. Append-only."""

    request = models.ForeignKey(
        ErasureRequest, on_delete=models.PROTECT, related_name="transitions"
    )
    from_state = models.CharField(max_length=32, blank=True)
    to_state = models.CharField(max_length=32)
    actor = models.CharField(max_length=200)
    reason = models.TextField(blank=True)
    at = models.DateTimeField()

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.from_state or '∅'} → {self.to_state}"
