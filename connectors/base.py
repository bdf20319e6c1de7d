"""The connector protocol: what every target kind must declare and implement.

A connector is built from a target's `config` and is keyed by the identifier types that config
names (`id_types`). It declares its `capabilities`; subclasses override the methods for the
abilities they have:

- `locate(identifiers) -> Located`: count the subject's items;
- `erase(identifiers, op=...) -> Erased`: delete ("delete") or mask ("mask") them;
- `verify(identifiers) -> Verified`: look again and count what remains (the post-check);
- `scan() -> Iterator[Found]`: read the whole target once and yield, record by record (a line,
  a row), the identifiers its config names, as stored: what the subject index is built from.

`lineage_dataset()` gives the OpenLineage dataset (namespace, name) a config points at, or None:
the target registry ties the versions pipelines' events name there to the target.

Anything not overridden refuses with `NotSupported` (code `capability_not_supported`), so a
missing ability is an explicit answer, never a silent success.

`identifiers` maps an identifier type to normalized values, possibly of several subjects at once
so that one pass serves a batch of requests. Types the connector is not keyed by are ignored;
if none of its types is present the call is refused rather than reported as "nothing found".

Batching: a connector that sets `batches = True` also implements
`erase_groups(groups, op=...) -> {key: Erased}`: `groups` maps a key (one per erasure request)
to that request's identifiers, and the whole batch is erased in one pass (one rewrite of a file,
one SCAN of a keyspace, one `= ANY(...)` statement per batch of values). Each group gets its own
count; shared evidence (a file's before/after digests) is the same in every group's result.
`verify_groups(groups) -> {key: Verified}` is the matching post-check; by default it looks once
per group, and batching connectors override it to look once for all.

Handing over: a kind that Lup cannot erase itself (a person does it, or another system that
reports back) sets `hands_over = True` and implements `start(identifiers, handover=...)`,
which answers `Awaiting.PERSON` / `Awaiting.CALLBACK` (the run waits for a report) or, when
the other system answered at once, `Reported(erased, remaining, method)`. The engine runs
`erase` and `verify` for every other kind, and never needs to know which kind hands over.

Sharding: a kind whose config may name many files or objects under a prefix (a `dir` and a
`glob`) answers `sharded`, `shards()` and `shard(key)` (see `connectors.shards`); the engine
lists the shards once and erases each with the connector `shard(key)` gives, in tasks of their
own. Other kinds are never sharded.


Every call is bounded by the config's `timeout_seconds` (default 30), except `scan`: it reads
a whole target however large, so the index task's time limit bounds it (each query it sends
still has `timeout_seconds`). `scan` streams: it holds a record, or a batch of rows, at a time,
never the target. A kind that implements it lists `Capability.SCAN` (`targets.indexing` asks
for it). Connectors never log identifiers or matched values, only counts.
"""

import enum
import time
from abc import ABC
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import structlog

from core.errors import ApplicationError

from . import config as checks
from . import schema
from .config import ID_TYPE as ID_TYPE  # re-exported: kinds and callers import it from here
from .errors import (
    ConnectorConfigError,
    ConnectorTimeout,
    NotSupported,
    NoUsableIdentifiers,
    TargetUnreachable,
)
from .errors import HeldByStore as HeldByStore  # re-exported, as above
from .errors import TargetUnavailable as TargetUnavailable  # re-exported, as above

if TYPE_CHECKING:
    from .shards import Shard

log = structlog.get_logger(__name__)

Identifiers = Mapping[str, Sequence[str]]
# Batches: a key per group (the target run's id, in practice) and the group's identifiers.
Groups = Mapping[Hashable, Identifiers]
Op = Literal["delete", "mask", "none"]
# What `scan` yields for one record: the (identifier type, value as stored) pairs its match
# fields hold; empty for a record that holds none (or could not be read as a record).
Found = tuple[tuple[str, str], ...]
# The OpenLineage dataset a config points at, (namespace, name) as the naming spec spells it:
# ("file", an absolute path) for a local file, folder or table; ("s3://<bucket>", a key or
# prefix) for objects.
LineageName = tuple[str, str]

