"""Declarative registration: datasets, jobs with their runs, and models from one YAML manifest.

A manifest is read in two passes. The first checks its shape and values without touching the
database and reports every problem with the path of the entry (`datasets[2].versions[0].
locations[1].country`). The second registers everything through `lineage.services` in one
transaction, so a refusal there (a version that exists with other content, a reference to a
dataset nobody registered) leaves nothing behind either. The services are idempotent, so
applying the same manifest again changes nothing.

The format is described in `lineage/MANIFEST.md`; `lineage/examples/manifest.yaml` is a full
example.
"""

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import yaml
from django.db import transaction
from django.db.models import Q
from fideslang import DEFAULT_TAXONOMY

from core.errors import ApplicationError
from lineage import services
from lineage.models import (
    Dataset,
    DatasetVersion,
    Edge,
    Job,
    Model,
    ModelData,
    ModelVersion,
    Run,
    RunDataset,
    RunState,
    StorageLocation,
)
from lineage.services import LocationInput, VersionInput, is_language_code

MANIFEST_VERSIONS = (1,)  # the values `manifest_version` may take; 1 when omitted

# Lineage states data categories in fideslang's vocabulary; it reads the taxonomy itself
# rather than through `consent`, which lineage must not import.
DATA_CATEGORIES = frozenset(category.fides_key for category in DEFAULT_TAXONOMY.data_category)

# What `manifest_register` counts, by the name it reports them under.
COUNTED = {
    "datasets": Dataset,
    "versions": DatasetVersion,
    "locations": StorageLocation,
    "jobs": Job,
    "runs": Run,
    "run_datasets": RunDataset,
    "models": Model,
    "model_versions": ModelVersion,
    "model_data": ModelData,
    "edges": Edge,
}


@dataclass(frozen=True)
class Problem:
    path: str
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.code} ({self.message})"


class ManifestError(ApplicationError):
    """A manifest that cannot be registered. `problems` names each bad entry by its path."""

    code = "invalid_manifest"

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__(
            "\n".join(str(problem) for problem in problems),
            fields={problem.path: problem.code for problem in problems},
        )


@dataclass(frozen=True)
class Ref:
    """`<namespace>:<name>@<version>`. Namespaces may hold colons, so the split between
    namespace and name is left open until the reference is looked up."""

    qualified_name: str
    version: str

    def __str__(self) -> str:
        return f"{self.qualified_name}@{self.version}"

    def name_condition(self, prefix: str = "") -> Q:
        condition = Q()
        for position, char in enumerate(self.qualified_name):
            if char == ":":
                condition |= Q(
                    **{
                        f"{prefix}namespace": self.qualified_name[:position],
                        f"{prefix}name": self.qualified_name[position + 1 :],
                    }
                )
        return condition


@dataclass
class _VersionPlan:
    path: str
    data: VersionInput


@dataclass
class _DatasetPlan:
    path: str
    namespace: str
    name: str
    description: str
    license: str
    versions: list[_VersionPlan] = field(default_factory=list)


@dataclass
class _RunPlan:
    path: str
    run_id: uuid.UUID
    state: str
    started_at: datetime | None
    ended_at: datetime | None
    inputs: list[tuple[str, Ref]]
    outputs: list[tuple[str, Ref]]


@dataclass
class _JobPlan:
    path: str
    namespace: str
    name: str
    runs: list[_RunPlan] = field(default_factory=list)


@dataclass
class _ModelVersionPlan:
    path: str
    version: str
    data: dict[str, list[tuple[str, Ref]]]  # trained_on, fine_tuned_on, evaluated_on
    fine_tuned_from: tuple[str, Ref] | None
    created_by_run: tuple[str, uuid.UUID] | None
    markets: list[str] | None = None


@dataclass
class _ModelPlan:
    path: str
    namespace: str
    name: str
    versions: list[_ModelVersionPlan] = field(default_factory=list)


@dataclass
class _Plan:
    datasets: list[_DatasetPlan]
    jobs: list[_JobPlan]
    models: list[_ModelPlan]


_MISSING = object()


