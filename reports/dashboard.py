"""The compliance dashboard on the admin index: what needs attention, each count a link to the
admin changelist that lists exactly those rows.

`dashboard` is what `LUP_ADMIN_DASHBOARD` names; the other functions are its queries. A count
is shown only to staff who may view the model it counts.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.http import urlencode

from consent.models import Status as ConsentStatus
from consent.selectors import consent_withdrawals_since
from erasure import selectors as erasure_selectors
from erasure.models import AffectedModel, State, TargetRun
from erasure.selectors import (
    DEADLINE_WINDOWS,
    affected_models_undecided,
    erasure_request_counts_by_state,
    erasure_requests_due,
    target_runs_failed,
)
from ledger import selectors as ledger_selectors
from ledger.models import AuditRun, Checkpoint

WITHDRAWALS_DAYS = 7


@dataclass(frozen=True)
class Tile:
    label: str
    count: int
    url: str
    css_class: str = ""


@dataclass(frozen=True)
class Section:
    title: str
    tiles: list[Tile] = field(default_factory=list)


@dataclass(frozen=True)
class Dashboard:
    sections: list[Section]
    checkpoint: Checkpoint | None = None
    checkpoint_url: str = ""
    audit: AuditRun | None = None
    audit_url: str = ""
    registers_url: str = ""
    readiness_url: str = ""
    show_ledger: bool = False


def _changelist(request: HttpRequest, model: str, params: Mapping[str, Any] | None = None) -> str:
    app_label, model_name = model.split(".")
    url = reverse(
        f"admin:{app_label}_{model_name}_changelist",
        current_app=getattr(request, "current_app", None),
    )
    return f"{url}?{urlencode(params)}" if params else url


def _can_view(request: HttpRequest, model: str) -> bool:
    app_label, model_name = model.split(".")
    return request.user.has_perm(f"{app_label}.view_{model_name}")


def dashboard(*, request: HttpRequest, now: datetime | None = None) -> Dashboard:
    """The counts this staff member may see, at `now` (the clock's, by default)."""
    now = now or erasure_selectors.clock()
    sections: list[Section] = []
    attention: list[Tile] = []
    requests_model = "erasure.erasurerequest"
    if _can_view(request, requests_model):
        by_state = erasure_request_counts_by_state()
        sections.append(
            Section(
                "Open erasure requests by state",
                [
                    Tile(
                        State(state).label,
                        count,
                        _changelist(request, requests_model, {"state__exact": state}),
                    )
                    for state, count in by_state.items()
                ],
            )
        )
        sections.append(
            Section(
                "Deadlines of open requests",
                [
                    Tile(
                        label,
                        erasure_requests_due(window=window, now=now).count(),
                        _changelist(request, requests_model, {"deadline": window}),
                        "overdue" if window == "overdue" else "",
                    )
                    for window, label in DEADLINE_WINDOWS.items()
                ],
            )
        )
        attention.append(
            Tile(
                "Awaiting approval",
                by_state[State.AWAITING_APPROVAL],
                _changelist(request, requests_model, {"state__exact": State.AWAITING_APPROVAL}),
            )
        )
    if _can_view(request, "erasure.targetrun"):
        attention.append(
            Tile(
                "Failed target runs",
                target_runs_failed().count(),
                _changelist(
                    request, "erasure.targetrun", {"status__exact": TargetRun.Status.FAILED}
                ),
            )
        )
    if _can_view(request, "erasure.affectedmodel"):
        attention.append(
            Tile(
                "Affected models awaiting a decision",
                affected_models_undecided().count(),
                _changelist(
                    request,
                    "erasure.affectedmodel",
                    {"decision__exact": AffectedModel.Decision.PENDING},
                ),
            )
        )
    if _can_view(request, "consent.consentevent"):
        since = now - timedelta(days=WITHDRAWALS_DAYS)
        attention.append(
            Tile(
                f"Consent withdrawals in the last {WITHDRAWALS_DAYS} days",
                consent_withdrawals_since(since=since).count(),
                _changelist(
                    request,
                    "consent.consentevent",
                    {
                        "status__exact": ConsentStatus.WITHDRAWN,
                        "recorded_at__gte": since.isoformat(),
                    },
                ),
            )
        )
    if attention:
        sections.append(Section("Needs attention", attention))

    can_view_checkpoints = _can_view(request, "ledger.checkpoint")
    can_view_audits = _can_view(request, "ledger.auditrun")
    return Dashboard(
        sections=sections,
        show_ledger=can_view_checkpoints or can_view_audits,
        checkpoint=ledger_selectors.latest_checkpoint() if can_view_checkpoints else None,
        checkpoint_url=_changelist(request, "ledger.checkpoint") if can_view_checkpoints else "",
        audit=ledger_selectors.latest_audit_run() if can_view_audits else None,
        audit_url=_changelist(request, "ledger.auditrun") if can_view_audits else "",
        registers_url=_registers_url(request),
        readiness_url=_page_url(request, "readiness")
        if _can_view(request, "erasure.erasurerequest")
        else "",
    )


def _registers_url(request: HttpRequest) -> str:
    if not (
        _can_view(request, "erasure.erasurerequest") or _can_view(request, "consent.consentevent")
    ):
        return ""
    return _page_url(request, "registers")


def _page_url(request: HttpRequest, name: str) -> str:
    try:
        return reverse(f"admin:{name}", current_app=getattr(request, "current_app", None))
    except NoReverseMatch:  # the page is not among LUP_ADMIN_URLS
        return ""
