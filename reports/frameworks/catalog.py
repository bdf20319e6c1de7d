"""The frameworks and the evidence conditions, read from `reports/frameworks/data/*.yaml`
(schema: data/README.md).

The files are loaded and validated once per process. A malformed file is a startup error
(system checks lup.E080…, naming the file and the field), never a half-read mapping at
request time.
"""

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import yaml

from reports.readiness.report import SECTION_TITLES

DATA_DIR = Path(__file__).resolve().parent / "data"
EVIDENCE_FILE = "evidence.yaml"
AIVERIFY = "aiverify"

# The principle names AI Verify's process-checklist plugin matches sheet names against
# (importUtils.js, `checklistMapping`); a sheet named otherwise is skipped by its import.
AIVERIFY_PRINCIPLES = (
    "Transparency",
    "Explainability",
    "Reproducibility",
    "Safety",
    "Security",
    "Robustness",
    "Fairness",
    "Data Governance",
    "Accountability",
    "Human Agency Oversight",
    "Inclusive Growth",
    "Organisational Considerations",
)
# The plugin's own pid rule (importUtils.js, `isValidPid`): rows with another id are dropped.
PID = re.compile(r"^\d+(\.\d+)+$")
ITEM_ID = re.compile(r"^[a-z0-9][a-z0-9.-]*$")
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")

# The gap codes each readiness section can report (reports/readiness/*.py). A condition naming
# another code would never see it and would answer "Yes" forever; the loader refuses it.
SECTION_GAPS: dict[str, frozenset[str]] = {
    "data": frozenset(
        {"no_provenance", "no_location", "no_purpose", "no_membership_index"}
        | {"purpose_without_consent"}
    ),
    "deletion": frozenset(
        {"request_overdue", "request_closed_late", "no_target_of_kind"}
        | {"eval_set_without_target", "target_failed", "ledger_audit"}
    ),
    "cross_border": frozenset({"transfer_without_basis"}),
    "evaluations": frozenset(
        {"eval_language_gap", "market_languages_unknown", "eval_set_without_languages"}
    ),
    "oversight": frozenset({"model_decision_pending"}),
    "explainability": frozenset({"why_missing"}),
    "strictest_market": frozenset({"market_without_rules", "rule_unconfirmed"}),
}
assert set(SECTION_GAPS) == set(SECTION_TITLES)


class CatalogError(ValueError):
    """A data file that does not follow the schema: the file, the field and the check id
    (lup.E080 malformed, lup.E081 a reference to something unknown, lup.E082 a group or id
    AI Verify's import would not accept)."""

    def __init__(self, file: str, field: str, message: str, check: str = "lup.E080"):
        super().__init__(f"{file}: {field}: {message}")
        self.file = file
        self.field = field
        self.message = message
        self.check = check


@dataclass(frozen=True)
class Condition:
    """Something Lup decides from one readiness section: it holds when none of `gaps` is
    reported there and the `requires` figure is not zero or empty."""

    key: str
    section: str
    says: str
    gaps: tuple[str, ...]
    figures: tuple[str, ...]
    requires: str | None


@dataclass(frozen=True)
class Source:
    title: str
    url: str


@dataclass(frozen=True)
class Item:
    """One check, principle claim or dimension claim of a framework. Either `evidence` names
    the conditions that decide it, or `operator` is true: Lup never answers it."""

    id: str
    title: str
    group: str
    evidence: tuple[str, ...]
    operator: bool
    section: str | None
    note: str


@dataclass(frozen=True)
class Framework:
    slug: str
    title: str
    edition: str
    sources: tuple[Source, ...]
    groups: tuple[str, ...]
    items: tuple[Item, ...]


@dataclass(frozen=True)
class Catalog:
    conditions: dict[str, Condition]
    frameworks: dict[str, Framework]