class _Reader:
    """Checks values against the format, collecting a `Problem` per bad entry.

    Each method returns the checked value, or None after recording a problem, so one pass
    reports every mistake in the manifest rather than the first."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def problem(self, path: str, code: str, message: str) -> None:
        self.problems.append(Problem(path or "manifest", code, message))

    def mapping(
        self, value: Any, path: str, *, required: tuple[str, ...], optional: tuple[str, ...]
    ) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.problem(path, "not_a_mapping", "expected a mapping of keys to values")
            return None
        for key in value:
            if key not in required and key not in optional:
                self.problem(
                    _join(path, str(key)),
                    "unknown_key",
                    f"allowed keys are {', '.join(required + optional)}",
                )
        for key in required:
            if key not in value:
                self.problem(_join(path, key), "required", "this key is required")
        return value

    def items(self, value: Any, path: str) -> list[tuple[str, Any]]:
        """The entries of an optional list, each with its path."""
        if value is _MISSING or value is None:
            return []
        if not isinstance(value, list):
            self.problem(path, "not_a_list", "expected a list")
            return []
        return [(f"{path}[{index}]", item) for index, item in enumerate(value)]

    def text(
        self,
        value: Any,
        path: str,
        *,
        required: bool = True,
        max_length: int = 0,
        default: str = "",
    ) -> str | None:
        if value is _MISSING or value is None:
            if required:
                self.problem(path, "required", "a value is required")
                return None
            return default
        if not isinstance(value, str) or (required and not value.strip()):
            self.problem(path, "not_text", "expected a non-empty string")
            return None
        if max_length and len(value) > max_length:
            self.problem(path, "too_long", f"at most {max_length} characters")
            return None
        return value

    def label(self, value: Any, path: str) -> str | None:
        """A version label. YAML reads `2024-06-01` as a date and `7` as a number; both are
        taken as written. `1.10` would be read as the number 1.1, so decimals must be quoted."""
        if isinstance(value, bool | float):
            self.problem(path, "quote_version", "write this version as a quoted string")
            return None
        if isinstance(value, int):
            return str(value)
        if isinstance(value, date) and not isinstance(value, datetime):
            return value.isoformat()
        return self.text(value, path, max_length=200)

    def moment(self, value: Any, path: str) -> datetime | None:
        if value is _MISSING or value is None:
            return None
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                self.problem(path, "invalid_datetime", "expected an ISO 8601 date and time")
                return None
        if not isinstance(value, datetime):
            self.problem(path, "invalid_datetime", "expected an ISO 8601 date and time")
            return None
        if value.tzinfo is None:
            self.problem(path, "naive_datetime", "give the time zone, e.g. 2024-06-01T08:00Z")
            return None
        return value

    def ref(self, value: Any, path: str) -> Ref | None:
        if isinstance(value, str):
            qualified_name, at, version = value.rpartition("@")
            if at and version and ":" in qualified_name.strip(":"):
                return Ref(qualified_name, version)
        self.problem(path, "invalid_reference", "expected <namespace>:<name>@<version>")
        return None

    def refs(self, value: Any, path: str) -> list[tuple[str, Ref]]:
        return [
            (item_path, ref)
            for item_path, item in self.items(value, path)
            if (ref := self.ref(item, item_path)) is not None
        ]


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def manifest_load(*, text: str | bytes) -> Any:
    """The manifest document from YAML text (safe_load: plain data, never Python objects)."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "document"
        raise ManifestError(
            [Problem(where, "invalid_yaml", str(getattr(exc, "problem", exc)))]
        ) from None


def manifest_check(*, document: Any) -> _Plan:
    """Check a manifest's shape and values without the database; raise `ManifestError`
    listing every problem found."""
    reader = _Reader()
    top = reader.mapping(
        document, "", required=(), optional=("manifest_version", "datasets", "jobs", "models")
    )
    if top is None:
        raise ManifestError(reader.problems)
    manifest_version = top.get("manifest_version", 1)
    if manifest_version not in MANIFEST_VERSIONS:
        reader.problem(
            "manifest_version",
            "unsupported_version",
            f"supported: {', '.join(map(str, MANIFEST_VERSIONS))}",
        )
    plan = _Plan(
        datasets=[
            _dataset(reader, item, path)
            for path, item in reader.items(top.get("datasets", _MISSING), "datasets")
        ],
        jobs=[
            _job(reader, item, path)
            for path, item in reader.items(top.get("jobs", _MISSING), "jobs")
        ],
        models=[
            _model(reader, item, path)
            for path, item in reader.items(top.get("models", _MISSING), "models")
        ],
    )
    if reader.problems:
        raise ManifestError(reader.problems)
    return plan


