"""The subject index Lup builds by scanning a target.

A target whose kind can enumerate identifiers (`Capability.SCAN`: a JSON Lines, CSV or
Parquet file, a table) is read once, record by record; every value its `match` names is
normalized and hashed into a subject key (the same HMAC as an upload, `core.subject_keys`),
and the keys become the membership of each dataset version the target stores
(`lineage.membership.membership_replace`): planning then finds subjects in data no one uploaded
membership for. Keys are staged as they are read, a batch at a time, so memory stays flat
however large the target; the swap at the end is atomic, so a version has its old members or
its new ones, never half of each, and a failed build leaves the old ones.

A build is asked for (`target_index_start`: the API, or beat for a target indexed every so
many minutes) and runs in a worker (`target_index_build`). Its progress is written on the
`TargetIndex` row every PROGRESS_SECONDS: counts only, never a value.

Which builds run: a request while one is queued or running joins it; a task whose `run` is no
longer the index's current one does nothing (a duplicate delivery, or a build asked again
meanwhile); a build silent for STALE_SECONDS lost its worker, and the next request or beat's
`target_index_due` starts it again.
"""

import functools
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import structlog
from celery import current_app
from django.db import transaction
from django.utils import timezone

from connectors import Capability, Connector, connector_for
from connectors.base import Found
from core.actors import SYSTEM
from core.errors import ApplicationError, Conflict
from core.subject_keys import InvalidIdentifier, key_for
from erasure.failures import error_code
from erasure.models import Target
from lineage.membership import membership_replace, membership_stage_discard
from targets.models import TargetIndex

log = structlog.get_logger(__name__)

State = TargetIndex.State
# How often (seconds) a running build writes its counts.
PROGRESS_SECONDS = 2.0
# A queued or running build not heard from in this long (seconds) has lost its task or worker.
STALE_SECONDS = 600
# Distinct values whose keys a build remembers, so a subject on many records is hashed once.
KEY_CACHE = 65_536
MAX_EVERY_MINUTES = 60 * 24 * 30
_UNSET: Any = object()


def _busy(index: TargetIndex, now: datetime) -> bool:
    """A build is queued or running, and was heard from recently."""
    return index.state in (State.QUEUED, State.RUNNING) and (
        now - index.updated_at < timedelta(seconds=STALE_SECONDS)
    )


def target_index_check(*, target: Target) -> Connector:
    """Refuse a target that cannot be indexed: `target_not_active` (409: a proposed or retired
    target is not planned, so its index would lead nowhere), `target_has_no_versions` (409: no
    dataset version to write the membership of), `capability_not_supported` (400: its kind
    cannot enumerate identifiers)."""
    connector = connector_for(target.kind, target.config)
    connector.require(Capability.SCAN)
    if target.state != Target.State.ACTIVE:
        raise Conflict("Only an active target is indexed.", code="target_not_active")
    if not target.versions.exists():
        raise Conflict(
            "The target stores no dataset version to index: link its versions first.",
            code="target_has_no_versions",
        )
    return connector


