"""The report: every section for the served markets and a period, and its signed form."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from core.days import day_start
from core.errors import ApplicationError
from ledger.services import document_sign
from reports.readiness.data import data_section
from reports.readiness.deletion import deletion_section
from reports.readiness.evaluations import evaluations_section
from reports.readiness.explainability import explainability_section
from reports.readiness.oversight import oversight_section
from reports.readiness.rules import rules_section
from reports.readiness.transfers import transfers_section

# Newest first would put a reader's eye on the figures; the checklist's order is the one a
# procurement questionnaire asks in.
SECTION_TITLES = {
    "data": "Data",
    "deletion": "Deletion",
    "cross_border": "Cross-border transfers",
    "evaluations": "Evaluations in the users' languages",
    "oversight": "Human oversight",
    "explainability": "Explainability",
    "strictest_market": "Strictest market",
}
MAX_PERIOD_DAYS = 3660


@dataclass(frozen=True)
class Period:
    """Requests received, and receipts issued, from `start` (inclusive) to `end` (exclusive)."""

    start: datetime
    end: datetime

    @classmethod
    def of_dates(cls, *, start: date | None, end: date | None, now: datetime) -> "Period":
        """Whole days in the server's time zone: `end` is the last day included. Without
        dates, the `LUP_READINESS_PERIOD_DAYS` up to now."""
        finish = day_start(end + timedelta(days=1)) if end else now
        begin = (
            day_start(start)
            if start
            else finish - timedelta(days=settings.LUP_READINESS_PERIOD_DAYS)
        )
        if begin >= finish:
            raise ApplicationError(
                "The period's start is after its end.",
                code="invalid_period",
                fields={"start": "invalid_period"},
            )
        if finish - begin > timedelta(days=MAX_PERIOD_DAYS):
            raise ApplicationError(
                "A report covers at most ten years.",
                code="invalid_period",
                fields={"start": "invalid_period"},
            )
        return cls(start=begin, end=finish)


def readiness_report(
    *, period: Period, markets: list[str] | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """The report as a JSON-ready dict: for each section its question, figures, records (with
    admin links) and what is missing. No personal data: records are named by their ids and
    dataset, model and target names; staff appear by their actor name where they decided."""
    now = now or timezone.now()
    markets = list(markets if markets is not None else settings.LUP_MARKETS)
    sections = {
        "data": data_section(),
        "deletion": deletion_section(start=period.start, end=period.end, now=now),
        "cross_border": transfers_section(),
        "evaluations": evaluations_section(markets=markets),
        "oversight": oversight_section(start=period.start, end=period.end),
        "explainability": explainability_section(start=period.start, end=period.end),
        "strictest_market": rules_section(markets=markets),
    }
    gaps = {name: len(section["missing"]) for name, section in sections.items()}
    for name, section in sections.items():
        section["title"] = SECTION_TITLES[name]
        _bound(section, settings.LUP_READINESS_MAX_RECORDS)
    return {
        "format": "lup-readiness/1",
        "operator": settings.LUP_OPERATOR_NAME,
        "markets": markets,
        "period": {"start": period.start.isoformat(), "end": period.end.isoformat()},
        "generated_at": now.isoformat(),
        "gaps": gaps,
        "sections": sections,
    }


def _bound(section: dict[str, Any], limit: int) -> None:
    """At most `limit` records and gaps per section, so ten thousand datasets make a report a
    reader (and a browser) can open. Every kind of gap keeps at least one example, so no code
    disappears from what a framework answer is decided on; `omitted` says how many were left
    out, and the `gaps` figures count them all."""
    records, missing = section["records"], section["missing"]
    kept = missing[:limit]
    codes = {gap["code"] for gap in kept}
    for gap in missing[limit:]:
        if gap["code"] not in codes:
            codes.add(gap["code"])
            kept.append(gap)
    section["records"] = records[:limit]
    section["missing"] = kept
    section["omitted"] = {
        "records": len(records) - len(section["records"]),
        "missing": len(missing) - len(kept),
    }


def readiness_report_signed(*, report: dict[str, Any]) -> dict[str, str]:
    """The report as a signed document (RECEIPTS.md envelope, `type: "report"`), which
    `python -m ledger.verify report FILE --key KEY` checks."""
    return document_sign(type="report", body={"report": report})