def _dataset(reader: _Reader, value: Any, path: str) -> _DatasetPlan | None:
    entry = reader.mapping(
        value, path, required=("namespace", "name"), optional=("description", "license", "versions")
    )
    if entry is None:
        return None
    plan = _DatasetPlan(
        path=path,
        namespace=reader.text(entry.get("namespace"), f"{path}.namespace", max_length=500),
        name=reader.text(entry.get("name"), f"{path}.name", max_length=500),
        description=reader.text(
            entry.get("description", _MISSING), f"{path}.description", required=False
        ),
        license=reader.text(
            entry.get("license", _MISSING), f"{path}.license", required=False, max_length=200
        ),
    )
    for version_path, item in reader.items(entry.get("versions", _MISSING), f"{path}.versions"):
        version = _version(reader, item, version_path)
        if version is not None:
            plan.versions.append(version)
    return plan


def _version(reader: _Reader, value: Any, path: str) -> _VersionPlan | None:
    entry = reader.mapping(
        value,
        path,
        required=("version",),
        optional=(
            "digest",
            "record_count",
            "schema",
            "data_categories",
            "purposes",
            "languages",
            "origin",
            "locations",
        ),
    )
    if entry is None:
        return None
    label = reader.label(entry.get("version"), f"{path}.version")
    digest = reader.text(entry.get("digest", _MISSING), f"{path}.digest", required=False)
    if digest and not _is_sha256(digest):
        reader.problem(f"{path}.digest", "invalid_digest", "expected sha256:<64 hex digits>")
    record_count = entry.get("record_count")
    if record_count is not None and (
        not isinstance(record_count, int) or isinstance(record_count, bool) or record_count < 0
    ):
        reader.problem(f"{path}.record_count", "invalid_count", "expected a whole number >= 0")
    schema = []
    for field_path, item in reader.items(entry.get("schema", _MISSING), f"{path}.schema"):
        column = reader.mapping(
            item, field_path, required=("name",), optional=("type", "description")
        )
        if column is not None:
            schema.append(
                {
                    "name": reader.text(column.get("name"), f"{field_path}.name"),
                    "type": reader.text(
                        column.get("type", _MISSING), f"{field_path}.type", required=False
                    ),
                    "description": reader.text(
                        column.get("description", _MISSING),
                        f"{field_path}.description",
                        required=False,
                    ),
                }
            )
    categories = []
    for item_path, item in reader.items(
        entry.get("data_categories", _MISSING), f"{path}.data_categories"
    ):
        if not isinstance(item, str) or item not in DATA_CATEGORIES:
            reader.problem(
                item_path,
                "invalid_data_category",
                "expected a fideslang data category key, e.g. user.contact.email",
            )
        else:
            categories.append(item)
    purposes = [
        reader.text(item, item_path)
        for item_path, item in reader.items(entry.get("purposes", _MISSING), f"{path}.purposes")
    ]
    languages = []
    for item_path, item in reader.items(entry.get("languages", _MISSING), f"{path}.languages"):
        if not isinstance(item, str) or not is_language_code(item):
            reader.problem(
                item_path, "invalid_language", "expected an ISO 639-1 or 639-3 code, e.g. km or fil"
            )
        else:
            languages.append(item)
    origin = reader.text(entry.get("origin", _MISSING), f"{path}.origin", required=False)
    locations = [
        location
        for item_path, item in reader.items(entry.get("locations", _MISSING), f"{path}.locations")
        if (location := _location(reader, item, item_path)) is not None
    ]
    return _VersionPlan(
        path=path,
        data=VersionInput(
            version=label or "",
            digest=digest or "",
            record_count=record_count,
            schema_fields=schema,
            data_categories=categories,
            purposes=purposes,
            languages=languages,
            origin=origin or "",
            locations=locations,
        ),
    )


def _is_sha256(digest: str) -> bool:
    algorithm, _, hexdigest = digest.partition(":")
    return (
        algorithm == "sha256"
        and len(hexdigest) == 64
        and all(c in "0123456789abcdef" for c in hexdigest)
    )


