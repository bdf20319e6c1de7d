"""`s3_objects`: the objects under a prefix of an S3-compatible bucket, each one a file of a
`format` (`jsonl`, `csv`, `parquet`, `text`), plain or gzip (not Parquet).

Config:

    {
        "endpoint_url": "http://objects.internal:8333",  # optional; AWS's when absent
        "bucket": "evals",
        "prefix": "support/",                   # optional: every object under it
        "glob": "2026-*/part-*.jsonl.gz",       # optional: a sharded target (see below)
        "suffix": ".jsonl.gz",                  # optional: only keys ending so
        "format": "jsonl",
        "match": {"email": "user.email"},       # and the format's other keys, as its file kind
        "gzip": true,                           # optional; by default, true for a ".gz" key
        "access_key_id_env": "EVALS_S3_KEY_ID", # optional, with secret_access_key_env; or
        "credentials_file": "/run/secrets/s3",  # an AWS credentials file (and "profile")
        "keep_history": {"basis": "audit-trail-law", "versions": "rewrite"},  # optional
        "timeout_seconds": 30,
    }

Matching, masking and what a record is are exactly those of the file kinds (`jsonl_file`,
`csv_file`, `parquet_file`, `text_log`): their code runs unchanged over one object at a time
(`ObjectFormat` gives their `FileRewrite` base the object's stream instead of a file, a local
temporary file to spool the rewrite to, and a conditional upload to publish it). Objects are
streamed (Parquet, which seeks, is first copied to a local temporary file), so memory stays
bounded whatever an object's size; a large rewrite is uploaded in parts.

Concurrency: an object is replaced only if it is still the one read (`If-Match` on its ETag),
so a concurrent writer's object is never lost: the refused replacement is read and rewritten
again, up to `MAX_ATTEMPTS` times within the call's deadline. Objects are handled one after
another; a crash between two leaves some rewritten, and a retry finishes the rest.

Versioned buckets (versioning enabled or suspended): earlier versions hold the subject too.
By default every noncurrent version that holds a match is deleted (by version id), the one a
rewrite replaced included, and the post-check reads every version left under the prefix: the
receipt's `history` is `purged` with the number of versions read. Where the operator keeps
history under a legal basis named in the target (`keep_history`):

- `"versions": "rewrite"`: an object with a version holding a match has its history written
  again, oldest version first, each on top of the last and conditioned on it (the versions
  holding matches rewritten by the format, the others copied as stored), then its original
  versions are deleted; the contents and their order are kept, not the versions' ids and
  dates. An object whose latest version is a delete marker has no history to keep: its
  versions holding a match are deleted. The post-check reads every version: `purged`;
- `"versions": "retain"`: noncurrent versions are left as they are, the post-check reads the
  current objects only, and `history` is `retained` until the date the target names.

Before anything is changed (`purge` and `rewrite`), every version holding a match is looked at
for an object lock (retention or legal hold); a lock ends the run `held` with the lock as its
exception (`HeldByStore`), never silently.

`Erased.before` / `after`: "sha256:<hex>" of the lines `sha256:<hex of the key> <digest of the
object as its format digests a file>` of every current object, in key order (with "rewrite",
of every version rewritten, named `<key>#<position in its history>`).

Sharded (`glob`, a pattern of keys relative to `prefix`, as the file kinds' glob is of names
under `dir`): each matching object is a shard (`connectors.shards`), erased by a task of its
own across the workers. `shards()` lists the keys once, page by page, with their sizes (in a
versioned bucket whose history is not retained, every key with a version kept, a deleted
object's included, sized by all its versions); `shard(key)` is this kind with the same
settings for exactly that one object, its versions, locks and history handled as above. A
prefix without a glob stays one run over every object under it.

Scanning (`scan`, for the subject index): every current object under the prefix, in key order,
read as the format's file kind scans a file; earlier versions are not indexed.

Not supported: Glacier-class objects that must be restored before they are read; rewriting a
noncurrent version in place (S3 versions are immutable: a history is written again instead);
and, with "rewrite", a locked version that holds no match (the pre-check looks at versions
holding one; deleting the originals would then stop the run `held` with the history written
twice).
"""

import contextlib
import hashlib
import os
from collections.abc import Hashable, Iterator
from datetime import UTC, datetime
from typing import Any

