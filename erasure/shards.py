"""The shards of a sharded target's pass: created, fanned out, erased one by one, summed up.

A run on a sharded target (a directory of files, a prefix of objects) starts a pass as any
batching target does (`runs`: group commit takes along the target's other pending runs). The
pass lists the shards once and, in one transaction, writes a `ShardRun` per shard and moves
its runs to `sharded` (`shard_pass_start`); on commit, one `erasure.run_shard` task per shard,
or per group of small shards (`LUP_SHARD_GROUP_BYTES`), goes to the target's queue, so every
worker takes a share.

A shard task claims each of its shards (pending → claimed) and erases it for every run of the
pass in one rewrite (`erase_groups` on the shard's own connector); a kind whose erase could
write where nothing matches (`erase_reads_once` false: a versioned bucket's versions) is looked
at first (`verify_groups`), read-only. Either way a shard with no match is read once and left
as it was, never rewritten. A shard that was rewritten is post-checked once more; then the task
records each run's count,
what remains and the shard's digests (`shard_run_execute`). Retries are per shard, like a
run's: attempts, backoff, and a shard whose attempts are spent fails the pass. When no shard
is left unended (`pass_ended`), the pass ends (`runs.sharded_pass_end`): each run gets one
`erasure.target` receipt whose `shards` member carries the shards examined, the shards it
changed and the digest of their manifest (`pass_summary`, RECEIPTS.md §2); the manifest is
kept for the bundle. A store that keeps versions gives each shard's post-check a history; the
receipt's `history` sums them (`pass_history`). A shard the store's lock refuses
(`HeldByStore`) is recorded with the lock and not retried: the runs whose subject it still
holds end `held` with the lock as their exception.

A worker killed mid-shard leaves a claim that the sweeper gives back (`shards_sweep`); the
shard is then erased from what it holds at that time, and recorded once.
"""

import hashlib
import os
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

import structlog
from django.conf import settings
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from connectors import Connector, connector_for
from connectors.base import Erased, HeldByStore, History
from connectors.shards import Shard
from erasure import dispatch, failures
from erasure.models import ShardRun, State, TargetRun
from erasure.services import target_run_identifiers
from ledger import bodies

log = structlog.get_logger(__name__)

Status = ShardRun.Status
ENDED = (Status.DONE, Status.FAILED)
# Shards one task takes at most, however small: enough tasks to spread a pass over the workers.
SHARDS_PER_TASK_MAX = 20


# --- a pass starts ----------------------------------------------------------------------------


def shard_pass_start(*, lead: TargetRun, members: Iterable[int], listed: list[Shard]) -> bool:
    """Record the pass led by `lead` over `listed` for the claimed runs `members`, and enqueue
    its shards once that commits. Returns True when there is no shard at all (the pass has
    ended already), False otherwise; a pass whose claims the sweeper took back meanwhile gives
    the others back too and does nothing (its runs start another)."""
    now = timezone.now()
    kind = lead.target.kind
    with transaction.atomic():
        claimed = set(
            TargetRun.objects.select_for_update()
            .filter(pk__in=list(members), status=TargetRun.Status.CLAIMED)
            .values_list("pk", flat=True)
        )
        if lead.pk not in claimed:
            TargetRun.objects.filter(pk__in=claimed).update(
                status=TargetRun.Status.PENDING, claimed_by=""
            )
            return False
        TargetRun.objects.filter(pk__in=claimed).update(
            status=TargetRun.Status.SHARDED, shard_pass=lead.pk, claimed_by=""
        )
        # A run led a pass before only if that pass failed and staff run it again: its shard
        # rows are that pass's, and this one starts from none (no receipt refers to them).
        ShardRun.objects.filter(run=lead).delete()
        ShardRun.objects.bulk_create(
            [ShardRun(run=lead, key=s.key, size=s.size, enqueued_at=now) for s in listed],
            ignore_conflicts=True,
        )
        created = list(
            ShardRun.objects.filter(run=lead, status=Status.PENDING)
            .order_by("key")
            .values_list("pk", "size")
        )
        transaction.on_commit(
            lambda: [
                dispatch.shard_runs_enqueue(shard_ids=ids, kind=kind) for ids in tasks(created)
            ],
            robust=True,
        )
    log.info(
        "erasure.shards_listed", target=lead.target.name, shards=len(listed), runs=len(claimed)
    )
    return not listed


