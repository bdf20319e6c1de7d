"""Each country's rules, read from `jurisdictions/data/<CC>.yaml` (schema: data/README.md).

The files are loaded and validated once per process. A malformed file is a startup error (system
check lup.E020, naming the file and the field), never a half-read rule at request time.
"""

import datetime
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import yaml

DATA_DIR = Path(__file__).resolve().parent / "data"

LAW_STATUSES = ("in_force", "draft", "none")
ERASURE_RIGHTS = ("none", "unknown", "limited", "statutory")  # weakest first
UNITS = ("hours", "days")

# Ordered scales: a higher level is stricter. A level of null means no rule is known.
CONSENT_LEVELS: dict[int, str] = {
    1: "no set form; deemed consent and broad exceptions accepted",
    2: "consent required; form not set",
    3: "consent evidenced in writing, electronically or on record",
    4: "explicit and prior consent, in written or electronic form",
    5: "written or recorded consent, distinct from other terms, proven by the controller",
    6: "explicit and provable consent; silence and defaults are not consent",
}
CROSS_BORDER_LEVELS: dict[int, str] = {
    1: "accountability: no adequacy or localisation requirement",
    2: "the individual's consent before transfer",
    3: "comparable or adequate protection at the destination, by law, contract or certification",
    4: "an ordered test: equal protection, then binding safeguards, then consent",
    5: "a transfer impact assessment filed with the regulator",
}
CROSS_BORDER_MECHANISMS = (
    "none",
    "unknown",
    "accountability",
    "consent",
    "comparable_protection",
    "adequacy_or_safeguards",
    "ordered_test",
    "filed_impact_assessment",
)

DEADLINE_RULES = ("erasure_deadline", "request_deadline", "access_deadline", "breach_notification")
RULE_NAMES = (
    "erasure_right",
    "erasure_deadline",
    "request_deadline",
    "access_deadline",
    "consent",
    "child_age",
    "cross_border",
    "breach_notification",
)


class RulesError(ValueError):
    """A data file that does not follow the schema; names the file and the field."""

    def __init__(self, file: str, field: str, message: str):
        super().__init__(f"{file}: {field}: {message}")
        self.file = file
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Extension:
    amount: int
    unit: str


@dataclass(frozen=True)
class Deadline:
    amount: int
    unit: str  # "hours" or "days"
    business: bool = False  # days counted Monday to Friday only
    extension: Extension | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "amount": self.amount,
            "unit": self.unit,
            "business": self.business,
            "extension": (
                {"amount": self.extension.amount, "unit": self.extension.unit}
                if self.extension
                else None
            ),
        }

    def __str__(self) -> str:
        kind = " business" if self.business else (" calendar" if self.unit == "days" else "")
        return f"{self.amount}{kind} {self.unit}"


@dataclass(frozen=True)
class Rule:
    """One dimension of one country's law. Which value field is set depends on the dimension:
    `value` (erasure_right), `deadline` (the deadlines), `level` (consent, cross_border; plus
    `mechanism` for cross_border) or `age` (child_age)."""

    name: str
    summary: str
    sources: tuple[str, ...]
    unconfirmed: bool = False
    note: str = ""
    value: str | None = None
    deadline: Deadline | None = None
    level: int | None = None
    mechanism: str | None = None
    age: int | None = None

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if self.name == "erasure_right":
            body["value"] = self.value
        elif self.name in DEADLINE_RULES:
            body["deadline"] = self.deadline.as_dict() if self.deadline else None
        elif self.name == "consent":
            body["level"] = self.level
        elif self.name == "cross_border":
            body["mechanism"] = self.mechanism
            body["level"] = self.level
        elif self.name == "child_age":
            body["age"] = self.age
        return {
            **body,
            "summary": self.summary,
            "sources": list(self.sources),
            "unconfirmed": self.unconfirmed,
            "note": self.note or None,
        }