DEFAULT_TIMEOUT_SECONDS = schema.DEFAULT_TIMEOUT_SECONDS
MAX_TIMEOUT_SECONDS = schema.MAX_TIMEOUT_SECONDS


class Capability(enum.Enum):
    LOCATE = "locate"
    DELETE = "delete"
    MASK = "mask"
    VERIFY = "verify"
    RESOLVE = "resolve"  # map the subject's identifiers to another type (an identity source)
    SCAN = "scan"  # enumerate every identifier the target holds (for the subject index)

    @classmethod
    def for_op(cls, op: str) -> "Capability":
        if op == "delete":
            return cls.DELETE
        if op == "mask":
            return cls.MASK
        raise ApplicationError(
            "An erase operation is 'delete' or 'mask'.", fields={"op": op}, code="invalid_erase_op"
        )


@dataclass(frozen=True, slots=True)
class Located:
    count: int


@dataclass(frozen=True, slots=True)
class Erased:
    """What one erase call did. `op` is "none" when nothing matched, so nothing was changed.

    For files, `before` and `after` are "sha256:<hex>" digests of the (decompressed) content,
    and `skipped` counts lines left untouched because they are not JSON.
    """

    op: Op
    method: str
    count: int
    started_at: datetime
    completed_at: datetime
    before: str | None = None
    after: str | None = None
    skipped: int = 0


@dataclass(frozen=True, slots=True)
class History:
    """For a store that keeps earlier versions: `purged` when the post-check read every
    version the store still holds, `retained` (until `retained_until`) when it read only the
    current one because older ones are kept under the target's policy."""

    policy: Literal["purged", "retained"]
    versions_checked: int
    retained_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class Verified:
    method: str
    remaining: int
    at: datetime
    history: History | None = None


class Awaiting(enum.Enum):
    """A run handed over: it ends when the person or the system reports (`Reported`)."""

    PERSON = "awaiting_person"
    CALLBACK = "awaiting_callback"


@dataclass(frozen=True, slots=True)
class Reported:
    """What a person or another system reports it erased and still finds. A receipt attests
    their report, no more; `method` names who reported (the kind's `erase_method`)."""

    erased: int
    remaining: int
    method: str


@dataclass(frozen=True, slots=True)
class Handover:
    """What a connector that hands the work over is told of the run."""

    request_id: str
    run_id: int
    callback_url: str


def reported(*, erased: int, remaining: int, method: str) -> Reported:
    """Counts someone else gave: whole numbers, or refused with `invalid_count`."""
    if not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (erased, remaining)
    ):
        raise ApplicationError("Counts are whole numbers.", code="invalid_count")
    return Reported(erased=erased, remaining=remaining, method=method)


class Deadline:
    """The time left for one connector call. `clock` is a class attribute tests can swap."""

    clock = staticmethod(time.monotonic)

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.ends = self.clock() + seconds

    def remaining(self) -> float:
        return self.ends - self.clock()

    def check(self) -> float:
        left = self.remaining()
        if left <= 0:
            raise ConnectorTimeout(f"The target did not finish within {self.seconds:g} s.")
        return left


# A sharded pass looks at every shard with the same batch, up to three times a shard: its
# values are normalized once (a thousand requests take about 40 ms), not at every look. The
# last few batches are kept; a worker takes one pass at a time or so.
_OWNERS_KEPT = 4
_owners_kept: dict[tuple, tuple[dict[str, list[str]], dict[tuple[str, str], list]]] = {}


def _frozen(groups: "Groups") -> tuple:
    return tuple(
        (key, tuple((t, tuple(v) if not isinstance(v, str | bytes) else v) for t, v in ids.items()))
        for key, ids in groups.items()
    )


