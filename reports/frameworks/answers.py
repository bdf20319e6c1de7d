"""A framework's items answered from a readiness report, and AI Verify's import file.

Honesty rules: an item is "Yes" only when every condition it rests on holds on the report's
records; otherwise "No", naming each gap found (or that nothing is on record). Items marked
`operator` are never answered: the AI Verify export leaves them out, for the operator to answer
in AI Verify, and the framework view lists them apart. No answer names a person: records appear
by their report label and admin link, as in the report.
"""

from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from core.errors import NotFound
from reports.frameworks.catalog import AIVERIFY, AIVERIFY_PRINCIPLES, Framework, Item, catalog
from reports.frameworks.evidence import Finding, condition_decide

YES, NO, NOT_APPLICABLE = "Yes", "No", "Not Applicable"
# An answer names this many gaps of a condition and counts the rest; the report has them all.
GAPS_NAMED = 5


def framework_get(*, slug: str) -> Framework:
    try:
        return catalog().frameworks[slug]
    except KeyError:
        raise NotFound(
            f"No such framework; known: {', '.join(sorted(catalog().frameworks))}.",
            code="unknown_framework",
        ) from None


def _days(report: dict[str, Any]) -> tuple[date, date]:
    """The report's period as the days a person would type: the last day is included."""
    start = timezone.localtime(datetime.fromisoformat(report["period"]["start"])).date()
    end = datetime.fromisoformat(report["period"]["end"]) - timedelta(microseconds=1)
    return start, timezone.localtime(end).date()


def section_links(report: dict[str, Any], section: str) -> dict[str, str]:
    """Where the section's records are: the admin report and the API, for the same period."""
    start, end = _days(report)
    query = urlencode({"start": start.isoformat(), "end": end.isoformat()})
    return {
        "admin": f"{reverse('admin:readiness')}?{query}#section-{section}",
        "api": f"{reverse('reports:readiness')}?{query}",
    }


def _value(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.1%}" if 0 <= value <= 1 else f"{value:g}"
    if isinstance(value, list):
        return ", ".join(map(_value, value)) or "none"
    if isinstance(value, dict):
        return ", ".join(f"{k.replace('_', ' ')} {_value(v)}" for k, v in value.items()) or "none"
    return str(value)


def _absolute(url: str) -> str:
    """An elaboration is read inside AI Verify or a client's files, away from Lup: its links
    carry the public address (`LUP_PUBLIC_URL`)."""
    return f"{settings.LUP_PUBLIC_URL.rstrip('/')}{url}" if url.startswith("/") else url


def _sentence(text: str) -> str:
    return text.strip().rstrip(".")


def _figures(finding: Finding) -> str:
    return "; ".join(
        f"{path.replace('_', ' ').replace('.', ' ')}: {_value(value)}"
        for path, value in finding.figures.items()
    )


def _gap_text(gap: dict[str, Any]) -> str:
    record = gap.get("record") or {}
    where = record.get("admin_url")
    label = record.get("label")
    about = f" [{label}{': ' + _absolute(where) if where else ''}]" if label else ""
    return f"{gap['code']}: {_sentence(gap['detail'])}{about}"


def _finding_text(finding: Finding) -> str:
    says = _sentence(finding.condition.says)
    if finding.holds:
        return f"Holds: {says} ({_figures(finding)})."
    if finding.nothing_on_record and not finding.gaps:
        required = finding.condition.requires or ""
        return (
            f"Not shown, nothing on record ({required.replace('_', ' ')} is none): {says} "
            f"({_figures(finding)})."
        )
    named = "; ".join(_gap_text(gap) for gap in finding.gaps[:GAPS_NAMED])
    more = len(finding.gaps) - GAPS_NAMED
    extra = f"; and {more} more in the report" if more > 0 else ""
    return f"Not met: {says} ({_figures(finding)}). Gaps: {named}{extra}."


def _finding_dict(finding: Finding) -> dict[str, Any]:
    return {
        "condition": finding.condition.key,
        "says": finding.condition.says,
        "holds": finding.holds,
        "nothing_on_record": finding.nothing_on_record,
        "figures": finding.figures,
        "gaps": [
            {
                "code": gap["code"],
                "detail": gap["detail"],
                "record": None
                if not gap.get("record")
                else {"label": gap["record"]["label"], "admin_url": gap["record"]["admin_url"]},
            }
            for gap in finding.gaps
        ],
    }


