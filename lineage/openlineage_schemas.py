"""Checking an OpenLineage event against the schema version it declares.

The published core schemas and the facet schemas Lup reads are vendored in
`schemas/openlineage/` (sources in `schemas/SOURCES.md`) and loaded into one offline
`referencing` registry. An event is checked against the core its `schemaURL` names
(`…/spec/<major>-<minor>-<patch>/OpenLineage.json`): that file when it is vendored, else the
closest vendored version of the same major (the oldest above it, else the newest below), and
the answer says which one was used.

As in OpenLineage's own validator, `format` is an annotation, not a rule: Spark sends
`"uri": "file"` and `"uri": "bigquery"` in its datasource facet, and Marquez accepts them.
What Marquez accepts although the spec says otherwise is accepted with a warning instead of
being refused: a missing or unrecognised `schemaURL` (checked against the default core), and
facets without `_producer` or `_schemaURL`. The caller adds its own warning for a naive
`eventTime`. Errors report a JSON path and a keyword, never a value: events carry SQL and
descriptions that do not belong in an error body or a log.
"""

import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import jsonschema_rs
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas" / "openlineage"
# What an event without a usable schemaURL is checked as: the version openlineage-python's
# 2.x events and the newer facet files name.
DEFAULT_VERSION = (2, 0, 2)
VERSION_IN_URL = re.compile(r"/spec/(\d+)-(\d+)-(\d+)/OpenLineage\.json")
EVENT_DEFS = {"run": "RunEvent", "dataset": "DatasetEvent", "job": "JobEvent"}
# Base facet fields Marquez does not insist on; their absence is a warning.
LENIENT_REQUIRED = {"_producer", "_schemaURL"}
MAX_REPORTED = 20

Version = tuple[int, int, int]


@dataclass
class Outcome:
    """What checking found: `problems` (JSON path -> keyword) refuse the event; `warnings`
    are returned with it."""

    schema: str
    problems: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def _label(version: Version) -> str:
    return "-".join(str(part) for part in version)


def _core_refs(contents: Any) -> set[str]:
    """Every `$ref` in a core that points outside it (`facets/ParentRunFacet.json`)."""
    if isinstance(contents, dict):
        found = {contents["$ref"]} if isinstance(contents.get("$ref"), str) else set()
        for value in contents.values():
            found |= _core_refs(value)
        return {ref for ref in found if not ref.startswith("#")}
    if isinstance(contents, list):
        return set().union(*(_core_refs(item) for item in contents)) if contents else set()
    return set()


@functools.cache
def _resources() -> tuple[tuple[tuple[str, Any], ...], dict[Version, str], dict[str, str]]:
    """(URI, schema) for every vendored file and the names that stand in for missing ones;
    the cores by version; facet name -> `$id`."""
    files: dict[str, Any] = {}
    cores: dict[Version, str] = {}
    facets: dict[str, str] = {}
    for path in sorted(SCHEMA_DIR.rglob("*.json")):
        contents = json.loads(path.read_text())
        files[contents["$id"]] = contents
        if path.parent.name == "facets":
            facets[path.stem] = contents["$id"]
        else:
            found = VERSION_IN_URL.search(contents["$id"])
            if found:
                cores[tuple(int(p) for p in found.groups())] = contents["$id"]  # type: ignore[index]
    served = dict(files)
    # The 2.x facet files `$ref` the 2-0-2 core's BaseFacet and DatasetFacet; the vendored
    # 2-0-7 core defines them identically, so it answers those references (SOURCES.md).
    newest = max(v for v in cores if v[0] == 2)
    served.setdefault("https://openlineage.io/spec/2-0-2/OpenLineage.json", files[cores[newest]])
    # The published 1-0-4 and 2-0-0 cores name facet files beside themselves
    # (`facets/ParentRunFacet.json`, an alternative of an `anyOf`), where openlineage.io
    # serves none: the vendored facet file of that name answers, else the shape every facet
    # file's root has (an object). Either admits what the core's own alternative admits.
    for uri in cores.values():
        for ref in _core_refs(files[uri]):
            target = urljoin(uri, ref)
            if target not in served:
                name = target.rsplit("/", 1)[-1].removesuffix(".json")
                served[target] = files[facets[name]] if name in facets else {"type": "object"}
    return tuple(served.items()), cores, facets