@dataclass(frozen=True)
class Law:
    title: str
    status: str
    in_force: datetime.date | None
    comprehensive: bool
    summary: str
    sources: tuple[str, ...]
    unconfirmed: bool = False
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "status": self.status,
            "in_force": self.in_force.isoformat() if self.in_force else None,
            "comprehensive": self.comprehensive,
            "summary": self.summary,
            "sources": list(self.sources),
            "unconfirmed": self.unconfirmed,
            "note": self.note or None,
        }


@dataclass(frozen=True)
class Jurisdiction:
    country: str
    name: str
    law: Law
    rules: dict[str, Rule]

    def as_dict(self) -> dict[str, Any]:
        return {
            "country": self.country,
            "name": self.name,
            "law": self.law.as_dict(),
            "rules": {name: self.rules[name].as_dict() for name in RULE_NAMES},
        }


def jurisdictions() -> dict[str, Jurisdiction]:
    """Every country with a data file, by ISO 3166-1 alpha-2 code (loaded once)."""
    return _load(DATA_DIR)


def jurisdiction(country: str) -> Jurisdiction | None:
    return jurisdictions().get(country)


def reload() -> None:
    """Forget the loaded files (tests that point `DATA_DIR` elsewhere)."""
    _load.cache_clear()


@functools.cache
def _load(directory: Path) -> dict[str, Jurisdiction]:
    return load_directory(directory)


def load_directory(directory: Path) -> dict[str, Jurisdiction]:
    """Read and validate every `<CC>.yaml` in `directory`; raise `RulesError` on the first fault."""
    found: dict[str, Jurisdiction] = {}
    for path in sorted(Path(directory).glob("*.yaml")):
        found[path.stem] = load_file(path)
    return found


def load_file(path: Path) -> Jurisdiction:
    reader = _Reader(path.name)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise RulesError(path.name, "(file)", f"not valid YAML: {exc}") from exc
    data = reader.mapping(data, "(file)", {"country", "name", "law", "rules"})
    country = reader.text(data, "country")
    if country != path.stem or len(country) != 2 or not country.isupper():
        raise RulesError(path.name, "country", f"must be the file's name, {path.stem!r}")
    law = reader.mapping(
        data.get("law"),
        "law",
        {
            "title",
            "status",
            "in_force",
            "comprehensive",
            "summary",
            "sources",
            "unconfirmed",
            "note",
        },
    )
    in_force = law.get("in_force")
    if in_force is not None and not isinstance(in_force, datetime.date):
        raise RulesError(path.name, "law.in_force", "must be a date (YYYY-MM-DD) or null")
    comprehensive = law.get("comprehensive")
    if not isinstance(comprehensive, bool):
        raise RulesError(path.name, "law.comprehensive", "must be true or false")
    rules = reader.mapping(data.get("rules"), "rules", set(RULE_NAMES))
    missing = [name for name in RULE_NAMES if name not in rules]
    if missing:
        raise RulesError(path.name, f"rules.{missing[0]}", "is missing")
    return Jurisdiction(
        country=country,
        name=reader.text(data, "name"),
        law=Law(
            title=reader.text(law, "title", "law."),
            status=reader.choice(law, "status", LAW_STATUSES, "law."),
            in_force=in_force,
            comprehensive=comprehensive,
            summary=reader.text(law, "summary", "law."),
            sources=reader.sources(law, "law."),
            unconfirmed=reader.flag(law, "unconfirmed", "law."),
            note=reader.text(law, "note", "law.", required=False),
        ),
        rules={name: reader.rule(name, rules[name]) for name in RULE_NAMES},
    )


_VALUE_FIELDS = {
    "erasure_right": {"value"},
    "consent": {"level"},
    "cross_border": {"mechanism", "level"},
    "child_age": {"age"},
    **{name: {"deadline"} for name in DEADLINE_RULES},
}