def _every(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_EVERY_MINUTES:
        raise ApplicationError(
            f"every_minutes is a whole number from 1 to {MAX_EVERY_MINUTES}, or null.",
            code="invalid_schedule",
            fields={"every_minutes": "out of range"},
        )
    return value


@transaction.atomic
def target_index_start(
    *, target: Target, actor: str = SYSTEM, every_minutes: Any = _UNSET, now: datetime | None = None
) -> TargetIndex:
    """Ask for a build of the target's subject index (a worker runs it once this commits);
    with `every_minutes`, also set (an int) or clear (None) its schedule. A build already
    queued or running is joined, not doubled."""
    every = _every(every_minutes) if every_minutes is not _UNSET else _UNSET
    target_index_check(target=target)
    now = now or timezone.now()
    index, created = TargetIndex.objects.select_for_update().get_or_create(target=target)
    if every is not _UNSET:
        index.every_minutes = every
    if not created and _busy(index, now):
        # Not `updated_at`: it is the build's heartbeat, which tells a lost build from a live one.
        index.save(update_fields=["every_minutes"])
        return index
    run = uuid.uuid4()
    previous = index.run
    index.state = State.QUEUED
    index.run = run
    index.requested_at = now
    index.requested_by = actor
    index.started_at = index.finished_at = None
    index.records = index.identifiers = index.invalid = index.keys_staged = 0
    index.error_code = ""
    index.save()
    if previous is not None:
        # What a build that lost its worker staged is never swapped in.
        membership_stage_discard(stage=previous)
    transaction.on_commit(
        lambda: _enqueue(target_id=target.pk, kind=target.kind, run=run), robust=True
    )
    return index


def _enqueue(*, target_id: int, kind: str, run: uuid.UUID) -> None:
    # On its kind's queue: the workers there reach the target (file kinds mount the roots).
    current_app.signature("targets.index", args=[target_id, str(run)]).apply_async(
        queue=f"erasure.{kind}"
    )


def target_index_due(*, now: datetime | None = None) -> int:
    """Start the builds that are due: a scheduled target whose last build was asked for
    `every_minutes` ago or more, and any build whose task or worker was lost. Returns how many
    were started."""
    now = now or timezone.now()
    started = 0
    for index in TargetIndex.objects.select_related("target").filter(
        target__state=Target.State.ACTIVE
    ):
        lost = index.state in (State.QUEUED, State.RUNNING) and not _busy(index, now)
        due = (
            index.every_minutes is not None
            and index.state not in (State.QUEUED, State.RUNNING)
            and (
                index.requested_at is None
                or now - index.requested_at >= timedelta(minutes=index.every_minutes)
            )
        )
        if not (lost or due):
            continue
        try:
            target_index_start(target=index.target, actor=SYSTEM, now=now)
        except ApplicationError as exc:  # e.g. its versions were unlinked: said on the row
            TargetIndex.objects.filter(pk=index.pk).update(
                state=State.FAILED, error_code=exc.code, finished_at=now
            )
            continue
        started += 1
    return started


def _claim(*, target_id: int, run: uuid.UUID) -> bool:
    """Take the build: it is the current one, and queued (or running, silent too long)."""
    now = timezone.now()
    stale = now - timedelta(seconds=STALE_SECONDS)
    taken = (
        TargetIndex.objects.filter(target_id=target_id, run=run)
        .filter(state=State.QUEUED)
        .update(state=State.RUNNING, started_at=now, updated_at=now)
    )
    if not taken:
        taken = TargetIndex.objects.filter(
            target_id=target_id, run=run, state=State.RUNNING, updated_at__lt=stale
        ).update(started_at=now, updated_at=now)
    return bool(taken)


def _still_current(*, index_pk: int, run: uuid.UUID) -> None:
    """Refuse the swap of a build asked again meanwhile (it was silent so long that another
    took over, and may have discarded part of what this one staged). The index's row lock
    orders this against `target_index_start`: one of them sees the other's change."""
    if not TargetIndex.objects.select_for_update().filter(pk=index_pk, run=run).exists():
        raise Conflict("A newer build of this index was asked for.", code="index_superseded")


class _Counts:
    """A build's counts, written on its row at most every PROGRESS_SECONDS."""

    clock: Callable[[], float] = staticmethod(time.monotonic)

    def __init__(self, index_pk: int, run: uuid.UUID):
        self.pk, self.run = index_pk, run
        self.records = self.identifiers = self.invalid = self.keys_staged = 0
        self.written = self.clock()

    def fields(self) -> dict[str, int]:
        return {
            "records": self.records,
            "identifiers": self.identifiers,
            "invalid": self.invalid,
            "keys_staged": self.keys_staged,
        }

    def staged(self, keys: int) -> None:
        self.keys_staged = keys
        self.tick()

    def tick(self) -> None:
        if self.clock() - self.written >= PROGRESS_SECONDS:
            self.write()

    def write(self) -> None:
        # Only while this build is the current one: a superseded build writes nothing.
        TargetIndex.objects.filter(pk=self.pk, run=self.run).update(
            **self.fields(), updated_at=timezone.now()
        )
        self.written = self.clock()


def _keys(connector: Connector, counts: _Counts) -> Iterator[str]:
    """The subject key of every valid identifier the scan finds, counted as it goes."""

    @functools.lru_cache(maxsize=KEY_CACHE)
    def key(id_type: str, value: str) -> str | None:
        try:
            return key_for(id_type, value)
        except InvalidIdentifier:
            return None

    for found in _scanned(connector):
        counts.records += 1
        for id_type, value in found:
            counts.identifiers += 1
            subject = key(id_type, value)
            if subject is None:
                counts.invalid += 1
            else:
                yield subject
        if counts.records % 1024 == 0:
            counts.tick()


def _scanned(connector: Connector) -> Iterator[Found]:
    """Every record's identifiers: a sharded target's shard after shard, in key order."""
    if not connector.sharded:
        yield from connector.scan()
        return
    for shard in connector.shards():
        yield from connector.shard(shard.key).scan()


def target_index_build(*, target_id: int, run: str) -> str:
    """Build the index (a worker's task): scan, stage, swap. Returns the state it ended in, or
    "skipped" when this build is not the current one or another worker has it."""
    run_id = uuid.UUID(run)
    if not _claim(target_id=target_id, run=run_id):
        return "skipped"
    index = TargetIndex.objects.select_related("target").get(target_id=target_id)
    target = index.target
    counts = _Counts(index.pk, run_id)
    # An earlier attempt at this build (its worker died) may have staged keys: start afresh.
    membership_stage_discard(stage=run_id)
    try:
        connector = target_index_check(target=target)
        versions = list(target.versions.all())
        subjects = membership_replace(
            versions=versions,
            keys=_keys(connector, counts),
            stage=run_id,
            source=f"membership indexed by scanning target {target.name}",
            progress=counts.staged,
            confirm=lambda: _still_current(index_pk=index.pk, run=run_id),
        )
    except Exception as exc:  # every failure ends on the row, by its code, never its message
        code = error_code(exc)
        TargetIndex.objects.filter(pk=index.pk, run=run_id).update(
            **counts.fields(), state=State.FAILED, error_code=code, finished_at=timezone.now()
        )
        log.warning("targets.index_failed", target=target_id, code=code, records=counts.records)
        return State.FAILED
    now = timezone.now()
    TargetIndex.objects.filter(pk=index.pk, run=run_id).update(
        **counts.fields(),
        state=State.DONE,
        subjects=subjects,
        versions=len(versions),
        error_code="",
        finished_at=now,
        indexed_at=now,
    )
    log.info(
        "targets.indexed",
        target=target_id,
        records=counts.records,
        subjects=subjects,
        versions=len(versions),
    )
    return State.DONE