import structlog

from . import schema
from .base import (
    Capability,
    Connector,
    ConnectorConfigError,
    Deadline,
    Erased,
    Found,
    Groups,
    History,
    Identifiers,
    LineageName,
    Located,
    Verified,
)
from .csv_file import CsvFile
from .errors import HeldByStore, ObjectChanged, TargetUnavailable, TargetUnreachable
from .files import digest
from .jsonl_file import JsonlFile
from .parquet_file import ParquetFile
from .s3_store import (
    Lock,
    ObjectGone,
    ObjectRef,
    Store,
    Version,
    client,
    credentials,
    unavailable_on_store_error,
)
from .secrets import confined
from .shards import MAX_SHARDS, Shard, checked_glob, glob_pattern
from .text_log import TextLog

log = structlog.get_logger(__name__)

# Reads and conditional replacements of one object before the call gives up (and the run
# retries later): each refused replacement means another writer changed the object meanwhile.
MAX_ATTEMPTS = 5
# A legal hold has no end date: the exception's `until` says so with the latest time there is.
INDEFINITE = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
FORMAT_KEYS = {
    "jsonl": ("match",),
    "csv": ("match", "delimiter", "encoding", "mask_columns", "mask_value"),
    "parquet": ("match", "mask_columns", "mask_value"),
    "text": ("id_types", "mode"),
}
ALL_FORMAT_KEYS = frozenset(key for keys in FORMAT_KEYS.values() for key in keys)


class ObjectFormat:
    """A file kind's parsing over one object of a bucket at a time: `current` is the object,
    `store` reads it and publishes its rewrite (see `FileRewrite`'s hooks)."""

    store: Store
    current: ObjectRef | None = None
    random_access: bool

    def resolved(self) -> ObjectRef | None:
        return self.current

    def files(self) -> list[ObjectRef | None]:  # text_log's list of files to read
        return [self.current]

    @contextlib.contextmanager
    def locked(self, path: Any, deadline: Deadline) -> Iterator[None]:
        # No lock to take: the conditional write refuses to replace an object that changed.
        yield None

    def compressed(self, ref: ObjectRef) -> bool:
        return ref.gzip

    def open(self, ref: ObjectRef) -> contextlib.AbstractContextManager:
        return self.store.open(ref, spooled=self.random_access)

    def spool(self, path: Any, st: Any) -> Any:
        return self.store.spool()

    def gzip_header(self, ref: ObjectRef, source: Any) -> bytes:
        return ref.gzip_header  # peeked at as the object was opened

    def publish(self, temp: str, ref: ObjectRef, dir_fd: int | None) -> None:
        self.store.publish(temp, ref)


class _Jsonl(ObjectFormat, JsonlFile):
    pass


class _Csv(ObjectFormat, CsvFile):
    pass


class _Parquet(ObjectFormat, ParquetFile):
    pass


class _Text(ObjectFormat, TextLog):
    pass


FORMATS: dict[str, type] = {"jsonl": _Jsonl, "csv": _Csv, "parquet": _Parquet, "text": _Text}


def _format_key(key: str, kind: type[Connector]) -> dict[str, Any]:
    """A format key's schema, as its file kind describes it, saying which formats take it."""
    formats = ", ".join(name for name, keys in FORMAT_KEYS.items() if key in keys)
    described = dict(kind.config_schema["properties"][key])
    described["description"] = f"As in `{kind.kind}` ({formats}): {described['description']}"
    return described