def tasks(shards: list[tuple[int, int]]) -> list[list[int]]:
    """Shard ids by task: consecutive shards share one while their bytes stay within
    `LUP_SHARD_GROUP_BYTES` (0: a task each), at most SHARDS_PER_TASK_MAX a task."""
    limit = settings.LUP_SHARD_GROUP_BYTES
    grouped: list[list[int]] = []
    current: list[int] = []
    size = 0
    for pk, bytes_ in shards:
        full = limit <= 0 or size + bytes_ > limit or len(current) >= SHARDS_PER_TASK_MAX
        if current and full:
            grouped.append(current)
            current, size = [], 0
        current.append(pk)
        size += bytes_
    if current:
        grouped.append(current)
    return grouped


# --- one shard --------------------------------------------------------------------------------


# The identifiers of the pass this process erases shards of, kept across its tasks: a pass of
# a thousand requests over two thousand shards would otherwise open a thousand requests'
# identifiers (a query and an unsealing each) two thousand times. One pass at a time, known by
# its lead and its runs (a failed pass that staff run again has a pass of other runs under the
# same lead); dropped when the process sees the pass end (`pass_forget`), and not reused after
# OPENED_SECONDS without a shard of it, so they stay in memory about as long as the pass runs.
OPENED_SECONDS = 300
_opened: tuple[tuple[int, tuple[int, ...]], dict[int, dict[str, list[str]]], float] | None = None


def _pass_groups(lead_id: int) -> dict[int, dict[str, list[str]]]:
    """Each run of the pass led by `lead_id`: its identifiers by type (opened once a pass)."""
    global _opened
    members = tuple(
        TargetRun.objects.filter(shard_pass=lead_id, status=TargetRun.Status.SHARDED)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    now = time.monotonic()
    if (
        _opened is not None
        and _opened[0] == (lead_id, members)
        and now - _opened[2] < (OPENED_SECONDS)
    ):
        _opened = (_opened[0], _opened[1], now)
        return _opened[1]
    _opened = None  # the pass before's identifiers go before this one's are opened
    runs = TargetRun.objects.filter(pk__in=members).select_related("request", "target")
    groups = {run.pk: target_run_identifiers(run=run) for run in runs}
    _opened = ((lead_id, members), groups, now)
    return groups


def pass_forget(*, lead_id: int) -> None:
    """The pass has ended: its identifiers leave this process's memory."""
    global _opened
    if _opened is not None and _opened[0][0] == lead_id:
        _opened = None


def _worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:64]


def shard_run_execute(*, shard_id: int) -> ShardRun | None:
    """Erase and post-check one shard for every run of its pass (idempotent): a shard that has
    ended, or that another worker holds, is left as it is. Returns the shard, None if gone."""
    shard = ShardRun.objects.select_related("run__target").filter(pk=shard_id).first()
    if shard is None or shard.status != Status.PENDING:
        return shard
    # One UPDATE: of two workers handed the same shard, the second finds it claimed.
    if not ShardRun.objects.filter(pk=shard_id, status=Status.PENDING).update(
        status=Status.CLAIMED, claimed_at=timezone.now(), claimed_by=_worker()
    ):
        return shard
    target = shard.run.target
    groups = _pass_groups(shard.run_id)
    started = timezone.now()
    try:
        connector = connector_for(target.kind, target.config).shard(shard.key)
        held: HeldByStore | None = None
        # Most shards hold none of a batch's subjects: they are read once and never rewritten.
        # A kind whose erase writes nothing where nothing matches is erased at once; the others
        # are looked at first, read-only.
        at_once = bool(groups) and connector.erase_reads_once()
        found = connector.verify_groups(groups) if groups and not at_once else {}
        # What a task before this one published, and died before recording. Not where the
        # store keeps versions: there the object that rewrite replaced is still one of them,
        # and this attempt finds it, erases it and counts it.
        versioned = any(check.history for check in found.values())
        lost = {} if versioned else _published(shard, connector)
        erased: dict[int, Erased] = {}
        if at_once or any(check.remaining for check in found.values()):
            connector.publishing = partial(_prepare, shard_id, target.operation)
            try:
                erased = connector.erase_groups(groups, op=target.operation)
            except HeldByStore as lock:  # the store's lock: recorded, never retried
                held = lock
        rewritten = any(result.count for result in erased.values())
        if at_once and not rewritten:
            # The erase read the whole shard and found nothing: that is the look's answer.
            erased = {}
            found = connector.checked(connector.verify_method, dict.fromkeys(groups, 0))
        checked = connector.verify_groups(groups) if rewritten or held else found
    except BaseException:
        ShardRun.objects.filter(pk=shard_id, status=Status.CLAIMED).update(
            status=Status.PENDING, claimed_by=""
        )
        raise
    now = timezone.now()
    # This attempt's result (its runs share the digests) and a lost one's, which came first.
    first = next((r for r in erased.values() if r.count), None) or next(iter(erased.values()), None)
    gone = next(iter(lost.values()), None)
    origin = gone or first  # the content before: the first rewrite's
    last = first if rewritten or gone is None else gone  # the content after: the last one's
    counts = {str(pk): result.count for pk, result in erased.items() if result.count}
    for pk, result in lost.items():
        counts[str(pk)] = counts.get(str(pk), 0) + result.count
    history = next((check.history for check in checked.values() if check.history), None)
    # A claim the sweeper gave back meanwhile is recorded all the same; one that ended is not.
    ShardRun.objects.filter(pk=shard_id, status__in=[Status.CLAIMED, Status.PENDING]).update(
        status=Status.DONE,
        # Only the runs with something to say: a pass of a thousand requests keeps small rows.
        counts=counts,
        remaining={str(pk): check.remaining for pk, check in checked.items() if check.remaining},
        op=last.op if counts and last and last.count else "none",
        before=origin.before if origin else "",
        after=(last and last.after) or "",
        history=_kept(history),
        held={"basis": held.basis, "until": held.until.isoformat()} if held else {},
        started_at=gone.started_at if gone else started,
        completed_at=(last and last.completed_at) or now,
        checked_at=now,
        retry_at=None,
        prepared={},
    )  # `claimed_by` stays: which worker erased the shard
    shard.refresh_from_db()
    return shard


