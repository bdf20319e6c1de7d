from __future__ import annotations

import json
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from core.errors import Conflict, NotFound
from erasure.models import (
    CLOSED_STATES,
    AffectedModel,
    ErasureRequest,
    PlanEntry,
    State,
    TargetRun,
)
from erasure.services import erasure_request_opening
from ledger import selectors as ledger_selectors
from ledger import verify
from ledger.keys import signer
from lineage import selectors as lineage_selectors

if TYPE_CHECKING:  # names for type hints only; the rows come through the apps' selectors
    from ledger.models import Receipt
    from lineage.models import DatasetVersion, Membership


def erasure_requests() -> QuerySet[ErasureRequest]:
    return ErasureRequest.objects.prefetch_related("transitions")


def erasure_request_get(*, request_id: uuid.UUID) -> ErasureRequest:
    found = erasure_requests().filter(pk=request_id).first()
    if found is None:
        raise NotFound("No such erasure request.", code="unknown_request")
    return found


def erasure_request_bundle(*, request: ErasureRequest) -> dict[str, Any]:
    """Every receipt of a closed request with proofs against one checkpoint, and the opening of
    the subject commitment (gone once the identifiers are shredded)."""
    if request.closing_receipt_id is None:
        raise Conflict("The request is not closed yet.", code="not_closed")
    ids = [
        *request.runs.exclude(receipt_id=None).values_list("receipt_id", flat=True),
        request.closing_receipt_id,
    ]
    receipts = ledger_selectors.receipts_in_log_order(ids)
    # Closing the request signed a checkpoint that includes every receipt; reads never sign.
    checkpoint = ledger_selectors.checkpoint_covering(receipts[-1].leaf_index)
    if checkpoint is None:
        raise ledger_selectors.CheckpointPending(
            "The receipts are in the log, but no signed checkpoint includes them yet; try again "
            "in a few minutes."
        )
    return ledger_selectors.bundle(
        receipts=receipts,
        checkpoint=checkpoint,
        verifier_key=signer().verifier_key,
        opening=erasure_request_opening(request=request),
        # A sharded target's receipt names its manifest's digest; the holder gets the manifest.
        manifests={
            str(receipt_id): manifest
            for receipt_id, manifest in request.runs.exclude(receipt_id=None)
            .exclude(shard_pass=None)
            .values_list("receipt_id", "manifest")
        },
    )


# The steps a subject sees on their status page, in order.
SUBJECT_STEPS = (State.RECEIVED, State.VERIFIED, State.EXECUTING, State.COMPLETED)


def erasure_request_progress(*, request: ErasureRequest) -> dict[str, Any]:
    """What the subject's status page shows: each step with when it happened, the deadline,
    targets done of planned. No identifiers, no target names, no reasons written by staff."""
    reached = {t.to_state: t.at for t in request.transitions.order_by("at")}
    closed = request.state in CLOSED_STATES
    steps = [{"state": state, "at": reached.get(state)} for state in SUBJECT_STEPS]
    if closed:
        steps[-1] = {"state": request.state, "at": request.closed_at}
    runs = request.runs.all()
    return {
        "state": request.state,
        "closed": closed,
        "awaiting_approval": request.state == State.AWAITING_APPROVAL,
        "received_at": request.received_at,
        "deadline": request.deadline,
        "steps": steps,
        "targets_total": request.plan.count(),
        "targets_done": runs.filter(receipt_id__isnull=False).count(),
        "has_bundle": closed and request.closing_receipt_id is not None,
    }


# --- the compliance officer's request page -------------------------------------------------


@dataclass
class PlanLineage:
    """The lineage behind a request's plan, as it stands now: which versions hold the subject
    (by membership), which versions descend from them on the way to a plan target or an
    affected model, and which membership rows put the subject there."""

    versions: dict[uuid.UUID, DatasetVersion] = field(default_factory=dict)  # all reached
    holding: set[uuid.UUID] = field(default_factory=set)
    # A derived version -> the version it came from, on a shortest path from a holding one.
    parent: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)
    depth: dict[uuid.UUID, int] = field(default_factory=dict)
    memberships: dict[uuid.UUID, list[Membership]] = field(default_factory=dict)
    # Each plan entry with the counted versions its target stores, and each affected model
    # with those it was made from.
    entries: list[tuple[PlanEntry, list[uuid.UUID]]] = field(default_factory=list)
    models: list[tuple[AffectedModel, list[uuid.UUID]]] = field(default_factory=list)

    def path(self, version_id: uuid.UUID) -> list[DatasetVersion]:
        """The versions from one holding the subject down to `version_id`."""
        chain = [version_id]
        while chain[-1] in self.parent:
            chain.append(self.parent[chain[-1]])
        return [self.versions[pk] for pk in reversed(chain)]


