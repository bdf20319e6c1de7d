"""identity sits below consent, lineage, connectors, erasure, reports and portal (DESIGN.md,
Layout): it imports none of them, so any of them may use it."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ABOVE = {"consent", "lineage", "connectors", "erasure", "reports", "portal", "config"}


def test_identity_imports_nothing_above_it():
    found = set()
    for path in (ROOT / "identity").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module]
            else:
                continue
            found |= {(path.name, n) for n in names if n.split(".")[0] in ABOVE}
    assert found == set()