class _Reader:
    """Field access that names the file and the field in every refusal."""

    def __init__(self, file: str):
        self.file = file

    def fail(self, field: str, message: str, check: str = "lup.E080") -> NoReturn:
        raise CatalogError(self.file, field, message, check)

    def mapping(self, value: Any, field: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(field, "must be a mapping")
        return value

    def text(self, data: dict, key: str, field: str, *, required: bool = True) -> str:
        value = data.get(key)
        if value is None and not required:
            return ""
        if not isinstance(value, str) or not value.strip():
            self.fail(f"{field}.{key}", "must be non-empty text")
        return value.strip()

    def names(self, data: dict, key: str, field: str, *, required: bool = True) -> tuple:
        value = data.get(key, [] if not required else None)
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.fail(f"{field}.{key}", "must be a list of names")
        if required and not value:
            self.fail(f"{field}.{key}", "must not be empty")
        return tuple(value)


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise CatalogError(path.name, "(file)", f"unreadable: {exc}") from None


def load_conditions(path: Path) -> dict[str, Condition]:
    read = _Reader(path.name)
    data = read.mapping(_read_yaml(path), "(file)")
    conditions: dict[str, Condition] = {}
    entries = read.mapping(data.get("conditions"), "conditions")
    if not entries:
        read.fail("conditions", "must not be empty")
    for key, entry in entries.items():
        field = f"conditions.{key}"
        entry = read.mapping(entry, field)
        section = read.text(entry, "section", field)
        if section not in SECTION_GAPS:
            read.fail(f"{field}.section", f"{section!r} is not a readiness section", "lup.E081")
        gaps = read.names(entry, "gaps", field)
        unknown = sorted(set(gaps) - SECTION_GAPS[section])
        if unknown:
            read.fail(
                f"{field}.gaps",
                f"{', '.join(unknown)} is not a gap the {section} section reports",
                "lup.E081",
            )
        requires = entry.get("requires")
        if requires is not None and not isinstance(requires, str):
            read.fail(f"{field}.requires", "must be a figure name")
        conditions[key] = Condition(
            key=key,
            section=section,
            says=read.text(entry, "says", field),
            gaps=gaps,
            figures=read.names(entry, "figures", field),
            requires=requires,
        )
    return conditions


def load_framework(path: Path, conditions: dict[str, Condition]) -> Framework:
    read = _Reader(path.name)
    data = read.mapping(_read_yaml(path), "(file)")
    slug = read.text(data, "framework", "(file)")
    if slug != path.stem or not SLUG.match(slug):
        read.fail("framework", f"must equal the file name ({path.stem})")
    sources = data.get("sources")
    if not isinstance(sources, list) or not sources:
        read.fail("sources", "name at least one source")
    groups = data.get("groups")
    if not isinstance(groups, list) or not groups:
        read.fail("groups", "must be a non-empty list")
    items: list[Item] = []
    names: list[str] = []
    for index, group in enumerate(groups):
        field = f"groups[{index}]"
        group = read.mapping(group, field)
        name = read.text(group, "name", field)
        if slug == AIVERIFY and name not in AIVERIFY_PRINCIPLES:
            read.fail(f"{field}.name", f"{name!r} is not an AI Verify principle", "lup.E082")
        names.append(name)
        entries = group.get("items")
        if not isinstance(entries, list) or not entries:
            read.fail(f"{field}.items", "must be a non-empty list")
        for number, entry in enumerate(entries):
            items.append(_item(read, f"{field}.items[{number}]", entry, name, slug, conditions))
    if len(set(names)) != len(names):
        read.fail("groups", "a group name appears twice")
    ids = [item.id for item in items]
    if len(set(ids)) != len(ids):
        read.fail("groups", "an item id appears twice")
    if slug == AIVERIFY and set(names) != set(AIVERIFY_PRINCIPLES):
        missing = ", ".join(p for p in AIVERIFY_PRINCIPLES if p not in names)
        read.fail(
            "groups", f"every AI Verify principle needs a group; missing {missing}", "lup.E082"
        )
    return Framework(
        slug=slug,
        title=read.text(data, "title", "(file)"),
        edition=read.text(data, "edition", "(file)"),
        sources=tuple(
            Source(
                title=read.text(read.mapping(s, f"sources[{i}]"), "title", f"sources[{i}]"),
                url=read.text(s, "url", f"sources[{i}]"),
            )
            for i, s in enumerate(sources)
        ),
        groups=tuple(names),
        items=tuple(items),
    )


def _item(read: _Reader, field: str, entry: Any, group: str, slug: str, conditions: dict) -> Item:
    entry = read.mapping(entry, field)
    item_id = entry.get("id")
    if not isinstance(item_id, str):
        read.fail(f"{field}.id", 'must be text (quote a pid: "8.2.1")')
    if slug == AIVERIFY and not PID.match(item_id):
        read.fail(f"{field}.id", f"{item_id!r} is not a process id like 8.2.1", "lup.E082")
    if slug != AIVERIFY and not ITEM_ID.match(item_id):
        read.fail(f"{field}.id", f"{item_id!r} is not lower-case words and dots")
    operator = entry.get("operator", False)
    if not isinstance(operator, bool):
        read.fail(f"{field}.operator", "must be true or false")
    evidence = read.names(entry, "evidence", field, required=False)
    section = entry.get("section")
    if operator == bool(evidence):
        read.fail(field, "give either evidence (condition names) or operator: true")
    for key in evidence:
        if key not in conditions:
            read.fail(
                f"{field}.evidence", f"{key!r} is not a condition in {EVIDENCE_FILE}", "lup.E081"
            )
    if (evidence or section is not None) and section not in SECTION_GAPS:
        read.fail(f"{field}.section", f"{section!r} is not a readiness section", "lup.E081")
    return Item(
        id=item_id,
        title=read.text(entry, "title", field),
        group=group,
        evidence=evidence,
        operator=operator,
        section=section,
        note=read.text(entry, "note", field, required=False),
    )


def load_directory(path: Path) -> Catalog:
    conditions = load_conditions(path / EVIDENCE_FILE)
    frameworks = {}
    for file in sorted(path.glob("*.yaml")):
        if file.name != EVIDENCE_FILE:
            framework = load_framework(file, conditions)
            frameworks[framework.slug] = framework
    if AIVERIFY not in frameworks:
        raise CatalogError(f"{AIVERIFY}.yaml", "(file)", "is missing", "lup.E082")
    return Catalog(conditions=conditions, frameworks=frameworks)


@functools.cache
def catalog() -> Catalog:
    """The data files as loaded at startup (lup.E080… refuse a bad one there first)."""
    return load_directory(DATA_DIR)