def erasure_request_lineage(*, request: ErasureRequest) -> PlanLineage:
    """The lineage paths from the subject's membership rows to each target of the plan and
    each affected model. A query per derivation step, so a plan's picture stays cheap."""
    found = PlanLineage()
    keys = list(request.subject_keys.values_list("key", flat=True))
    for row in lineage_selectors.memberships_of(keys=keys):
        found.memberships.setdefault(row.version_id, []).append(row)
    found.holding = set(found.memberships)
    found.depth, found.parent = lineage_selectors.version_paths(version_ids=found.holding)

    # Every version reached, and those the planner counts: a derived version whose membership
    # was declared without the subject is known not to hold it (lineage.membership).
    found.versions = lineage_selectors.versions_by_id(ids=found.depth)
    counted = {
        pk
        for pk, version in found.versions.items()
        if pk in found.holding or not version.membership_declared
    }

    entries = list(
        request.plan.select_related("target")
        .prefetch_related("target__versions")
        .order_by("target__name")
    )
    found.entries = [
        (entry, sorted(v.pk for v in entry.target.versions.all() if v.pk in counted))
        for entry in entries
    ]
    models = list(
        request.affected_models.select_related("model_version__model").order_by(
            "model_version__model__name", "model_version__version"
        )
    )
    made_from: dict[uuid.UUID, set[uuid.UUID]] = defaultdict(set)
    pairs = lineage_selectors.models_made_from(
        model_version_ids=[model.model_version_id for model in models], version_ids=counted
    )
    for model_id, version_id in pairs:
        made_from[model_id].add(version_id)
    found.models = [(model, sorted(made_from[model.model_version_id])) for model in models]
    return found


def erasure_request_receipts(*, request: ErasureRequest) -> dict[uuid.UUID, Receipt]:
    """The receipts the request holds now: each run's, and its closing receipt."""
    ids = [*request.runs.exclude(receipt_id=None).values_list("receipt_id", flat=True)]
    if request.closing_receipt_id:
        ids.append(request.closing_receipt_id)
    return ledger_selectors.receipts_by_id(ids)


def erasure_request_receipt(*, request: ErasureRequest, receipt_id: uuid.UUID) -> Receipt:
    """One receipt of this request; a receipt of anything else is not found here."""
    found = erasure_request_receipts(request=request).get(receipt_id)
    if found is None:
        raise NotFound("No such receipt for this request.", code="unknown_receipt")
    return found


def receipt_payload(receipt: Receipt) -> dict[str, Any]:
    """What a receipt says, as signed (its JCS payload); it holds no personal data."""
    return json.loads(bytes(receipt.payload))


def receipt_check(*, receipt: Receipt) -> str | None:
    """Verify the server's copy of a receipt as an outsider would (ledger.verify, the key
    pinned to this deployment's signing key): None when it verifies, else the failed check
    and why (one is that no checkpoint includes it yet)."""
    try:
        document = ledger_selectors.receipt_document(receipt)
    except ledger_selectors.CheckpointPending:
        return "no signed checkpoint includes it yet"
    key = verify.parse_verifier_key(signer().verifier_key)
    try:
        verify.verify_receipt(document["envelope"], document["proof"], key)
    except verify.VerificationError as exc:
        return str(exc)
    return None


def target_runs(*, request: ErasureRequest) -> QuerySet[TargetRun]:
    return request.runs.select_related("target").order_by("target__name")


# --- deadlines and counts (the dashboard and the changelist's deadline filter) ------------


# The deadline windows of the dashboard and of the changelist's "deadline" filter. "Today" and
# "this week" count from now (a deadline already past is overdue, not due), to the end of today
# and of the sixth day after it; so "this week" includes today's.
DEADLINE_WINDOWS: dict[str, str] = {
    "today": "Due today",
    "week": "Due this week",
    "overdue": "Overdue",
}
OPEN_STATES = [state for state in State if state not in CLOSED_STATES]


def clock() -> datetime:
    """Now, for the dashboard and the deadline filter alike; tests move it."""
    return timezone.now()


def open_erasure_requests() -> QuerySet[ErasureRequest]:
    return ErasureRequest.objects.exclude(state__in=CLOSED_STATES)


def deadline_window(*, window: str, now: datetime) -> Q:
    """The deadlines in one of DEADLINE_WINDOWS, with days in the current time zone."""
    if window == "overdue":
        return Q(deadline__lt=now)
    start_of_today = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    days = {"today": 1, "week": 7}.get(window)
    if days is None:
        raise ValueError(f"unknown deadline window {window!r}")
    return Q(deadline__gte=now, deadline__lt=start_of_today + timedelta(days=days))


def erasure_requests_due(
    *, window: str, now: datetime, queryset: QuerySet[ErasureRequest] | None = None
) -> QuerySet[ErasureRequest]:
    """Open requests whose deadline falls in `window` (closed ones are never due)."""
    base = queryset if queryset is not None else ErasureRequest.objects.all()
    return base.exclude(state__in=CLOSED_STATES).filter(deadline_window(window=window, now=now))


def erasure_request_counts_by_state() -> dict[str, int]:
    """Open requests per state, every open state present (zero included)."""
    counts = dict(open_erasure_requests().order_by().values_list("state").annotate(n=Count("id")))
    return {state.value: counts.get(state.value, 0) for state in OPEN_STATES}


def target_runs_failed() -> QuerySet[TargetRun]:
    return TargetRun.objects.filter(status=TargetRun.Status.FAILED)


def affected_models_undecided() -> QuerySet[AffectedModel]:
    return AffectedModel.objects.filter(decision=AffectedModel.Decision.PENDING)
