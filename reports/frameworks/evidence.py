"""Deciding a condition on a readiness report: it holds only when the section names none of
its gaps and its required figure is not zero or empty. The report is the only input, so a
framework answer never says more than the report it was made from."""

from dataclasses import dataclass
from typing import Any

from reports.frameworks.catalog import Condition

MISSING = object()


@dataclass(frozen=True)
class Finding:
    """A condition decided: whether it holds, the gaps that break it (as the report lists
    them: code, detail, record) and the figures it quotes."""

    condition: Condition
    holds: bool
    gaps: tuple[dict[str, Any], ...]
    figures: dict[str, Any]
    nothing_on_record: bool


def figure(figures: dict[str, Any], path: str) -> Any:
    """A figure by its dotted path (`consent.share`); MISSING when the report has none."""
    value: Any = figures
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return MISSING
        value = value[part]
    return value


def condition_decide(*, report: dict[str, Any], condition: Condition) -> Finding:
    section = report["sections"][condition.section]
    gaps = tuple(gap for gap in section["missing"] if gap["code"] in condition.gaps)
    figures = {path: figure(section["figures"], path) for path in condition.figures}
    # Every version has provenance when there are no versions at all: true, and proves nothing.
    # Such a condition is not met until there is something on record to meet it.
    empty = False
    if condition.requires:
        required = figure(section["figures"], condition.requires)
        empty = required is MISSING or not required
    return Finding(
        condition=condition,
        holds=not gaps and not empty,
        gaps=gaps,
        figures={k: (None if v is MISSING else v) for k, v in figures.items()},
        nothing_on_record=empty,
    )