class _Reader:
    """Field readers that name the file and the field in every error."""

    def __init__(self, file: str):
        self.file = file

    def fail(self, field: str, message: str) -> NoReturn:
        raise RulesError(self.file, field, message)

    def mapping(self, value: Any, field: str, allowed: set[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(field, "must be a mapping")
        unknown = sorted(set(value) - allowed)
        if unknown:
            where = f"{field}.{unknown[0]}" if field != "(file)" else str(unknown[0])
            self.fail(where, "is not a field of the schema")
        return value

    def text(self, data: dict, key: str, prefix: str = "", *, required: bool = True) -> str:
        value = data.get(key)
        if value is None and not required:
            return ""
        if not isinstance(value, str) or not value.strip():
            self.fail(prefix + key, "must be a non-empty string")
        return value.strip()

    def choice(self, data: dict, key: str, choices: tuple[str, ...], prefix: str = "") -> str:
        value = data.get(key)
        if value not in choices:
            self.fail(prefix + key, f"must be one of {', '.join(choices)}")
        return value

    def flag(self, data: dict, key: str, prefix: str = "") -> bool:
        value = data.get(key, False)
        if not isinstance(value, bool):
            self.fail(prefix + key, "must be true or false")
        return value

    def sources(self, data: dict, prefix: str = "") -> tuple[str, ...]:
        value = data.get("sources")
        if not isinstance(value, list) or not value:
            self.fail(prefix + "sources", "must be a non-empty list of citations")
        for index, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                self.fail(f"{prefix}sources[{index}]", "must be a non-empty string")
        return tuple(item.strip() for item in value)

    def integer(self, value: Any, field: str, *, nullable: bool = True) -> int | None:
        if value is None and nullable:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            self.fail(field, "must be a non-negative integer" + (" or null" if nullable else ""))
        return value

    def level(self, value: Any, field: str, scale: dict[int, str]) -> int | None:
        level = self.integer(value, field)
        if level is not None and level not in scale:
            self.fail(field, f"must be one of {min(scale)}..{max(scale)} or null")
        return level

    def deadline(self, value: Any, field: str) -> Deadline | None:
        if value is None:
            return None
        value = self.mapping(value, field, {"amount", "unit", "business", "extension"})
        amount = self.integer(value.get("amount"), f"{field}.amount", nullable=False)
        unit = self.choice(value, "unit", UNITS, f"{field}.")
        business = self.flag(value, "business", f"{field}.")
        if business and unit != "days":
            self.fail(f"{field}.business", "applies to days only")
        extension = value.get("extension")
        if extension is not None:
            extension = self.mapping(extension, f"{field}.extension", {"amount", "unit"})
            extension = Extension(
                amount=self.integer(
                    extension.get("amount"), f"{field}.extension.amount", nullable=False
                ),
                unit=self.choice(extension, "unit", UNITS, f"{field}.extension."),
            )
        return Deadline(amount=amount, unit=unit, business=business, extension=extension)

    def rule(self, name: str, data: Any) -> Rule:
        field = f"rules.{name}"
        values = _VALUE_FIELDS[name]
        data = self.mapping(data, field, values | {"summary", "sources", "unconfirmed", "note"})
        for key in sorted(values):
            if key not in data:
                self.fail(f"{field}.{key}", "is missing (write null when there is no rule)")
        prefix = field + "."
        common = {
            "name": name,
            "summary": self.text(data, "summary", prefix),
            "sources": self.sources(data, prefix),
            "unconfirmed": self.flag(data, "unconfirmed", prefix),
            "note": self.text(data, "note", prefix, required=False),
        }
        if name == "erasure_right":
            return Rule(**common, value=self.choice(data, "value", ERASURE_RIGHTS, prefix))
        if name in DEADLINE_RULES:
            return Rule(**common, deadline=self.deadline(data["deadline"], prefix + "deadline"))
        if name == "consent":
            return Rule(**common, level=self.level(data["level"], prefix + "level", CONSENT_LEVELS))
        if name == "cross_border":
            return Rule(
                **common,
                mechanism=self.choice(data, "mechanism", CROSS_BORDER_MECHANISMS, prefix),
                level=self.level(data["level"], prefix + "level", CROSS_BORDER_LEVELS),
            )
        return Rule(**common, age=self.integer(data["age"], prefix + "age"))