@functools.cache
def _registry() -> tuple[Registry, dict[Version, str], dict[str, str]]:
    """Every vendored schema under its `$id`; the cores by version; facet name -> `$id`."""
    resources, cores, facets = _resources()
    registry: Registry = Registry().with_resources(
        (uri, Resource.from_contents(contents, default_specification=DRAFT202012))
        for uri, contents in resources
    )
    return registry.crawl(), cores, facets


def _closest(declared: Version) -> Version | None:
    """The vendored core that checks `declared`: itself, else the oldest later one of the same
    major (OpenLineage adds to a major's later versions, so they accept its earlier events),
    else the newest earlier one."""
    _, cores, _ = _registry()
    same_major = sorted(v for v in cores if v[0] == declared[0])
    if not same_major:
        return None
    at_or_above = [v for v in same_major if v >= declared]
    return at_or_above[0] if at_or_above else same_major[-1]


def declared_version(event: dict, warnings: list[str]) -> Version:
    """The core version to check `event` against, noting in `warnings` why it is not the one
    the event names."""
    url = event.get("schemaURL")
    found = VERSION_IN_URL.search(url) if isinstance(url, str) else None
    if "schemaURL" not in event:
        warnings.append(f"schemaURL is missing; checked against {_label(DEFAULT_VERSION)}.")
        declared = DEFAULT_VERSION
    elif found is None:
        warnings.append(
            f"schemaURL names no OpenLineage version; checked against {_label(DEFAULT_VERSION)}."
        )
        declared = DEFAULT_VERSION
    else:
        declared = tuple(int(p) for p in found.groups())  # type: ignore[assignment]
    chosen = _closest(declared)
    if chosen is None:
        warnings.append(
            f"OpenLineage {_label(declared)} is not a known major version; checked against "
            f"{_label(DEFAULT_VERSION)}."
        )
        chosen = _closest(DEFAULT_VERSION)
        assert chosen is not None  # a 2.x core is vendored
    elif chosen != declared and declared != DEFAULT_VERSION:
        warnings.append(
            f"OpenLineage {_label(declared)} is not vendored; checked against {_label(chosen)}, "
            "the closest published version of the same major."
        )
    return chosen


@functools.cache
def _fast_registry() -> "jsonschema_rs.Registry":
    resources, _, _ = _resources()
    return jsonschema_rs.Registry(list(resources))


@functools.cache
def _fast_validator(ref: str):
    """The same schema compiled by jsonschema-rs: it answers "valid?" for an event with ten
    thousand inputs in a millisecond where the pure-Python validator takes about a second.
    Only a refused event goes through `_validator` too, for its paths and keywords."""
    return jsonschema_rs.validator_for(
        {"$ref": ref}, registry=_fast_registry(), validate_formats=False
    )


def _defs_key(version: Version) -> str:
    """Where a core keeps its definitions: `$defs`, or `definitions` in the earliest 1.x."""
    resources, cores, _ = _resources()
    return "$defs" if "$defs" in dict(resources)[cores[version]] else "definitions"


@functools.cache
def _definitions(version: Version) -> frozenset[str]:
    resources, cores, _ = _resources()
    return frozenset(dict(resources)[cores[version]][_defs_key(version)])


@functools.cache
def _validator(ref: str) -> Draft202012Validator:
    # No format checker: formats are annotations (module docstring).
    registry, _, _ = _registry()
    return Draft202012Validator({"$ref": ref}, registry=registry)


