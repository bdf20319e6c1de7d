"""A picture of a node's neighbourhood as SVG: upstream to the left, downstream to the right.

Plain SVG with no layout engine: columns are distances from the node, which is enough for the
admin and the README, and keeps the picture identical from run to run.
"""

from xml.sax.saxutils import escape

from lineage.models import Edge
from lineage.selectors import downstream, node_names, node_object, upstream

BOX_W, BOX_H, GAP_X, GAP_Y, MARGIN = 220, 44, 80, 18, 20
COLOURS = {"dataset": "#e8f1fb", "job": "#fdf3e1", "model": "#eaf7ea"}
STROKES = {"dataset": "#3b73b9", "job": "#c98a16", "model": "#3c8d40"}


def _label(node: str, names: dict[str, str]) -> tuple[str, str]:
    return node.partition(":")[0], names.get(node, node)


def neighbourhood_svg(*, node_id: str, depth: int = 2) -> str:
    node_id = node_object(node_id).node_id  # an alias names its dataset
    column: dict[str, int] = {}
    for node, distance in upstream(node_id=node_id, depth=depth).items():
        column[node] = -distance
    for node, distance in downstream(node_id=node_id, depth=depth).items():
        column.setdefault(node, distance)
    columns = sorted(set(column.values()))
    by_column: dict[int, list[str]] = {
        c: sorted(n for n in column if column[n] == c) for c in columns
    }
    position: dict[str, tuple[int, int]] = {}
    for x_index, c in enumerate(columns):
        for y_index, node in enumerate(by_column[c]):
            position[node] = (
                MARGIN + x_index * (BOX_W + GAP_X),
                MARGIN + y_index * (BOX_H + GAP_Y),
            )
    width = MARGIN * 2 + len(columns) * BOX_W + (len(columns) - 1) * GAP_X
    rows = max(len(nodes) for nodes in by_column.values())
    height = MARGIN * 2 + rows * BOX_H + (rows - 1) * GAP_Y

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="Noto Sans, sans-serif" font-size="12">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" '
        'markerHeight="8" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker>'
        "</defs>",
        f"<title>{escape(node_id)}</title>",
    ]
    edges = Edge.objects.filter(source__in=position, target__in=position)
    for source, target in edges.values_list("source", "target"):
        (x1, y1), (x2, y2) = position[source], position[target]
        parts.append(
            f'<line x1="{x1 + BOX_W}" y1="{y1 + BOX_H // 2}" x2="{x2}" y2="{y2 + BOX_H // 2}" '
            'stroke="#555" stroke-width="1.2" marker-end="url(#arrow)"/>'
        )
    names = node_names(node_ids=position)
    for node, (x, y) in sorted(position.items()):
        kind, name = _label(node, names)
        short = name if len(name) <= 30 else name[:29] + "…"
        weight = ' stroke-width="3"' if node == node_id else ""
        parts.append(
            f"<g><title>{escape(node)}</title>"
            f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="6" '
            f'fill="{COLOURS[kind]}" stroke="{STROKES[kind]}"{weight}/>'
            f'<text x="{x + 10}" y="{y + 17}" fill="#555" font-size="10">{kind}</text>'
            f'<text x="{x + 10}" y="{y + 34}" fill="#111">{escape(short)}</text></g>'
        )
    parts.append("</svg>")
    return "\n".join(parts)