def _prepare(shard_id: int, op: str, counts: dict, before: str, after: str) -> None:
    """Keep what a rewrite of the shard did before it is published (`FileRewrite.publishing`)."""
    ShardRun.objects.filter(pk=shard_id).update(
        prepared={
            "op": op,
            "counts": {str(pk): n for pk, n in counts.items() if n},
            "before": before,
            "after": after,
            "at": timezone.now().isoformat(),
        }
    )


def _published(shard: ShardRun, connector: Connector) -> dict[int, Erased]:
    """What a task that died between publishing the shard's rewrite and recording it erased:
    its prepared counts, when the shard's content is that rewrite's (none otherwise: it was
    not published, or was replaced since, and the shard is erased as if for the first time)."""
    prepared = shard.prepared
    if not prepared or connector.content_digest() != prepared["after"]:
        return {}
    at = datetime.fromisoformat(prepared["at"])
    return {
        int(pk): Erased(
            op=prepared["op"],
            method=connector.erase_method,
            count=count,
            started_at=at,
            completed_at=at,
            before=prepared["before"],
            after=prepared["after"],
        )
        for pk, count in prepared["counts"].items()
    }


def _kept(history: History | None) -> dict[str, object]:
    if history is None:
        return {}
    until = history.retained_until
    return {
        "policy": history.policy,
        "versions_checked": history.versions_checked,
        **({"retained_until": until.isoformat()} if until else {}),
    }


def shard_run_attempt_failed(*, shard_id: int, code: str, in_process: bool) -> int | None:
    """A failed attempt at a shard: its code, one attempt more, the claim given back (and, in
    process, when to try again). Returns the attempts so far, None if it has ended."""
    now = timezone.now()
    with transaction.atomic():
        shard = ShardRun.objects.select_for_update().filter(pk=shard_id).first()
        if shard is None or shard.status in ENDED:
            return None
        shard.attempts += 1
        shard.last_error = code
        shard.status = Status.PENDING
        shard.claimed_by = ""
        again = in_process and failures.retryable(code, attempts=shard.attempts)
        delay = timedelta(seconds=failures.backoff_seconds(shard.attempts))
        shard.retry_at = now + delay if again else None
        shard.enqueued_at = now
        shard.save()
    log.warning("erasure.shard_attempt_failed", shard=shard_id, code=code, attempts=shard.attempts)
    return shard.attempts


def shard_run_fail(*, shard_id: int, code: str) -> ShardRun:
    """A shard's attempts are spent: it fails, and with it its pass's runs when the pass ends."""
    ShardRun.objects.filter(pk=shard_id).exclude(status__in=ENDED).update(
        status=Status.FAILED, last_error=code, claimed_by="", retry_at=None
    )
    return ShardRun.objects.get(pk=shard_id)


def pass_ended(*, lead_id: int) -> bool:
    return not ShardRun.objects.filter(run_id=lead_id).exclude(status__in=ENDED).exists()


# --- a pass ends ------------------------------------------------------------------------------


@dataclass
class RunShards:
    """What a pass did for one of its runs."""

    count: int = 0
    remaining: int = 0
    op: str = "none"
    manifest: list[dict[str, str]] = field(default_factory=list)
    # The lock of a shard still holding this run's subject (the one lasting longest): basis
    # and until; the run ends `held` with it as its exception.
    held: tuple[str, datetime] | None = None

    def hold(self, lock: dict[str, str]) -> None:
        until = datetime.fromisoformat(lock["until"])
        if self.held is None or until > self.held[1]:
            self.held = (lock["basis"], until)


