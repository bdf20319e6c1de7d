"""6. Explainability: for a sample of the period's completed requests, whether the "why" of each
place erased can still be reconstructed: the plan's reasons, and the lineage path from a
dataset version that held the subject to what the target stores."""

from datetime import datetime
from typing import Any

from django.conf import settings

from erasure.models import ErasureRequest, State
from erasure.selectors import erasure_request_lineage
from reports.readiness.links import gap, record

QUESTION = (
    "Can you show, for a completed deletion, why each place was erased and how the person's "
    "data got there?"
)


def _explained(request: ErasureRequest) -> tuple[list[dict[str, Any]], list[str]]:
    """Each plan entry with its reasons and lineage paths, and what is missing."""
    lineage = erasure_request_lineage(request=request)
    entries, problems = [], []
    for entry, versions in lineage.entries:
        paths = [[str(step) for step in lineage.path(pk)] for pk in versions]
        entries.append(
            {"target": entry.target.name, "reasons": list(entry.reasons), "paths": paths}
        )
        if not entry.reasons:
            problems.append(f"{entry.target.name}: no reason recorded")
        elif not entry.target.always and not paths:
            problems.append(f"{entry.target.name}: no lineage path to it")
    if not lineage.entries:
        problems.append("no plan recorded")
    return entries, problems


def explainability_section(*, start: datetime, end: datetime) -> dict[str, Any]:
    completed = ErasureRequest.objects.filter(
        received_at__gte=start,
        received_at__lt=end,
        state__in=[State.COMPLETED, State.PARTIALLY_COMPLETED],
    )
    sample = list(completed.order_by("-closed_at", "pk")[: settings.LUP_READINESS_SAMPLE])
    rows, missing = [], []
    for request in sample:
        entries, problems = _explained(request)
        rows.append(record(request, str(request), explained=not problems, plan=entries))
        missing += [gap("why_missing", problem, request) for problem in problems]
    return {
        "question": QUESTION,
        "figures": {
            "completed": completed.count(),
            "sampled": len(sample),
            "explained": sum(1 for row in rows if row["explained"]),
        },
        "records": rows,
        "missing": missing,
    }
