"""The report as the admin page and the printable export show it: figures as labelled rows,
records as a label, a link and a line of details. The JSON stays the source; this only lays
it out."""

import json
from typing import Any

HIDDEN = {"label", "id", "admin_url"}


def _words(name: str) -> str:
    return name.replace("_", " ")


def _text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.1%}" if 0 <= value <= 1 else f"{value:g}"
    if isinstance(value, list):
        return ", ".join(_text(item) for item in value) if value else "none"
    if isinstance(value, dict):
        return "; ".join(f"{_words(str(k))}: {_text(v)}" for k, v in value.items()) or "none"
    return str(value)


def figure_rows(figures: dict[str, Any], depth: int = 0) -> list[dict[str, Any]]:
    """One row per figure; a figure made of figures (consent by purpose, targets by place) is
    a heading with its parts indented below it, two levels deep at most."""
    rows = []
    for name, value in figures.items():
        label = _words(name) if depth == 0 else str(name)
        if isinstance(value, dict) and value and depth < 2:
            rows.append({"name": label, "value": "", "heading": True, "depth": depth})
            rows += figure_rows(value, depth + 1)
        else:
            rows.append({"name": label, "value": _text(value), "depth": depth})
    return rows


def _shown(key: str, value: Any) -> bool:
    """Details worth a line: not the link fields, nor nested records (they have rows of their
    own in the JSON)."""
    if key in HIDDEN or key in ("from", "to") or (isinstance(value, dict) and key != "rule"):
        return False
    return not (isinstance(value, list) and value and isinstance(value[0], dict | list))


def _detail(key: str, value: Any) -> str:
    if key == "rule" and isinstance(value, dict):
        value = f"{value.get('country')}: {value.get('mechanism')}"
    return f"{_words(key)}: {_text(value)}"


def record_rows(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "label": item.get("label") or _flow_label(item),
            "url": item.get("admin_url"),
            "details": "; ".join(_detail(k, v) for k, v in item.items() if _shown(k, v)),
        }
        for item in records
    ]


def _flow_label(flow: dict[str, Any]) -> str:
    if "from" in flow and "to" in flow:
        return (
            f"{flow['from']['dataset']} @ {flow['from']['version']} "
            f"({flow['from']['country']}) → {flow['to']['dataset']} @ "
            f"{flow['to']['version']} ({flow['to']['country']})"
        )
    return json.dumps(flow, sort_keys=True)[:200]


def report_display(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The sections in order, each ready for the templates."""
    return [
        {
            "name": name,
            "title": section["title"],
            "question": section["question"],
            "figures": figure_rows(section["figures"]),
            "missing": section["missing"],
            "gap_count": report["gaps"][name],
            "records": record_rows(section["records"]),
            "omitted": section.get("omitted", {}),
        }
        for name, section in report["sections"].items()
    ]