class S3Objects(Connector):
    kind = "s3_objects"
    config_schema = schema.config(
        description="The objects under a prefix of an S3-compatible bucket, each a JSON Lines, "
        "CSV, Parquet or text file: matched, masked and rewritten as by the file kinds, each "
        "replaced only if unchanged since it was read; earlier versions in a versioned bucket "
        "are deleted too, unless history is kept under a named basis.",
        properties={
            "endpoint_url": {
                "type": "string",
                "pattern": "^https?://[^\\s/@]+(/[^\\s]*)?$",
                "description": "The store's URL (any S3-compatible store); AWS S3 when absent.",
            },
            "region": {
                "type": "string",
                "minLength": 1,
                "maxLength": 64,
                "default": "us-east-1",
                "description": "The region requests are signed for.",
            },
            "bucket": {
                "type": "string",
                "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{1,254}$",
                "description": "The bucket.",
            },
            "prefix": {
                "type": "string",
                "maxLength": 1024,
                "default": "",
                "description": "Every object whose key starts so is part of the target.",
            },
            "glob": {
                "type": "string",
                "minLength": 1,
                "maxLength": 512,
                "description": "A sharded target: the pattern of the keys under `prefix` that "
                "are its shards (`*.jsonl.gz`, `2026-*/part-*.csv`; `**` for any depth), each "
                "erased by a task of its own (or a group of small ones) across every worker. "
                "Relative, without `..`. Without it, the prefix is erased in one run.",
            },
            "suffix": {
                "type": "string",
                "maxLength": 256,
                "description": "Only the keys ending so (`.jsonl.gz`).",
            },
            "format": {
                "type": "string",
                "enum": list(FORMATS),
                "description": "How each object is read: as a `jsonl_file`, `csv_file`, "
                "`parquet_file` or `text_log`.",
            },
            "gzip": {
                "type": "boolean",
                "description": "Read and write the objects as gzip (not Parquet); by default, "
                "true for a key ending in .gz.",
            },
            "match": {
                "type": "object",
                "minProperties": 1,
                "propertyNames": schema.ID_TYPE,
                "additionalProperties": {"type": "string", "minLength": 1},
                "description": "As in the format's file kind (jsonl, csv, parquet): identifier "
                "type -> the field path or column holding it.",
            },
            "id_types": _format_key("id_types", TextLog),
            "mode": _format_key("mode", TextLog),
            "delimiter": _format_key("delimiter", CsvFile),
            "encoding": _format_key("encoding", CsvFile),
            "mask_columns": _format_key("mask_columns", CsvFile),
            "mask_value": _format_key("mask_value", CsvFile),
            "access_key_id_env": schema.env_name(
                "The environment variable holding the access key id (with "
                "`secret_access_key_env`); by default, boto3's own chain (AWS_ACCESS_KEY_ID...)."
            ),
            "secret_access_key_env": schema.env_name(
                "The environment variable holding the secret access key."
            ),
            "credentials_file": {
                "type": "string",
                "minLength": 1,
                "description": "An AWS credentials file (a mounted secret) under one of "
                "`LUP_SECRET_FILE_ROOTS`, instead of the environment.",
            },
            "profile": {
                "type": "string",
                "minLength": 1,
                "maxLength": 64,
                "description": "The profile of the credentials file to use.",
            },
            "keep_history": {
                "type": "object",
                "properties": {
                    "basis": {
                        "type": "string",
                        "pattern": "^[A-Za-z0-9._:/+-]{1,128}$",
                        "description": "The legal basis history is kept under.",
                    },
                    "versions": {
                        "type": "string",
                        "enum": ["rewrite", "retain"],
                        "description": '"rewrite": an object\'s history is written again, '
                        "version by version without the subject, and the originals deleted "
                        '(receipt: `purged`); "retain": noncurrent versions are left as they '
                        "are (receipt: `retained` until `until`).",
                    },
                    "until": {
                        "type": "string",
                        "format": "date-time",
                        "description": "Until when history is retained (RFC 3339, with its "
                        'offset); required with "retain".',
                    },
                },
                "required": ["basis", "versions"],
                "if": {"properties": {"versions": {"const": "retain"}}},
                "then": {"required": ["until"]},
                "additionalProperties": False,
                "description": "In a versioned bucket, keep the history of objects under a "
                "legal basis instead of deleting the noncurrent versions that hold the subject.",
            },
        },
        required=["bucket", "format"],
        example={
            "endpoint_url": "http://objects.internal:8333",
            "bucket": "evals",
            "prefix": "support/",
            "format": "jsonl",
            "match": {"email": "user.email"},
            "access_key_id_env": "EVALS_S3_KEY_ID",
            "secret_access_key_env": "EVALS_S3_SECRET",
        },
    )
    # Every ability some format has; an instance has its format's (`jsonl` cannot mask).
    capabilities = frozenset(
        {Capability.LOCATE, Capability.DELETE, Capability.MASK, Capability.VERIFY, Capability.SCAN}
    )
    batches = True
    reach_key = "bucket"
    mask_needs = 'format "csv", "parquet" or "text"'

    def __init__(self, *, config: dict[str, Any]):
        super().__init__(config=config)
        self.bucket: str = self.config["bucket"]
        self.prefix: str = self.config.get("prefix", "")
        self.suffix: str = self.config.get("suffix", "")
        self.glob: str | None = None
        if "glob" in self.config:
            self.glob = checked_glob(self.config, under="prefix")
            self.pattern = glob_pattern(self.glob)
        # A shard's connector (`shard`): its prefix is the object's key, and only that key.
        self.exact: str | None = None
        name = self.config["format"]
        self.gzip: bool | None = self.config.get("gzip")
        if name == "parquet" and self.gzip:
            raise ConnectorConfigError(
                "Parquet objects are compressed inside; gzip is for the line formats.",
                fields={"gzip": "not for parquet"},
            )
        misplaced = sorted(set(self.config) & ALL_FORMAT_KEYS - set(FORMAT_KEYS[name]))
        if misplaced:
            raise ConnectorConfigError(
                f"{misplaced[0]} is not a setting of the {name} format.",
                fields={misplaced[0]: "unknown key"},
            )
        access_keys(self.config)
        keep = self.config.get("keep_history")
        # What becomes of noncurrent versions holding the subject (in a versioned bucket).
        self.history = keep["versions"] if keep else "purge"
        self.keep_until = self._keep_until(keep) if self.history == "retain" else None
        settings = {key: self.config[key] for key in FORMAT_KEYS[name] if key in self.config}
        self.format: Any = FORMATS[name](
            config={"path": "object", "timeout_seconds": self.timeout_seconds, **settings}
        )
        self.capabilities = self.format.capabilities
        self.mask_needs = self.format.mask_needs or type(self).mask_needs
        self.id_types = self.format.id_types
        self.erase_method = f"s3_{name}_conditional_rewrite"
        self.verify_method = f"s3_{name}_rescan"

    @staticmethod
    def _keep_until(keep: dict[str, str]) -> datetime:
        try:
            until = datetime.fromisoformat(keep["until"].replace("Z", "+00:00"))
        except ValueError:
            until = None
        if until is None or until.tzinfo is None:
            raise ConnectorConfigError(
                "keep_history.until is an RFC 3339 time with its offset.",
                fields={"keep_history.until": "not in the expected form"},
            )
        return until.astimezone(UTC)

    def mask_gaps(self) -> list[str]:
        return self.format.mask_gaps()

    # --- the store ------------------------------------------------------------------------------

    def _store(self) -> Store:
        for key in ("access_key_id_env", "secret_access_key_env"):
            if key in self.config and not os.environ.get(self.config[key]):
                raise ConnectorConfigError(
                    f"The environment variable {self.config[key]} is not set.",
                    fields={key: "not set"},
                )
        store = Store(client(self.config, self.timeout_seconds), self.bucket)
        self.format.store = store
        return store

    def _reach(self) -> None:
        """The bucket answers and its objects can be listed with the credentials given; the
        first object is read as its format reads a file (a CSV header, a Parquet schema)."""
        store = self._store()
        try:
            try:
                with unavailable_on_store_error():
                    store.s3.head_bucket(Bucket=self.bucket)
            except ObjectGone:
                raise TargetUnreachable(
                    "The bucket does not exist.", fields={"bucket": "not found"}
                ) from None
            first = next((key for key in store.keys(self.prefix) if self._wanted(key)), None)
            if first is not None:
                with store.open(self._ref(first), spooled=self.format.random_access) as opened:
                    self.format._look(opened[0])
        except TargetUnavailable as error:
            raise TargetUnreachable(error.detail, fields={"bucket": "unreachable"}) from None

    def _wanted(self, key: str) -> bool:
        if self.exact is not None:
            return key == self.exact
        if self.glob is not None and not self.pattern.fullmatch(key[len(self.prefix) :]):
            return False
        return key.endswith(self.suffix)

    # --- sharding -------------------------------------------------------------------------------

    @property
    def sharded(self) -> bool:
        return self.glob is not None and self.exact is None

    def shards(self) -> list[Shard]:
        """The keys matching the glob, relative to the prefix, with their sizes; in a versioned
        bucket whose history is not retained, every key with a version kept (all of them read
        and erased by its shard), a deleted object's too."""
        if not self.sharded:
            raise self._not_sharded()
        store = self._store()
        sizes: dict[str, int] = {}
        if self._history_kept(store) and self.history != "retain":
            listed = ((v.key, v.size) for v in store.versions(self.prefix))
        else:
            listed = store.sizes(self.prefix)
        for key, size in listed:
            if not self._wanted(key):
                continue
            relative = key[len(self.prefix) :]
            sizes[relative] = sizes.get(relative, 0) + size
            if len(sizes) > MAX_SHARDS:
                raise ConnectorConfigError(
                    f"glob matches more than {MAX_SHARDS} objects: narrow it or split the target.",
                    fields={"glob": "too many shards"},
                )
        log.info("connector.shards", kind=self.kind, shards=len(sizes))
        return [Shard(key=key, size=sizes[key]) for key in sorted(sizes)]

    def shard(self, key: str) -> "S3Objects":
        """This kind with the same settings for the one object `key` (relative to the prefix)."""
        if not self.sharded:
            raise self._not_sharded()
        if not self._wanted(self.prefix + key):
            raise ConnectorConfigError(
                "A shard's key does not match the target's glob.", fields={"glob": "not a shard"}
            )
        config = {k: v for k, v in self.config.items() if k != "glob"}
        one = type(self)(config={**config, "prefix": self.prefix + key})
        one.exact = self.prefix + key
        return one

    def _ref(self, key: str, version_id: str | None = None) -> ObjectRef:
        if self.format.random_access:  # Parquet compresses inside; never gzip
            gzip = False
        else:
            gzip = self.gzip if self.gzip is not None else key.endswith(".gz")
        return ObjectRef(key=key, version_id=version_id, gzip=gzip)

    def _history_kept(self, store: Store) -> bool:
        """Whether the bucket keeps earlier versions (versioning enabled, or suspended)."""
        return bool(store.versioning())

    # --- abilities ------------------------------------------------------------------------------

    def locate(self, identifiers: Identifiers) -> Located:
        self.require(Capability.LOCATE)
        return Located(count=self._look({None: identifiers})[0][None])

    def verify(self, identifiers: Identifiers) -> Verified:
        return self.verify_groups({None: identifiers})[None]

    def erase(self, identifiers: Identifiers, *, op: str = "delete") -> Erased:
        return self.erase_groups({None: identifiers}, op=op)[None]

    def verify_groups(self, groups: Groups) -> dict[Hashable, Verified]:
        """Every object read again; in a versioned bucket every version it keeps, unless
        history is retained (`keep_history` "retain"): then the current objects, and history
        says until when the others are kept."""
        self.require(Capability.VERIFY)
        counts, read, kept = self._look(groups)
        history = None
        if kept:
            history = (
                History(policy="retained", versions_checked=read, retained_until=self.keep_until)
                if self.history == "retain"
                else History(policy="purged", versions_checked=read)
            )
        log.info("connector.verify", kind=self.kind, groups=len(counts), objects=read)
        at = self._now()
        return {
            key: Verified(method=self.verify_method, remaining=n, at=at, history=history)
            for key, n in counts.items()
        }

    def erase_reads_once(self) -> bool:
        """As the format's file kind, where the bucket keeps no history: otherwise a look first
        reads every version, and finds the locks that hold one, before anything is changed."""
        return self.format.erase_reads_once() and not self._history_kept(self._store())

    def scan(self) -> Iterator[Found]:
        """Each current object's records in key order, as the format's file kind scans a
        file (streamed; Parquet through a local copy). An object deleted meanwhile is
        skipped."""
        self.require(Capability.SCAN)
        store = self._store()
        for key in store.keys(self.prefix):
            if not self._wanted(key):
                continue
            self.format.current = self._ref(key)
            with contextlib.suppress(ObjectGone):
                yield from self.format.scan()

    def lineage_dataset(self) -> LineageName:
        """The bucket and the prefix, without its slashes ("/" for the whole bucket)."""
        return (f"s3://{self.bucket}", self.prefix.strip("/") or "/")

    def _look(self, groups: Groups) -> tuple[dict[Hashable, int], int, bool]:
        """Per group, the items found; how many objects (or versions) were read; and whether
        the bucket keeps history."""
        self.format.owners(groups)  # refuse identifiers of no usable type before any request
        deadline = self.deadline()
        store = self._store()
        kept = self._history_kept(store)
        counts: dict[Hashable, int] = dict.fromkeys(groups, 0)
        read = 0
        if kept and self.history != "retain":
            refs = (self._ref(v.key, v.version_id) for v in store.versions(self.prefix))
        else:
            refs = (self._ref(key) for key in store.keys(self.prefix))
        for ref in refs:
            if not self._wanted(ref.key):
                continue
            deadline.check()
            found = self._found(ref, groups)
            if found is None:
                continue
            read += 1
            for key, n in found.items():
                counts[key] += n
        return counts, read, kept

    def _found(self, ref: ObjectRef, groups: Groups) -> dict[Hashable, int] | None:
        """Per group, the items one object (or version) holds; None if it is gone."""
        self.format.current = ref
        try:
            return {key: v.remaining for key, v in self.format.verify_groups(groups).items()}
        except ObjectGone:
            return None

    def erase_groups(self, groups: Groups, *, op: str = "delete") -> dict[Hashable, Erased]:
        """Rewrite every object holding a group's items, in one pass over each, then (in a
        versioned bucket, history not kept) delete every noncurrent version still holding one;
        or, history kept with "rewrite", write the histories holding one again. Each group
        gets its own count and the shared digests."""
        self.require(Capability.for_op(op))
        self.format.owners(groups)
        deadline = self.deadline()
        started = self._now()
        store = self._store()
        history = self.history if self._history_kept(store) else "none"
        if history in ("purge", "rewrite") and store.object_lock():
            self._refuse_if_locked(store, groups, deadline)
        counts: dict[Hashable, int] = dict.fromkeys(groups, 0)
        befores: list[tuple[str, str]] = []
        afters: list[tuple[str, str]] = []
        replaced: set[tuple[str, str | None]] = set()
        if history == "rewrite":
            deleted = self._rewrite_histories(store, groups, op, deadline, counts, befores, afters)
            log.info("connector.erase", kind=self.kind, op=op, versions_deleted=deleted)
            return self._results(op, counts, started, befores, afters)
        for key in store.keys(self.prefix):
            if not self._wanted(key):
                continue
            deadline.check()
            done = self._rewrite(key, groups, op, deadline)
            if done is None:
                continue
            results, ref = done
            for group, erased in results.items():
                counts[group] += erased.count
            shared = next(iter(results.values()))
            befores.append((key, shared.before or ""))
            afters.append((key, shared.after or ""))
            if shared.before != shared.after:
                replaced.add((key, ref.read_version))
        purged = history == "purge"
        deleted = self._purge(store, groups, counts, replaced, deadline) if purged else 0
        log.info(
            "connector.erase",
            kind=self.kind,
            op=op,
            count=sum(counts.values()),
            objects=len(befores),
            rewritten=len(replaced),
            versions_deleted=deleted,
        )
        return self._results(op, counts, started, befores, afters)

    def _results(
        self,
        op: str,
        counts: dict[Hashable, int],
        started: datetime,
        befores: list[tuple[str, str]],
        afters: list[tuple[str, str]],
    ) -> dict[Hashable, Erased]:
        completed = self._now()
        before, after = _combined(befores), _combined(afters)
        return {
            group: Erased(
                op=op if count else "none",  # type: ignore[arg-type]
                method=self.erase_method,
                count=count,
                started_at=started,
                completed_at=completed,
                before=before,
                after=after,
            )
            for group, count in counts.items()
        }

    def _rewrite(
        self, key: str, groups: Groups, op: str, deadline: Deadline
    ) -> tuple[dict[Hashable, Erased], ObjectRef] | None:
        """The format's erase over one object, read and replaced again while another writer
        changes it in between; None if the object is gone."""
        for attempt in range(1, MAX_ATTEMPTS + 1):
            ref = self._ref(key)
            self.format.current = ref
            try:
                return self.format.erase_groups(groups, op=op), ref
            except ObjectGone:
                return None
            except ObjectChanged:
                if attempt == MAX_ATTEMPTS:
                    raise
                deadline.check()
                log.info("connector.object_changed", kind=self.kind, attempt=attempt)
        return None  # not reached

    def _purge(
        self,
        store: Store,
        groups: Groups,
        counts: dict[Hashable, int],
        replaced: set[tuple[str, str | None]],
        deadline: Deadline,
        only: set[str] | None = None,
    ) -> int:
        """Delete every noncurrent version (of the keys `only` names, if given) holding a
        group's items. A version a rewrite just replaced holds items already counted; the
        others' items are counted as erased."""
        deleted = 0
        for version in list(store.versions(self.prefix)):
            if version.latest or not self._wanted(version.key):
                continue
            if only is not None and version.key not in only:
                continue
            deadline.check()
            found = self._found(self._ref(version.key, version.version_id), groups)
            if not found or not any(found.values()):
                continue
            self._delete(store, version, found)
            deleted += 1
            if (version.key, version.version_id) not in replaced:
                for key, n in found.items():
                    counts[key] += n
        return deleted

    def _delete(self, store: Store, version: Version, found: dict[Hashable, int]) -> None:
        """Delete one version; refused by a lock that came meanwhile, the erasure is held."""
        try:
            store.delete_version(version.key, version.version_id or "null")
        except TargetUnavailable:
            lock = store.lock(version.key, version.version_id, self._now())
            if lock is None:
                raise
            raise _held([lock], found) from None

    def _rewrite_histories(
        self,
        store: Store,
        groups: Groups,
        op: str,
        deadline: Deadline,
        counts: dict[Hashable, int],
        befores: list[tuple[str, str]],
        afters: list[tuple[str, str]],
    ) -> int:
        """`keep_history` "rewrite": every object with a version holding a group's items has
        its whole history written again. An object whose latest version is a delete marker
        has no history to keep: its versions holding items are deleted. Returns the number
        of versions deleted."""
        gone = store.deleted(self.prefix)
        chains: dict[str, list[Version]] = {}
        for version in store.versions(self.prefix):
            if self._wanted(version.key) and version.key not in gone:
                chains.setdefault(version.key, []).append(version)
        deleted = 0
        for key, newest_first in chains.items():
            deadline.check()
            chain, holding = self._history(key, newest_first, groups)
            if holding:
                digests, replayed = self._replay(
                    store, key, chain, holding, groups, op, deadline, counts
                )
                deleted += replayed
                befores.extend((name, before) for name, before, _ in digests)
                afters.extend((name, after) for name, _, after in digests)
        return deleted + self._purge(store, groups, counts, set(), deadline, only=gone)

    def _replay(
        self,
        store: Store,
        key: str,
        chain: list[Version],
        holding: set[str | None],
        groups: Groups,
        op: str,
        deadline: Deadline,
        counts: dict[Hashable, int],
    ) -> tuple[list[tuple[str, str, str]], int]:
        """Write an object's history again, oldest version first, each on top of the last
        and conditioned on it (the first on the current version's ETag): the versions holding
        items rewritten by the format, the others copied as they are; then delete the
        originals. A concurrent write refuses a step: the versions written so far are deleted
        and the history, as it is then, is written again. Returns, per version rewritten, its
        name (`<key>#<position in the history>`) and its digests before and after; and the
        number of original versions deleted."""
        for attempt in range(1, MAX_ATTEMPTS + 1):
            condition = chain[-1].etag
            written: list[str | None] = []
            found: dict[Hashable, int] = dict.fromkeys(groups, 0)
            digests: list[tuple[str, str, str]] = []
            try:
                for position, version in enumerate(chain):
                    deadline.check()
                    ref = self._ref(key, version.version_id)
                    ref.condition = condition
                    if version.version_id in holding:
                        self.format.current = ref
                        results = self.format.erase_groups(groups, op=op)
                        for group, erased in results.items():
                            found[group] += erased.count
                        shared = next(iter(results.values()))
                        digests.append(
                            (f"{key}#{position}", shared.before or "", shared.after or "")
                        )
                    if ref.written is None:  # nothing to change in this version: a copy
                        store.copy_version(ref)
                    assert ref.written is not None
                    written.append(ref.written.version_id)
                    condition = ref.written.etag
            except (ObjectChanged, ObjectGone):
                for version_id in written:
                    store.delete_version(key, version_id or "null")
                if attempt == MAX_ATTEMPTS:
                    raise
                log.info("connector.object_changed", kind=self.kind, attempt=attempt)
                newest_first = [v for v in store.versions(key) if v.key == key]
                chain, holding = self._history(key, newest_first, groups)
                if not holding or not chain[-1].latest:
                    # Nothing left to rewrite, or the object was deleted meanwhile (its
                    # versions are then purged by the next pass, as a deleted key's).
                    return [], 0
                continue
            for version in chain:
                self._delete(store, version, found)
            for group, n in found.items():
                counts[group] += n
            return digests, len(chain)
        return [], 0  # not reached

    def _history(
        self, key: str, newest_first: list[Version], groups: Groups
    ) -> tuple[list[Version], set[str | None]]:
        """A key's versions, oldest first, and those holding a group's items."""
        chain = newest_first[::-1]
        holding = {
            v.version_id
            for v in chain
            if any((self._found(self._ref(key, v.version_id), groups) or {}).values())
        }
        return chain, holding

    def _refuse_if_locked(self, store: Store, groups: Groups, deadline: Deadline) -> None:
        """Before changing anything: every version holding a group's items (the current one
        too, since its rewrite makes it a version to delete) may be deleted, or the erasure
        is held by the store's lock."""
        now = self._now()
        locks: list[Lock] = []
        found: dict[Hashable, int] = dict.fromkeys(groups, 0)
        for version in store.versions(self.prefix):
            if not self._wanted(version.key):
                continue
            deadline.check()
            held = self._found(self._ref(version.key, version.version_id), groups)
            if not held or not any(held.values()):
                continue
            for key, n in held.items():
                found[key] += n
            lock = store.lock(version.key, version.version_id, now)
            if lock is not None:
                locks.append(lock)
        if locks:
            raise _held(locks, found)


