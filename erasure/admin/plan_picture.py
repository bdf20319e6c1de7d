"""A request's plan as SVG: the dataset versions holding the subject on the left, the versions
derived from them in the middle, and the targets the plan touches (and the affected models) on
the right, each arrow one lineage step.

Drawn like `lineage.picture` (plain SVG, columns, no layout engine), so it is the same from one
page load to the next; every label is escaped, so the SVG is safe to put inline in a page.
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from erasure.selectors import PlanLineage
from lineage.picture import BOX_H, BOX_W, COLOURS, GAP_X, GAP_Y, MARGIN, STROKES

FILL = {**COLOURS, "target": "#fbe9ef"}
STROKE = {**STROKES, "target": "#b03a5b"}
LABEL_CHARS = 30


@dataclass(frozen=True)
class Node:
    key: str
    column: int
    kind: str  # dataset, target or model: the colour
    caption: str  # the small line above the label
    label: str
    href: str | None = None


# Where a box links to: (kind, the object's id) -> an admin URL, or None for no link.
Linker = Callable[[str, object], str | None]


def _short(text: str) -> str:
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"


def plan_nodes(
    lineage: PlanLineage, *, link: Linker, entry_id: int | None = None
) -> tuple[list[Node], list[tuple[str, str]]]:
    """The boxes and arrows of the plan, or of one plan entry's part of it (`entry_id`)."""
    entries = [(e, ends) for e, ends in lineage.entries if entry_id in (None, e.pk)]
    models = lineage.models if entry_id is None else []
    wanted: set[uuid.UUID] = set()
    for ends in [ends for _, ends in entries] + [ends for _, ends in models]:
        for end in ends:
            wanted.update(v.pk for v in lineage.path(end))
    last = max((lineage.depth[pk] for pk in wanted), default=-1) + 1

    nodes: list[Node] = []
    edges: list[tuple[str, str]] = []
    for pk in sorted(wanted, key=lambda pk: str(lineage.versions[pk])):
        version = lineage.versions[pk]
        holds = pk in lineage.holding
        nodes.append(
            Node(
                key=f"v:{pk}",
                column=lineage.depth[pk],
                kind="dataset",
                caption="dataset version · holds the subject" if holds else "derived version",
                label=f"{version.dataset.name} @ {version.version}",
                href=link("version", pk),
            )
        )
        if pk in lineage.parent:
            edges.append((f"v:{lineage.parent[pk]}", f"v:{pk}"))
    for entry, ends in entries:
        caption = f"target · {entry.target.kind} · {entry.target.operation}" + (
            "" if ends else " · always"
        )
        nodes.append(
            Node(
                key=f"t:{entry.pk}",
                column=last,
                kind="target",
                caption=caption,
                label=entry.target.name,
                href=link("entry", entry.pk),
            )
        )
        edges += [(f"v:{end}", f"t:{entry.pk}") for end in ends]
    for model, ends in models:
        nodes.append(
            Node(
                key=f"m:{model.model_version_id}",
                column=last,
                kind="model",
                caption=f"model · {model.decision}",
                label=str(model.model_version),
                href=link("model", model.model_version_id),
            )
        )
        edges += [(f"v:{end}", f"m:{model.model_version_id}") for end in ends]
    return nodes, edges


def plan_svg(lineage: PlanLineage, *, link: Linker, entry_id: int | None = None) -> str:
    nodes, edges = plan_nodes(lineage, link=link, entry_id=entry_id)
    if not nodes:
        return ""
    columns = sorted({node.column for node in nodes})
    rows: dict[int, int] = {}
    position: dict[str, tuple[int, int]] = {}
    for node in nodes:  # in order: versions by name, then targets, then models
        x_index, y_index = columns.index(node.column), rows.get(node.column, 0)
        rows[node.column] = y_index + 1
        position[node.key] = (
            MARGIN + x_index * (BOX_W + GAP_X),
            MARGIN + y_index * (BOX_H + GAP_Y),
        )
    width = MARGIN * 2 + len(columns) * BOX_W + (len(columns) - 1) * GAP_X
    height = MARGIN * 2 + max(rows.values()) * BOX_H + (max(rows.values()) - 1) * GAP_Y

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="Noto Sans, sans-serif" font-size="12" '
        'role="img" aria-label="The plan: where the subject is and what it reached">',
        '<defs><marker id="plan-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" '
        'markerHeight="8" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker>'
        "</defs>",
    ]
    for source, target in edges:
        (x1, y1), (x2, y2) = position[source], position[target]
        parts.append(
            f'<line x1="{x1 + BOX_W}" y1="{y1 + BOX_H // 2}" x2="{x2}" y2="{y2 + BOX_H // 2}" '
            'stroke="#555" stroke-width="1.2" marker-end="url(#plan-arrow)"/>'
        )
    for node in nodes:
        x, y = position[node.key]
        box = (
            f"<title>{escape(node.label)}</title>"
            f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="6" '
            f'fill="{FILL[node.kind]}" stroke="{STROKE[node.kind]}"/>'
            f'<text x="{x + 10}" y="{y + 17}" fill="#555" font-size="10">'
            f"{escape(node.caption)}</text>"
            f'<text x="{x + 10}" y="{y + 34}" fill="#111">{escape(_short(node.label))}</text>'
        )
        parts.append(f"<a href={quoteattr(node.href)}>{box}</a>" if node.href else f"<g>{box}</g>")
    parts.append("</svg>")
    return "\n".join(parts)