class Connector(ABC):  # noqa: B024 - every ability is optional; the defaults refuse
    """Base of all connectors. Subclasses set the class attributes, validate their own config in
    `__init__` (after calling this one) and override the abilities they declare."""

    # The target kind, as stored on the Target model and used in `CONNECTORS`.
    kind: ClassVar[str] = ""
    # Every ability the kind can have; an instance may have fewer (see `capabilities`).
    capabilities: ClassVar[frozenset[Capability]] = frozenset()
    # Recorded in receipts: how items were erased, and how the post-check looked again.
    erase_method: ClassVar[str] = ""
    verify_method: ClassVar[str] = ""

    # Whether `erase_groups` serves many requests in one pass (see the module docstring).
    batches: ClassVar[bool] = False
    # Whether a person or another system does the erasure (`start`), not `erase` and `verify`.
    hands_over: ClassVar[bool] = False
    # Whether the kind works on files under LUP_FILE_ROOTS (its workers must mount them).
    file_roots: ClassVar[bool] = False

    # For a kind that can mask, what its config must say for an instance to mask (a kind
    # removes MASK from an instance's `capabilities` when the config lacks it).
    mask_needs: ClassVar[str] = ""

    def mask_gaps(self) -> list[str]:
        """Match columns a mask would leave as they are (so masked rows would still name the
        subject): none for kinds whose config already requires them masked."""
        return []

    # The kind's config as a JSON Schema (`schema.config`): its keys, their types, what each
    # means and an example. The README's reference and the OpenAPI document are made from it.
    config_schema: ClassVar[dict[str, Any]] = schema.config(
        description="", properties={}, required=[], example={}
    )
    # The keys the kind's config may hold besides `timeout_seconds` (from `config_schema`);
    # any other is refused.
    config_keys: ClassVar[frozenset[str]] = frozenset()
    # The config key naming where the target is, for a failed `check` that names no other.
    reach_key: ClassVar[str] = ""

    # Identifier types this target is keyed by; set per instance from the config.
    id_types: frozenset[str] = frozenset()

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        if "config_schema" in cls.__dict__:
            cls.config_keys = frozenset(cls.config_schema["properties"]) - {"timeout_seconds"}

    def __init__(self, *, config: dict[str, Any]):
        self.config = checks.checked(config, keys=self.config_keys | {"timeout_seconds"})
        schema.secrets(self.config)
        schema.validate(self.config, self.config_schema, kind=self.kind)
        self.timeout_seconds = self._timeout(self.config.get("timeout_seconds"))

    def check_destination(self) -> None:
        """Refuse, when the target is registered, a place its config names that Lup must not
        reach (a webhook's inside address). Called with the config checked; nothing by default."""
        return None

    def check(self) -> None:
        """Look at the target once, as its registration does: refused with `TargetUnreachable`
        (`target_unreachable`) naming the key of what is missing (the file, the table, a
        column, an unset variable) or could not be reached. Kinds with nothing Lup can look at
        (a person, another system) have nothing to check."""
        try:
            self._reach()
        except TargetUnreachable:
            raise
        except ApplicationError as error:
            fields = error.fields or {self.reach_key or "config": "unreachable"}
            raise TargetUnreachable(error.detail, fields=fields) from None

    def _reach(self) -> None:  # noqa: B027 - nothing to look at, unless a kind says what
        """What `check` does: open the target and find what the config names in it."""

    def erase_reads_once(self) -> bool:
        """Whether `erase_groups` reads the data once and writes nothing where nothing matches,
        so a look before it would only read the data twice (a shard's task then erases at
        once). False unless a kind says so."""
        return False

    # --- abilities: refuse unless overridden ----------------------------------------------------

    def locate(self, identifiers: Identifiers) -> Located:
        raise self._not_supported(Capability.LOCATE)

    def erase(self, identifiers: Identifiers, *, op: str = "delete") -> Erased:
        raise self._not_supported(Capability.for_op(op))

    def verify(self, identifiers: Identifiers) -> Verified:
        raise self._not_supported(Capability.VERIFY)

    def erase_groups(self, groups: Groups, *, op: str = "delete") -> dict[Hashable, Erased]:
        raise self._not_supported(Capability.for_op(op))

    def scan(self) -> Iterator[Found]:
        """Every record's identifiers, as stored (the caller normalizes and hashes them)."""
        raise self._not_supported(Capability.SCAN)

    def verify_groups(self, groups: Groups) -> dict[Hashable, Verified]:
        return {key: self.verify(identifiers) for key, identifiers in groups.items()}

    def lineage_dataset(self) -> LineageName | None:
        """The OpenLineage dataset this config points at, so that a dataset a pipeline's
        events name finds its target; None for a kind no pipeline names as a dataset."""
        return None

    def start(self, identifiers: Identifiers, *, handover: Handover) -> "Awaiting | Reported":
        """Hand the erasure over (kinds with `hands_over`)."""
        raise self._not_supported(Capability.DELETE)

    def callback(self, *, body: bytes, timestamp: str, signature: str) -> Reported:
        """A handed-over system's later report, signed (kinds that take callbacks)."""
        raise self._not_supported(Capability.DELETE)

    def report(self, *, erased: int, remaining: int) -> Reported:
        """A person's or a system's later report, its counts checked."""
        if not self.hands_over:
            raise self._not_supported(Capability.DELETE)
        return reported(erased=erased, remaining=remaining, method=self.erase_method)

    def resolve(self, identifiers: Identifiers, *, want: str) -> list[str]:
        """The subject's values of identifier type `want`, found through the given ones."""
        raise self._not_supported(Capability.RESOLVE)

    # --- sharding (see `connectors.shards`) -----------------------------------------------------

    @property
    def sharded(self) -> bool:
        """Whether this config names many shards under a prefix rather than one place."""
        return False

    def shards(self) -> "list[Shard]":
        """The shards under the prefix, sorted by key (sharded configs only)."""
        raise self._not_sharded()

    def shard(self, key: str) -> "Connector":
        """A connector of this kind and settings for the one shard `key`."""
        raise self._not_sharded()

    def _not_sharded(self) -> ConnectorConfigError:
        return ConnectorConfigError(
            f"This {self.kind} target names one place, not shards.",
            fields={"config": "not sharded"},
        )

    # --- helpers for subclasses -----------------------------------------------------------------

    @staticmethod
    def _now() -> datetime:
        return datetime.now(UTC)

    def supports(self, capability: Capability) -> bool:
        return capability in self.capabilities

    def require(self, capability: Capability) -> None:
        if not self.supports(capability):
            raise self._not_supported(capability)

    def deadline(self) -> Deadline:
        return Deadline(self.timeout_seconds)

    def usable(self, identifiers: Identifiers) -> dict[str, list[str]]:
        """The values of the types this connector is keyed by: deduplicated, order kept."""
        values: dict[str, list[str]] = {}
        for id_type, given in identifiers.items():
            if id_type not in self.id_types:
                continue
            if isinstance(given, str | bytes):
                raise TypeError("identifiers map each type to a sequence of values")
            unique = list(dict.fromkeys(v for v in given if isinstance(v, str) and v))
            if unique:
                values[id_type] = unique
        if not values:
            raise NoUsableIdentifiers(
                f"This {self.kind} target is keyed by {', '.join(sorted(self.id_types))}; "
                "none of those identifier types was given.",
                fields={"id_types": sorted(self.id_types)},
            )
        return values

    def owners(self, groups: Groups) -> tuple[dict[str, list[str]], dict[tuple[str, str], list]]:
        """For a batch: every usable value by type (all groups together, deduplicated), and
        which groups each (type, value) belongs to, so a hit can be counted for its groups.
        Read-only: the same batch gets the same two dicts (see `_OWNERS_KEPT`)."""
        try:
            key = (type(self), frozenset(self.id_types), _frozen(groups))
        except TypeError:  # a value that is no sequence: `usable` says so
            key = None
        kept = _owners_kept.get(key) if key is not None else None
        if kept is None:
            kept = self._owners(groups)
            if key is not None:
                _owners_kept[key] = kept
                while len(_owners_kept) > _OWNERS_KEPT:
                    del _owners_kept[next(iter(_owners_kept))]
        return kept

    def _owners(self, groups: Groups) -> tuple[dict[str, list[str]], dict[tuple[str, str], list]]:
        union: dict[str, list[str]] = {}
        owners: dict[tuple[str, str], list] = {}
        for key, identifiers in groups.items():
            for id_type, values in self.usable(identifiers).items():
                for value in values:
                    holders = owners.setdefault((id_type, value), [])
                    if not holders:
                        union.setdefault(id_type, []).append(value)
                    holders.append(key)
        return union, owners

    @staticmethod
    def split(shared: Erased, counts: Mapping[Hashable, int]) -> dict[Hashable, Erased]:
        """Per group, the shared result of one batched erase with the group's own count."""
        return {
            key: Erased(
                op=shared.op if count else "none",
                method=shared.method,
                count=count,
                started_at=shared.started_at,
                completed_at=shared.completed_at,
                before=shared.before,
                after=shared.after,
                skipped=shared.skipped,
            )
            for key, count in counts.items()
        }

    @staticmethod
    def checked(method: str, remaining: Mapping[Hashable, int]) -> dict[Hashable, Verified]:
        at = datetime.now(UTC)
        return {key: Verified(method=method, remaining=n, at=at) for key, n in remaining.items()}

    def _not_supported(self, capability: Capability) -> NotSupported:
        return NotSupported(
            f"A {self.kind} target cannot {capability.value}.",
            fields={"capability": capability.value, "kind": self.kind},
        )

    @staticmethod
    def _timeout(value: Any) -> float:
        if value is None:
            return float(DEFAULT_TIMEOUT_SECONDS)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConnectorConfigError(
                "timeout_seconds must be a number.", fields={"timeout_seconds": "not a number"}
            )
        if not 0 < value <= MAX_TIMEOUT_SECONDS:
            raise ConnectorConfigError(
                f"timeout_seconds must be above 0 and at most {MAX_TIMEOUT_SECONDS}.",
                fields={"timeout_seconds": "out of range"},
            )
        return float(value)

    @staticmethod
    def _match_config(
        config: Mapping[str, Any], valid: Callable[[str], object], what: str
    ) -> dict[str, str]:
        """Validate `match`: {id_type: name}, each name accepted by `valid`."""
        return checks.mapping(config, "match", valid=valid, what=what)