@dataclass
class PassSummary:
    """A pass's shards summed up: how many, the first code of a failed one, times, and per run
    its count, what remains and the manifest of the shards it changed."""

    total: int
    failed: str
    started_at: datetime
    completed_at: datetime
    checked_at: datetime
    runs: dict[int, RunShards]
    # The versions the shards' post-checks read, summed (None for a store that keeps none).
    history: History | None = None

    def shards(self, run_id: int) -> dict[str, str]:
        """The receipt's `shards` member for one run."""
        manifest = self.runs[run_id].manifest
        return bodies.shard_summary(
            total=self.total, changed=len(manifest), manifest=bodies.manifest_digest(manifest)
        )


def pass_summary(*, lead_id: int, members: Iterable[int]) -> PassSummary:
    """Sum up an ended pass (RECEIPTS.md §2): per run, the shards where it erased something,
    each as {key: sha256 of the shard's key, before, after}, sorted by key."""
    runs = {pk: RunShards() for pk in members}
    now = timezone.now()
    total, failed = 0, ""
    started, completed, checked = [], [], []
    rows = ShardRun.objects.filter(run_id=lead_id).values_list(
        "key", "status", "last_error", "op", "counts", "remaining", "before", "after",
        "history", "held", "started_at", "completed_at", "checked_at",
    ).iterator()  # fmt: skip
    histories: list[dict] = []
    for key, status, error, op, counts, remaining, before, after, kept, lock, *times in rows:
        total += 1
        if status == Status.FAILED:
            failed = failed or error or "shard_failed"
            continue
        if kept:
            histories.append(kept)
        started.append(times[0] or now)
        completed.append(times[1] or now)
        checked.append(times[2] or now)
        for pk, left in remaining.items():
            if int(pk) in runs:
                runs[int(pk)].remaining += left
                if lock:
                    runs[int(pk)].hold(lock)
        hashed = "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()
        for pk, count in counts.items():
            summary = runs.get(int(pk))
            if summary is not None and count:
                summary.count += count
                summary.op = op
                entry = bodies.manifest_entry(key=hashed, before=before, after=after)
                summary.manifest.append(entry)
    for summary in runs.values():
        summary.manifest.sort(key=lambda entry: entry["key"])
    return PassSummary(
        total=total,
        failed=failed,
        started_at=min(started, default=now),
        completed_at=max(completed, default=now),
        checked_at=max(checked, default=now),
        runs=runs,
        history=pass_history(histories),
    )


def pass_history(histories: list[dict]) -> History | None:
    """The shards' histories as one: `purged` only if every shard's is, the versions read
    summed, and, where some are retained, the latest date until which one is kept."""
    if not histories:
        return None
    read = sum(int(kept["versions_checked"]) for kept in histories)
    retained = [kept for kept in histories if kept["policy"] != "purged"]
    if not retained:
        return History(policy="purged", versions_checked=read)
    until = max(
        (
            datetime.fromisoformat(kept["retained_until"])
            for kept in retained
            if kept.get("retained_until")
        ),
        default=None,
    )
    return History(policy=retained[0]["policy"], versions_checked=read, retained_until=until)


# --- the sweeper ------------------------------------------------------------------------------


def shards_sweep(*, now: datetime) -> tuple[int, list[int]]:
    """Give back the claims of workers that died holding a shard and enqueue again the shards
    whose task is gone (or, in process, whose retry is due). Returns how many, and the passes
    whose shards have all ended but which were never ended (for `runs.sharded_pass_end`)."""
    before = now - timedelta(seconds=settings.LUP_SWEEP_AFTER_SECONDS)
    stale = ShardRun.objects.filter(run__request__state=State.EXECUTING).filter(
        Q(status=Status.PENDING, enqueued_at__lt=before)
        | Q(status=Status.CLAIMED, claimed_at__lt=before)
        | Q(status=Status.PENDING, retry_at__lte=now)
    )
    count = 0
    for shard in stale.select_related("run__target"):
        if ShardRun.objects.filter(pk=shard.pk, status=shard.status).update(
            status=Status.PENDING, claimed_by="", enqueued_at=now, retry_at=None
        ):
            dispatch.shard_runs_enqueue(shard_ids=[shard.pk], kind=shard.run.target.kind)
            count += 1
    unended = ShardRun.objects.filter(run_id=models.OuterRef("pk")).exclude(status__in=ENDED)
    leads = TargetRun.objects.filter(
        status=TargetRun.Status.SHARDED, shard_pass=models.F("pk"), updated_at__lt=before
    ).filter(~models.Exists(unended))
    return count, list(leads.values_list("pk", flat=True))