def check(event: dict, kind: str) -> Outcome:
    """Check `event`, an object already known to be of `kind` (run, dataset or job)."""
    warnings: list[str] = []
    version = declared_version(event, warnings)
    _, cores, _ = _registry()
    outcome = Outcome(schema=_label(version), warnings=warnings)
    if EVENT_DEFS[kind] not in _definitions(version):
        # 1.x knows only RunEvent: a DatasetEvent or JobEvent cannot claim it.
        outcome.problems["$.schemaURL"] = "event_not_in_version"
        return outcome
    instance = event if "schemaURL" in event else {**event, "schemaURL": cores[version]}
    core_ref = f"{cores[version]}#/{_defs_key(version)}/{EVENT_DEFS[kind]}"
    facets = _known_facets(event)
    if _fast_validator(core_ref).is_valid(instance) and all(
        _fast_validator(ref).is_valid(facet) for _, facet, ref in facets
    ):
        return outcome
    _collect(_validator(core_ref), instance, "$", outcome)
    if not outcome.problems:
        for path, facet, ref in facets:
            _collect(_validator(ref), facet, path, outcome)
    if len(outcome.problems) > MAX_REPORTED:
        outcome.problems = dict(sorted(outcome.problems.items())[:MAX_REPORTED])
    return outcome


def _collect(validator: Draft202012Validator, instance: Any, prefix: str, into: Outcome) -> None:
    """JSON path -> the schema keyword that failed, into `into.problems`; a missing base
    facet field goes to `into.warnings` instead."""
    pending = list(validator.iter_errors(instance))
    lenient: set[str] = set()
    while pending:
        error = pending.pop()
        if error.context:  # anyOf / oneOf: report what failed inside the alternatives
            pending.extend(error.context)
            continue
        path = prefix + error.json_path[1:]
        if error.validator == "required" and isinstance(error.instance, dict):
            for name in error.validator_value:
                if name in error.instance:
                    continue
                if name in LENIENT_REQUIRED:
                    lenient.add(f"{path}.{name}")
                else:
                    into.problems[f"{path}.{name}"] = "required"
        else:
            into.problems[path] = str(error.validator)
    for path in sorted(lenient):
        if f"{path} is missing." not in into.warnings:  # the core and the facet file both say so
            into.warnings.append(f"{path} is missing.")


def facet_maps(event: dict) -> list[tuple[str, Any]]:
    """(JSON path, facets object) for every place an event carries facets."""
    # Any of these may be malformed (or, as `dataset` on a RunEvent, outside the schema).
    maps = [
        (f"$.{name}.facets", node.get("facets"))
        for name in ("run", "job", "dataset")
        if isinstance(node := event.get(name), dict)
    ]
    for direction, extra in (("inputs", "inputFacets"), ("outputs", "outputFacets")):
        for index, dataset in enumerate(event.get(direction) or []):
            if isinstance(dataset, dict):
                maps.append((f"$.{direction}[{index}].facets", dataset.get("facets")))
                maps.append((f"$.{direction}[{index}].{extra}", dataset.get(extra)))
    return [(path, facets) for path, facets in maps if isinstance(facets, dict)]


def _known_facets(event: dict) -> list[tuple[str, dict, str]]:
    """(path, facet, schema ref) for each facet whose schema is vendored. Facets marked
    `_deleted` carry no content to check. A facet is checked against the vendored file of its
    `_schemaURL`'s name whatever version it names: facet schemas only add optional properties
    between minor versions."""
    _, _, vendored = _registry()
    known = []
    for path, facets in facet_maps(event):
        for key, facet in facets.items():
            if not isinstance(facet, dict) or facet.get("_deleted") is True:
                continue
            url = urlsplit(str(facet.get("_schemaURL", "")))
            if not (url.hostname or "").endswith("openlineage.io"):
                continue
            name = url.path.rsplit("/", 1)[-1].removesuffix(".json")
            if name in vendored:
                known.append((f"{path}.{key}", facet, f"{vendored[name]}#/$defs/{name}"))
    return known