class GroupScanning(Connector):
    """For batching connectors whose `_scan(groups)` counts every group's items in one read:
    the one-request abilities are one-group batches, and the post-check of a batch is one
    read. Subclasses implement `_scan` and `erase_groups`."""

    batches = True

    def _scan(self, groups: Groups) -> dict[Hashable, int]:
        raise NotImplementedError

    def locate(self, identifiers: Identifiers) -> Located:
        self.require(Capability.LOCATE)
        count = self._scan({None: identifiers})[None]
        log.info("connector.locate", kind=self.kind, count=count)
        return Located(count=count)

    def verify(self, identifiers: Identifiers) -> Verified:
        self.require(Capability.VERIFY)
        remaining = self._scan({None: identifiers})[None]
        log.info("connector.verify", kind=self.kind, remaining=remaining)
        return Verified(method=self.verify_method, remaining=remaining, at=self._now())

    def verify_groups(self, groups: Groups) -> dict[Hashable, Verified]:
        self.require(Capability.VERIFY)
        counts = self._scan(groups)
        log.info("connector.verify", kind=self.kind, groups=len(counts))
        return self.checked(self.verify_method, counts)

    def erase(self, identifiers: Identifiers, *, op: str = "delete") -> Erased:
        return self.erase_groups({None: identifiers}, op=op)[None]
