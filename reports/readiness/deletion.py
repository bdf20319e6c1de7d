"""2. Deletion: how erasure requests of the period fared against their deadlines, which kinds of
place erasure reaches, what failed or is held, and whether the receipt log audits clean."""

import math
import statistics
from collections import defaultdict
from datetime import datetime
from typing import Any

from django.db.models import Q

from erasure.models import ErasureRequest, State, Target, TargetRun
from ledger.models import AuditRun, Receipt
from lineage.models import DatasetVersion, ModelData
from reports.erasure_register import met_deadline
from reports.readiness.links import gap, record

QUESTION = (
    "Are people's deletion requests completed within their deadlines, everywhere their data "
    "went (logs, caches, evaluation sets, databases), with evidence?"
)
# Where each connector kind erases; the checklist asks about these places by name.
KIND_CATEGORY = {
    "text_log": "logs",
    "redis": "caches",
    "django_cache": "caches",
    "jsonl_file": "files",
    "csv_file": "files",
    "parquet_file": "files",
    "s3_objects": "files",
    "delta_table": "files",
    "hf_dataset": "files",
    "lance_table": "files",
    "postgres_table": "databases",
    "sql_table": "databases",
    "sqlite_table": "databases",
    "iceberg_table": "databases",  # a lakehouse table
    "webhook": "services",
    "manual": "by_hand",
}
# Every one must have at least one target, or the report names the gap. Evaluation sets are
# targets holding a dataset version some model was evaluated on, whatever their kind.
REQUIRED_CATEGORIES = ("logs", "caches", "eval_sets", "databases")
CLOSED = (State.COMPLETED, State.PARTIALLY_COMPLETED, State.DENIED, State.FAILED)
DONE = (State.COMPLETED, State.PARTIALLY_COMPLETED)
UNKNOWN = "unknown"


def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile (the smallest value at or above `fraction` of them)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def _days(request: ErasureRequest) -> float:
    return (request.closed_at - request.received_at).total_seconds() / 86400


def deletion_section(*, start: datetime, end: datetime, now: datetime) -> dict[str, Any]:
    requests = list(
        ErasureRequest.objects.filter(received_at__gte=start, received_at__lt=end).order_by(
            "received_at"
        )
    )
    closed = [r for r in requests if r.state in DONE and r.closed_at]
    # As the request register counts them, so the two never disagree.
    late = [r for r in closed if met_deadline(r) == "no"]
    on_time = [r for r in closed if met_deadline(r) != "no"]
    overdue = [
        r for r in requests if r.state not in CLOSED and r.deadline is not None and r.deadline < now
    ]
    days: dict[str, list[float]] = defaultdict(list)
    for request in closed:
        days[request.subject_country or UNKNOWN].append(_days(request))
        days["all"].append(_days(request))

    missing = [gap("request_overdue", "Open past its deadline.", r) for r in overdue]
    missing += [gap("request_closed_late", "Completed after its deadline.", r) for r in late]
    targets, target_gaps = _targets()
    runs = list(
        TargetRun.objects.filter(request__received_at__gte=start, request__received_at__lt=end)
        .filter(Q(status=TargetRun.Status.FAILED) | Q(outcome="held"))
        .select_related("request")
        .order_by("pk")
    )
    failed = [run for run in runs if run.status == TargetRun.Status.FAILED]
    held = [run for run in runs if run.outcome == "held"]
    missing += target_gaps
    missing += [
        gap(
            "target_failed",
            f"Erasure failed ({run.last_error or 'no code'}).",
            run.request,
            f"{run.request} at target {run.target_id}",
        )
        for run in failed
    ]

    audit = AuditRun.objects.order_by("-finished_at", "-pk").first()
    if audit is None or not audit.ok:
        missing.append(
            gap(
                "ledger_audit",
                "The receipt log has no clean audit on record."
                if audit is None
                else "The latest audit of the receipt log failed.",
            )
        )
    receipts = Receipt.objects.filter(issued_at__gte=start, issued_at__lt=end)
    return {
        "question": QUESTION,
        "figures": {
            "received": len(requests),
            "completed": len(closed),
            "completed_within_deadline": len(on_time),
            "completed_after_deadline": len(late),
            "overdue": len(overdue),
            "open": sum(1 for r in requests if r.state not in CLOSED),
            "denied": sum(1 for r in requests if r.state == State.DENIED),
            "days_to_complete": {
                place: {
                    "requests": len(values),
                    "median": round(statistics.median(values), 2),
                    "p95": round(percentile(values, 0.95), 2),
                }
                for place, values in sorted(days.items())
            },
            "targets": targets,
            "failed_targets": len(failed),
            "held_targets": len(held),
            "receipts_issued": {
                kind: receipts.filter(type=kind).count()
                for kind in sorted(set(receipts.values_list("type", flat=True)))
            },
            "latest_ledger_audit": None
            if audit is None
            else {
                "ok": audit.ok,
                "finished_at": audit.finished_at.isoformat(),
                "leaves": audit.leaves,
                "receipts": audit.receipts,
                "problems": audit.problems,
            },
        },
        "records": [
            record(
                r,
                str(r),
                state=r.state,
                received_at=r.received_at.isoformat(),
                deadline=r.deadline.isoformat() if r.deadline else None,
                closed_at=r.closed_at.isoformat() if r.closed_at else None,
            )
            for r in requests
        ]
        + [
            record(run.request, f"{run.request}: held at target {run.target_id}", held=True)
            for run in held
        ],
        "missing": missing,
    }


def _targets() -> tuple[dict[str, int], list[dict]]:
    """Targets by the kind of place they erase, and the places no target reaches."""
    targets = list(Target.objects.prefetch_related("versions").order_by("name"))
    evaluated = set(
        ModelData.objects.filter(kind="evaluated_on").values_list("version_id", flat=True)
    )
    counts = dict.fromkeys(sorted({*KIND_CATEGORY.values(), "eval_sets"}), 0)
    reached: set = set()
    for target in targets:
        counts[KIND_CATEGORY.get(target.kind, "other")] = (
            counts.get(KIND_CATEGORY.get(target.kind, "other"), 0) + 1
        )
        stored = {version.pk for version in target.versions.all()}
        reached |= stored
        if stored & evaluated:
            counts["eval_sets"] += 1
    missing = [
        gap("no_target_of_kind", f"No erasure target reaches {category.replace('_', ' ')}.")
        for category in REQUIRED_CATEGORIES
        if not counts[category]
    ]
    for version in (
        DatasetVersion.objects.filter(pk__in=evaluated - reached)
        .select_related("dataset")
        .order_by("dataset__name", "version")
    ):
        missing.append(
            gap("eval_set_without_target", "An evaluation set no erasure target reaches.", version)
        )
    return counts, missing