def _held(locks: list[Lock], found: dict[Hashable, int]) -> HeldByStore:
    """The lock that lasts longest (a legal hold has no end) as the run's exception."""
    lock = max(locks, key=lambda lock: lock.until or INDEFINITE)
    return HeldByStore(
        "An object lock forbids deleting a version that holds the subject.",
        basis=lock.basis,
        until=(lock.until or INDEFINITE).astimezone(UTC),
        found=found,
    )


def _combined(digests: list[tuple[str, str]]) -> str:
    """One digest for many objects: keys hashed, since a key may carry a name."""
    combined = hashlib.sha256()
    for key, value in digests:
        hashed = hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()
        combined.update(f"sha256:{hashed} {value}\n".encode())
    return digest(combined)


# --- the same store for kinds whose own library reads it (`iceberg_table`, `delta_table`) ----

# Where the store is and where its credentials are (never the credentials themselves).
ACCESS_KEYS = (
    "endpoint_url",
    "region",
    "access_key_id_env",
    "secret_access_key_env",
    "credentials_file",
    "profile",
)


def access_keys_schema(what: str) -> dict[str, dict[str, Any]]:
    """`s3_objects`' access keys, each described as for `what` ("a warehouse on S3")."""
    keys = {}
    for key in ACCESS_KEYS:
        described = dict(S3Objects.config_schema["properties"][key])
        text = described["description"]
        described["description"] = f"For {what}: {text[0].lower()}{text[1:]}"
        keys[key] = described
    return keys


def access_keys(config: dict[str, Any]) -> dict[str, Any]:
    """The config's access keys, checked as `s3_objects` checks them: the two variables
    together, a credentials file under the secret roots."""
    given = {key: config[key] for key in ACCESS_KEYS if key in config}
    pair = [k for k in ("access_key_id_env", "secret_access_key_env") if k in given]
    if len(pair) == 1:
        missing = ({"access_key_id_env", "secret_access_key_env"} - set(pair)).pop()
        raise ConnectorConfigError(
            "access_key_id_env and secret_access_key_env go together.",
            fields={missing: "required"},
        )
    if "credentials_file" in given:
        confined(given["credentials_file"], "credentials_file")
    return given


def access_credentials(given: dict[str, Any]) -> tuple[str, str, str | None] | None:
    """The credentials the access keys lead to (an unset variable refused, naming its key)."""
    for key in ("access_key_id_env", "secret_access_key_env"):
        if key in given and not os.environ.get(given[key]):
            raise ConnectorConfigError(
                f"The environment variable {given[key]} is not set.", fields={key: "not set"}
            )
    return credentials(given)