def _location(reader: _Reader, value: Any, path: str) -> LocationInput | None:
    entry = reader.mapping(
        value,
        path,
        required=("system", "uri", "country"),
        optional=("region", "provider", "transfer_basis"),
    )
    if entry is None:
        return None
    country = entry.get("country")
    try:
        services.country_code(country)
    except ApplicationError as exc:
        reader.problem(f"{path}.country", exc.code, exc.detail)

    def optional(key: str, max_length: int) -> str | None:
        return reader.text(
            entry.get(key, _MISSING), f"{path}.{key}", required=False, max_length=max_length
        )

    return LocationInput(
        system=reader.text(entry.get("system"), f"{path}.system", max_length=100) or "",
        uri=reader.text(entry.get("uri"), f"{path}.uri", max_length=1000) or "",
        country=country,
        region=optional("region", 100) or "",
        provider=optional("provider", 100) or "",
        transfer_basis=optional("transfer_basis", 200) or "",
    )


def _job(reader: _Reader, value: Any, path: str) -> _JobPlan | None:
    entry = reader.mapping(value, path, required=("namespace", "name"), optional=("runs",))
    if entry is None:
        return None
    plan = _JobPlan(
        path=path,
        namespace=reader.text(entry.get("namespace"), f"{path}.namespace", max_length=500),
        name=reader.text(entry.get("name"), f"{path}.name", max_length=500),
    )
    for run_path, item in reader.items(entry.get("runs", _MISSING), f"{path}.runs"):
        run = reader.mapping(
            item,
            run_path,
            required=("run_id", "state"),
            optional=("started_at", "ended_at", "inputs", "outputs"),
        )
        if run is None:
            continue
        run_id = _uuid(reader, run.get("run_id"), f"{run_path}.run_id")
        state = run.get("state")
        if state not in RunState.values:
            reader.problem(
                f"{run_path}.state", "invalid_state", f"one of {', '.join(RunState.values)}"
            )
        plan.runs.append(
            _RunPlan(
                path=run_path,
                run_id=run_id,
                state=state,
                started_at=reader.moment(run.get("started_at", _MISSING), f"{run_path}.started_at"),
                ended_at=reader.moment(run.get("ended_at", _MISSING), f"{run_path}.ended_at"),
                inputs=reader.refs(run.get("inputs", _MISSING), f"{run_path}.inputs"),
                outputs=reader.refs(run.get("outputs", _MISSING), f"{run_path}.outputs"),
            )
        )
    return plan