def item_answer(*, report: dict[str, Any], item: Item) -> dict[str, Any]:
    """An evidence item decided on `report`: Yes only when all its conditions hold."""
    conditions = catalog().conditions
    findings = [condition_decide(report=report, condition=conditions[k]) for k in item.evidence]
    answer = YES if all(f.holds for f in findings) else NO
    start, end = _days(report)
    links = section_links(report, item.section or findings[0].condition.section)
    sections = sorted({f.condition.section for f in findings} - {item.section})
    elaboration = " ".join(
        [f"{answer}, on Lup's records for {start} to {end}."]
        + [_finding_text(f) for f in findings]
        + ([item.note] if item.note else [])
        + [f"Records: {_absolute(links['admin'])} (API: {_absolute(links['api'])})."]
        + [
            f"See also {name.replace('_', ' ')}: {_absolute(section_links(report, name)['admin'])}."
            for name in sections
        ]
    )
    return {
        "id": item.id,
        "title": item.title,
        "group": item.group,
        "answer": answer,
        "section": item.section,
        "conditions": [_finding_dict(f) for f in findings],
        "elaboration": elaboration,
        "links": links,
    }


def _operator_item(item: Item) -> dict[str, Any]:
    return {"id": item.id, "title": item.title, "group": item.group, "section": item.section}


def framework_answers(*, report: dict[str, Any], framework: Framework) -> dict[str, Any]:
    """Every item of `framework`: the ones Lup decides, answered, and the operator's apart."""
    answers = [
        item_answer(report=report, item=item) for item in framework.items if not item.operator
    ]
    return {
        "format": "lup-framework/1",
        "framework": framework.slug,
        "title": framework.title,
        "edition": framework.edition,
        "sources": [{"title": s.title, "url": s.url} for s in framework.sources],
        "operator": report["operator"],
        "markets": report["markets"],
        "period": report["period"],
        "generated_at": report["generated_at"],
        "summary": {
            "yes": sum(1 for a in answers if a["answer"] == YES),
            "no": sum(1 for a in answers if a["answer"] == NO),
            "operators_to_answer": sum(1 for item in framework.items if item.operator),
        },
        "answers": answers,
        "operators_to_answer": [_operator_item(i) for i in framework.items if i.operator],
    }


def _summary(answers: list[dict[str, Any]], total: int, start: date, end: date) -> str:
    no = [a["id"] for a in answers if a["answer"] == NO]
    told = f"{len(answers)} of this principle's {total} checks"
    verdict = f"{len(answers) - len(no)} Yes, {len(no)} No" + (f" ({', '.join(no)})" if no else "")
    return (
        f"Lup answered {told} from its records for {start} to {end}: {verdict}. The other "
        f"{total - len(answers)} are the operator's to answer."
    )


def aiverify_import(*, report: dict[str, Any]) -> dict[str, Any]:
    """AI Verify's process-checklist import file: one sheet per principle Lup answers any check
    of, named as the plugin names it, with a row per check Lup decides. Checks outside Lup's
    reach are left out, so an import never overwrites the operator's own answer to them."""
    framework = catalog().frameworks[AIVERIFY]
    start, end = _days(report)
    sheets = []
    for principle in AIVERIFY_PRINCIPLES:
        items = [item for item in framework.items if item.group == principle]
        answers = [item_answer(report=report, item=i) for i in items if not i.operator]
        if not answers:
            continue
        sheets.append(
            {
                "name": principle,
                "summaryJustification": _summary(answers, len(items), start, end),
                "rows": [
                    {"pid": a["id"], "completed": a["answer"], "elaboration": a["elaboration"]}
                    for a in answers
                ],
            }
        )
    return {"sheets": sheets}


def aiverify_document(*, report: dict[str, Any]) -> dict[str, Any]:
    """The import file with the report's period and markets, as a signed document carries it;
    the plugin reads `sheets` and ignores the rest, so the document imports as it is."""
    return {
        "format": "lup-aiverify/1",
        "framework": AIVERIFY,
        "operator": report["operator"],
        "markets": report["markets"],
        "period": report["period"],
        "generated_at": report["generated_at"],
        **aiverify_import(report=report),
    }
