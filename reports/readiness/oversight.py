"""5. Oversight: which erasure actions run without a human and which wait for one (the policy
as configured), the approvals and refusals people gave, and the decisions recorded about
models trained or evaluated on the data of people who asked to be erased."""

from datetime import datetime
from typing import Any

from django.conf import settings

from erasure.models import AffectedModel, ErasureRequest, State, Target, Transition
from reports.readiness.links import gap, record

QUESTION = "Where does a person decide, rather than the system, and are those decisions recorded?"


def policy() -> dict[str, Any]:
    """The approval gate as `erasure.gate.approval_reasons` applies it, in words."""
    return {
        "automatic": (
            "A verified request starts at once when no target of its plan requires approval, "
            f"it has at most {settings.LUP_APPROVAL_MAX_TARGETS} targets and no model was "
            "trained or evaluated on the subject's data."
        ),
        "approval_required_when": [
            "a target of the plan requires approval",
            f"the plan has more than {settings.LUP_APPROVAL_MAX_TARGETS} targets",
            "models were trained or evaluated on the subject's data",
        ],
        "by_hand": "Manual targets are erased by a person, who attests it in the admin.",
    }


def oversight_section(*, start: datetime, end: datetime) -> dict[str, Any]:
    targets = list(Target.objects.order_by("name"))
    decided = list(
        Transition.objects.filter(from_state=State.AWAITING_APPROVAL, at__gte=start, at__lt=end)
        .select_related("request")
        .order_by("at", "pk")
    )
    waiting = ErasureRequest.objects.filter(state=State.AWAITING_APPROVAL).count()
    models = list(
        AffectedModel.objects.filter(request__received_at__gte=start, request__received_at__lt=end)
        .select_related("model_version__model", "request")
        .order_by("pk")
    )
    decisions = {choice: 0 for choice in AffectedModel.Decision.values}
    for model in models:
        decisions[model.decision] += 1
    missing = [
        gap(
            "model_decision_pending",
            f"No decision yet on {model.model_version} for this request.",
            model.request,
        )
        for model in models
        if model.decision == AffectedModel.Decision.PENDING
    ]
    return {
        "question": QUESTION,
        "figures": {
            "policy": policy(),
            "targets_automatic": [
                t.name for t in targets if not t.requires_approval and t.kind != "manual"
            ],
            "targets_requiring_approval": [t.name for t in targets if t.requires_approval],
            "targets_by_hand": [t.name for t in targets if t.kind == "manual"],
            "approved": sum(1 for t in decided if t.to_state == State.EXECUTING),
            "denied": sum(1 for t in decided if t.to_state == State.DENIED),
            "awaiting_approval_now": waiting,
            "model_decisions": decisions,
        },
        "records": [
            record(
                t.request,
                str(t.request),
                decision="approved" if t.to_state == State.EXECUTING else "denied",
                by=t.actor,
                at=t.at.isoformat(),
            )
            for t in decided
        ]
        + [
            record(
                m.request,
                f"{m.request}: {m.model_version}",
                model_decision=m.decision,
                by=m.decided_by or None,
                at=m.decided_at.isoformat() if m.decided_at else None,
            )
            for m in models
            if m.decision != AffectedModel.Decision.PENDING
        ],
        "missing": missing,
    }