def _uuid(reader: _Reader, value: Any, path: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        reader.problem(path, "invalid_run_id", "expected a UUID")
        return None


def _model(reader: _Reader, value: Any, path: str) -> _ModelPlan | None:
    entry = reader.mapping(value, path, required=("namespace", "name"), optional=("versions",))
    if entry is None:
        return None
    plan = _ModelPlan(
        path=path,
        namespace=reader.text(entry.get("namespace"), f"{path}.namespace", max_length=500),
        name=reader.text(entry.get("name"), f"{path}.name", max_length=500),
    )
    for version_path, item in reader.items(entry.get("versions", _MISSING), f"{path}.versions"):
        version = reader.mapping(
            item,
            version_path,
            required=("version",),
            optional=(
                "trained_on",
                "fine_tuned_on",
                "evaluated_on",
                "fine_tuned_from",
                "created_by_run",
                "markets",
            ),
        )
        if version is None:
            continue
        parent = version.get("fine_tuned_from")
        run_id = version.get("created_by_run")
        markets = None
        if "markets" in version:
            markets = []
            for item_path, item in reader.items(version["markets"], f"{version_path}.markets"):
                try:
                    markets.append(services.country_code(item))
                except ApplicationError as exc:
                    reader.problem(item_path, exc.code, exc.detail)
        plan.versions.append(
            _ModelVersionPlan(
                path=version_path,
                version=reader.label(version.get("version"), f"{version_path}.version"),
                data={
                    kind: reader.refs(version.get(kind, _MISSING), f"{version_path}.{kind}")
                    for kind in ModelData.Kind.values
                },
                fine_tuned_from=None
                if parent is None
                else (
                    f"{version_path}.fine_tuned_from",
                    reader.ref(parent, f"{version_path}.fine_tuned_from"),
                ),
                created_by_run=None
                if run_id is None
                else (
                    f"{version_path}.created_by_run",
                    _uuid(reader, run_id, f"{version_path}.created_by_run"),
                ),
                markets=markets,
            )
        )
    return plan


def manifest_register(*, document: Any) -> dict[str, int]:
    """Register a manifest, all or nothing. Returns how many rows of each kind it added
    (all zero when the manifest was already registered)."""
    plan = manifest_check(document=document)
    with transaction.atomic():
        before = {name: model.objects.count() for name, model in COUNTED.items()}
        for dataset_plan in plan.datasets:
            _register_dataset(dataset_plan)
        runs: dict[uuid.UUID, Run] = {}
        for job_plan in plan.jobs:
            _register_job(job_plan, runs)
        for model_plan in plan.models:
            _register_model(model_plan, runs)
        return {name: model.objects.count() - before[name] for name, model in COUNTED.items()}


def _refused(path: str, exc: ApplicationError) -> ManifestError:
    """A service's refusal, named by the manifest entry that caused it."""
    if exc.fields:
        return ManifestError(
            [Problem(_join(path, key), str(code), exc.detail) for key, code in exc.fields.items()]
        )
    return ManifestError([Problem(path, exc.code, exc.detail)])


def _register_dataset(plan: _DatasetPlan) -> None:
    try:
        dataset = services.dataset_register(
            namespace=plan.namespace,
            name=plan.name,
            description=plan.description,
            license=plan.license,
        )
    except ApplicationError as exc:
        raise _refused(plan.path, exc) from None
    for version_plan in plan.versions:
        try:
            services.version_register(dataset=dataset, data=version_plan.data)
        except ApplicationError as exc:
            raise _refused(version_plan.path, exc) from None


def _dataset_version(path: str, ref: Ref) -> DatasetVersion:
    found = list(
        DatasetVersion.objects.filter(
            ref.name_condition("dataset__"), version=ref.version
        ).select_related("dataset")[:2]
    )
    if not found:
        raise ManifestError(
            [
                Problem(
                    path,
                    "unknown_dataset_version",
                    f"no dataset version {ref} is declared or registered",
                )
            ]
        )
    if len(found) > 1:
        raise ManifestError(
            [Problem(path, "ambiguous_reference", f"{ref} names more than one dataset version")]
        )
    return found[0]


def _register_job(plan: _JobPlan, runs: dict[uuid.UUID, Run]) -> None:
    job = services.job_register(namespace=plan.namespace, name=plan.name)
    for run_plan in plan.runs:
        inputs = [_dataset_version(path, ref) for path, ref in run_plan.inputs]
        outputs = [_dataset_version(path, ref) for path, ref in run_plan.outputs]
        try:
            runs[run_plan.run_id] = services.run_record(
                run_id=run_plan.run_id,
                job=job,
                state=run_plan.state,
                inputs=inputs,
                outputs=outputs,
                started_at=run_plan.started_at,
                ended_at=run_plan.ended_at,
            )
        except ApplicationError as exc:
            raise _refused(run_plan.path, exc) from None


def _register_model(plan: _ModelPlan, runs: dict[uuid.UUID, Run]) -> None:
    for version_plan in plan.versions:
        data = {
            kind: [_dataset_version(path, ref) for path, ref in refs]
            for kind, refs in version_plan.data.items()
        }
        parent = None
        if version_plan.fine_tuned_from is not None:
            path, ref = version_plan.fine_tuned_from
            found = list(
                ModelVersion.objects.filter(
                    ref.name_condition("model__"), version=ref.version
                ).select_related("model")[:2]
            )
            if len(found) != 1:
                raise ManifestError(
                    [
                        Problem(
                            path,
                            "unknown_model_version" if not found else "ambiguous_reference",
                            f"{ref} must name one model version declared earlier or registered",
                        )
                    ]
                )
            parent = found[0]
        run = None
        if version_plan.created_by_run is not None:
            path, run_id = version_plan.created_by_run
            run = (
                runs.get(run_id) or Run.objects.select_related("job").filter(run_id=run_id).first()
            )
            if run is None:
                raise ManifestError(
                    [Problem(path, "unknown_run", f"no run {run_id} is declared or recorded")]
                )
        try:
            services.model_version_register(
                namespace=plan.namespace,
                name=plan.name,
                version=version_plan.version,
                fine_tuned_from=parent,
                created_by_run=run,
                markets=version_plan.markets,
                **data,
            )
        except ApplicationError as exc:
            raise _refused(version_plan.path, exc) from None
