"""`iceberg_table`: rows of one Apache Iceberg table, deleted through its own library (pyiceberg)
and a SQL catalog, its warehouse on local files or on an S3-compatible store.

Config:

    {
        "catalog_uri_env": "LAKE_CATALOG_URL",   # SQLAlchemy URL of the SQL catalog (or
                                                  # "catalog_uri_file"): postgresql+psycopg://…
                                                  # ("DATABASE_URL": on Lup's own PostgreSQL)
        "catalog_name": "lake",                   # the catalog's name in that database
        "table": "crm.contacts",                  # namespace.table
        "match": {"email": "email"},              # id_type -> column
        "history": {"policy": "purged"},          # optional: older snapshots (below)
        # A warehouse on S3 (the table's location s3://…): where the table may lie, where the
        # store is and where its credentials are, as for `s3_objects` (never the credentials):
        "warehouse_uri": "s3://lake/warehouse",
        "endpoint_url": "http://objects.internal:8333",
        "access_key_id_env": "LAKE_S3_KEY_ID",    # with secret_access_key_env; or
        "credentials_file": "/run/secrets/s3",    # an AWS credentials file (and "profile")
    }

Erasing is `table.delete(filter)`: pyiceberg rewrites the data files holding the subjects' rows
(copy on write) in a new snapshot, one for a whole batch of requests (`erase_groups`: one scan
of the match columns counts each request's rows, then one delete of every value). The older
snapshots still hold them, and so do the manifest entries that record the removed files (their
column bounds can be the subject's values).

History (`history`): with `{"policy": "purged"}` the post-check first commits an empty append, so
the current snapshot no longer carries the manifests of removed files; expires every snapshot
but the current one and those branches or tags protect; deletes the files only the expired
snapshots referenced (manifest lists, manifests, data and delete files, all under the table's
location) and unreferenced files under the location older than `ORPHAN_GRACE` (a writer's
files that are not yet committed are younger); then reads every snapshot left: a scan for the
subject's rows and a look at each manifest entry's column bounds and partition values (the
receipt's `versions_checked` is the number of snapshots read). A tagged
snapshot that holds the subject therefore fails the run until the tag is removed. With
`{"policy": "retained", "retain_days": N}` snapshots older than N days are expired, the
current snapshot alone is read, and the receipt says older ones are kept until the post-check's
time plus N days. Scanning (`scan`, for the subject index) streams the current snapshot's
match columns a record batch at a time (text, or integers as their decimal text).

Where the files are: a table whose location is a local path must be under `LUP_FILE_ROOTS`; one
whose location is `s3://bucket/prefix` (or s3a://, s3n://) must be under the config's
`warehouse_uri` (the catalog is not trusted to say where deleting is safe), and is read and
written with pyiceberg's PyArrow FileIO, given the endpoint, region and credentials the
target's S3 keys say (read when the catalog is opened: environment variables, a credentials
file, or boto3's own chain). A table's own properties never choose its FileIO (an
`s3.endpoint` written into the table would otherwise get the target's credentials). On S3 the
clean-up deletes objects under the location's prefix (a prefix followed by "/": a table whose
name merely starts alike is left alone); in a versioned bucket every version of such an object
is deleted, so no earlier version keeps its bytes. Not supported: masking, REST or Hive
catalogs, other remote stores.
"""

import contextlib
import functools
import os
import time
import urllib.parse
from collections import defaultdict
from collections.abc import Hashable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog

from . import schema, secrets
from .base import (
    Capability,
    Connector,
    ConnectorConfigError,
    Erased,
    Found,
    Groups,
    Identifiers,
    LineageName,
    Located,
    TargetUnavailable,
    Verified,
)
from .errors import PathOutsideRoots
from .files import confined_path
from .history import history_policy
from .parquet_file import _found, _Plan
from .s3_objects import access_credentials, access_keys, access_keys_schema
from .s3_store import Store, client

log = structlog.get_logger(__name__)

NAME = "[A-Za-z_][A-Za-z0-9_]{0,62}"
TABLE = f"^{NAME}(?:\\.{NAME})+$"
# An unreferenced file younger than this may be a writer's that is not committed yet (Iceberg's
# own orphan-file removal waits as long by default).
ORPHAN_GRACE = timedelta(days=3)
# pyiceberg (as Iceberg) keeps string bounds truncated to this many characters by default; a
# bound that long may be the start of a longer value (its last character raised, for an upper).
TRUNCATED_BOUND = 16
# A warehouse on an S3-compatible store: the schemes Iceberg writers use for it.
S3_SCHEMES = ("s3", "s3a", "s3n")


class IcebergTable(Connector):
    kind = "iceberg_table"
    config_schema = schema.config(
        description="Rows of one Apache Iceberg table, deleted with pyiceberg in a new snapshot, "
        'through a SQL catalog (`"catalog_uri_env": "DATABASE_URL"` keeps it on Lup\'s own '
        "PostgreSQL); the warehouse on local files under `LUP_FILE_ROOTS`, or on an "
        "S3-compatible store (a location `s3://bucket/prefix`, reached with the S3 keys "
        "below, as `s3_objects` reaches a bucket; in a versioned bucket the clean-up deletes "
        "every version of a removed file). Masking is not supported.",
        properties={
            **secrets.properties(
                "catalog_uri",
                "the SQL catalog's SQLAlchemy URL (`postgresql+psycopg://…`, `sqlite:///…`)",
            ),
            "catalog_name": {
                "type": "string",
                "pattern": f"^{NAME}$",
                "default": "lup",
                "description": "The catalog's name in that database (its tables are kept by it).",
            },
            "table": {
                "type": "string",
                "pattern": TABLE,
                "description": '"namespace.table" (letters, digits, underscores).',
            },
            "match": schema.match(
                {"type": "string", "pattern": f"^{NAME}$"},
                "Identifier type -> the column holding it (a top-level column).",
            ),
            "warehouse_uri": {
                "type": "string",
                "pattern": "^s3[an]?://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[^\\s]*)?$",
                "description": "For a warehouse on S3 (required there): `s3://bucket/prefix`, "
                "where the table's location must lie, as a local one must lie under "
                "`LUP_FILE_ROOTS`; a table the catalog places elsewhere is refused, so the "
                "clean-up never deletes outside it.",
            },
            **access_keys_schema("a warehouse on S3"),
            "history": schema.history_of(
                purged="every older snapshot is expired (except those a branch or a tag keeps) "
                "and the files only they used are deleted; the check then reads every snapshot "
                "left, rows and the column bounds its metadata records, and a snapshot still "
                "holding the person fails the erasure until it is gone.",
                retained="snapshots older than `retain_days` are expired; the check reads "
                "the current snapshot only.",
            ),
        },
        required=["table", "match"],
        one_of=secrets.alternatives("catalog_uri"),
        example={
            "catalog_uri_env": "LAKE_CATALOG_URL",
            "catalog_name": "lake",
            "table": "crm.contacts",
            "match": {"email": "email", "user_id": "user_id"},
            "history": {"policy": "purged"},
        },
    )
    capabilities = frozenset(
        {Capability.LOCATE, Capability.DELETE, Capability.VERIFY, Capability.SCAN}
    )
    erase_method = "iceberg_delete"
    verify_method = "iceberg_scan"
    batches = True
    file_roots = True

    def __init__(self, *, config: dict[str, Any]):
        super().__init__(config=config)
        self.catalog_uri = secrets.secret_of(self.config, "catalog_uri")
        self.reach_key = self.catalog_uri.key
        self.catalog_name = self.config.get("catalog_name", "lup")
        self.table_name = self.config["table"]
        self.match: dict[str, str] = dict(self.config["match"])
        self.id_types = frozenset(self.match)
        self.history = history_policy(self.config)
        self.s3 = access_keys(self.config)

    # --- abilities ------------------------------------------------------------------------------

    def locate(self, identifiers: Identifiers) -> Located:
        self.require(Capability.LOCATE)
        union, owners = self.owners({None: identifiers})
        with self._opened() as table:
            counts = self._rows(table, union, owners, table.metadata.current_snapshot_id)
        count = counts[None]
        log.info("connector.locate", kind=self.kind, count=count)
        return Located(count=count)

    def erase(self, identifiers: Identifiers, *, op: str = "delete") -> Erased:
        return self.erase_groups({None: identifiers}, op=op)[None]

    def erase_groups(self, groups: Groups, *, op: str = "delete") -> dict[Hashable, Erased]:
        """Erase several requests' rows with one delete (one new snapshot, each data file
        holding any of them rewritten once); each group gets its own count."""
        self.require(Capability.for_op(op))
        union, owners = self.owners(groups)
        started = self._now()
        with self._opened() as table:
            found = self._rows(table, union, owners, table.metadata.current_snapshot_id)
            counts = {key: found.get(key, 0) for key in groups}
            count = sum(counts.values())
            if count:
                table.delete(delete_filter=self._filter(union))
        log.info("connector.erase", kind=self.kind, op=op, count=count, groups=len(groups))
        shared = Erased(
            op=op if count else "none",  # type: ignore[arg-type]
            method=self.erase_method,
            count=count,
            started_at=started,
            completed_at=self._now(),
        )
        return self.split(shared, counts)

    def verify(self, identifiers: Identifiers) -> Verified:
        return self.verify_groups({None: identifiers})[None]

    def verify_groups(self, groups: Groups) -> dict[Hashable, Verified]:
        """The subjects' rows in the current snapshot, one read for the batch; with a history
        policy, the snapshots are pruned first, and with `purged` every snapshot left is read,
        metadata included."""
        self.require(Capability.VERIFY)
        union, owners = self.owners(groups)
        purged = self.history is not None and self.history.purged
        deadline = self.deadline()
        remaining: dict[Hashable, int] = dict.fromkeys(groups, 0)
        with self._opened() as table:
            if self.history is not None:
                table = self._prune(table)
            if purged:
                snapshots = [s.snapshot_id for s in table.snapshots()]
            else:
                snapshots = [table.metadata.current_snapshot_id]
            for sid in snapshots:
                deadline.check()
                for key, n in self._rows(table, union, owners, sid).items():
                    remaining[key] += n
                # Only "purged" claims the metadata too (a removed file's entry is history).
                if purged and sid:
                    for key, n in self._disclosed(table, union, owners, sid).items():
                        remaining[key] += n
        at = self._now()
        log.info("connector.verify", kind=self.kind, groups=len(groups), snapshots=len(snapshots))
        history = None
        if self.history is not None:
            history = self.history.checked(versions=len(snapshots), at=at)
        return {
            key: Verified(method=self.verify_method, remaining=n, at=at, history=history)
            for key, n in remaining.items()
        }

    def scan(self) -> Iterator[Found]:
        """The current snapshot's match values, streamed a record batch at a time."""
        columns = sorted(set(self.match.values()))
        plan = _Plan(
            match=[(id_type, (column,)) for id_type, column in self.match.items()],
            values={},
            mask=[],
            top=columns,
        )
        with self._opened() as table:
            snapshot = table.metadata.current_snapshot_id
            if snapshot is None:  # a table nothing was ever written to
                return
            scan = table.scan(snapshot_id=snapshot, selected_fields=tuple(columns))
            for batch in scan.to_arrow_batch_reader():
                yield from _found(batch, plan)

    def lineage_dataset(self) -> LineageName:
        """The table's location (a pipeline writing it through Spark names that folder, the
        catalog's name as its `symlinks` alias); on S3, the bucket and the location's prefix
        (as `s3_objects` names a prefix)."""
        with self._opened() as table:
            location = table.location()
        remote = _s3_location(location)
        if remote is not None:
            bucket, prefix = remote
            return (f"s3://{bucket}", prefix.strip("/") or "/")
        return ("file", str(self._local(location)))

    # --- reading --------------------------------------------------------------------------------

    def _filter(self, values: dict[str, list[str]]):
        from pyiceberg.expressions import In, Or

        terms = [In(self.match[id_type], given) for id_type, given in values.items()]
        return functools.reduce(Or, terms)

    def _rows(self, table, union, owners, snapshot_id: int | None) -> dict[Hashable, int]:
        """Per group, the rows of snapshot `snapshot_id` holding any of its values (one scan
        for the batch, only the match columns read)."""
        counts: dict[Hashable, int] = defaultdict(int)
        if snapshot_id is None:  # a table nothing was ever written to
            return counts
        columns = sorted(set(self.match.values()))
        scan = table.scan(
            row_filter=self._filter(union), snapshot_id=snapshot_id, selected_fields=tuple(columns)
        )
        hits = scan.to_arrow()
        stored = {column: hits.column(column).to_pylist() for column in columns}
        for row in range(hits.num_rows):
            keys: set = set()
            for id_type, column in self.match.items():
                value = stored[column][row]
                if value is not None:
                    keys.update(owners.get((id_type, str(value)), ()))
            for key in keys:
                counts[key] += 1
        return counts

    def _disclosed(self, table, union, owners, snapshot_id: int) -> dict[Hashable, int]:
        """Per group, manifest entries of a snapshot whose column bounds or partition values
        name one of its values (what a metadata query such as `inspect.entries` would show)."""
        counts: dict[Hashable, int] = defaultdict(int)
        for entry in table.inspect.entries(snapshot_id=snapshot_id).to_pylist():
            metrics = entry.get("readable_metrics") or {}
            partition = entry.get("data_file", {}).get("partition") or {}
            keys: set = set()
            for id_type, given in union.items():
                column = metrics.get(self.match[id_type]) or {}
                bounds = [column.get("lower_bound"), column.get("upper_bound")]
                bounds += list(partition.values())
                for value in given:
                    if any(_names(bound, value) for bound in bounds):
                        keys.update(owners[(id_type, value)])
            for key in keys:
                counts[key] += 1
        return counts

    # --- history ----------------------------------------------------------------------------------

    def _prune(self, table):
        """Expire what the policy does not keep and delete the files only expired snapshots
        referenced; returns the table as it is then."""
        purged = self.history is not None and self.history.purged
        if purged and self._carries_removed(table):
            # An empty append: a new snapshot whose manifest list leaves out the manifests
            # that only record removed files (with those files' bounds).
            with table.transaction() as tx, tx.update_snapshot().fast_append():
                pass
            table = table.refresh()
        before = self._referenced(table, table.snapshots())
        if purged:
            cutoff = datetime.now(UTC) + timedelta(seconds=1)
        else:
            cutoff = datetime.now(UTC) - timedelta(days=self.history.retain_days)
        table.maintenance.expire_snapshots().older_than(cutoff).commit()
        table = table.refresh()
        kept = self._referenced(table, table.snapshots())
        kept |= self._metadata_files(table)
        removed = self._delete_unreferenced(table, before - kept, kept)
        log.info("connector.prune", kind=self.kind, snapshots=len(table.snapshots()), files=removed)
        return table

    @staticmethod
    def _carries_removed(table) -> bool:
        snapshot = table.current_snapshot()
        if snapshot is None:
            return False
        return any(
            (m.deleted_files_count or 0) > 0 and not (m.added_files_count or m.existing_files_count)
            for m in snapshot.manifests(table.io)
        )

    @staticmethod
    def _referenced(table, snapshots) -> set[str]:
        """Every file the snapshots reach: manifest lists, manifests, data and delete files."""
        files: set[str] = set()
        for snapshot in snapshots:
            files.add(snapshot.manifest_list)
            for manifest in snapshot.manifests(table.io):
                files.add(manifest.manifest_path)
                for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=False):
                    files.add(entry.data_file.file_path)
        return files

    @staticmethod
    def _metadata_files(table) -> set[str]:
        """The table's metadata files (current and logged) and statistics files."""
        files = {table.metadata_location}
        files.update(entry.metadata_file for entry in table.metadata.metadata_log)
        files.update(s.statistics_path for s in table.metadata.statistics)
        files.update(s.statistics_path for s in table.metadata.partition_statistics)
        return files

    def _delete_unreferenced(self, table, expired: set[str], kept: set[str]) -> int:
        """Delete the files only expired snapshots referenced, and orphans past the grace,
        never outside the table's location."""
        if _s3_location(table.location()) is not None:
            return self._delete_unreferenced_objects(table, expired, kept)
        location = self._local(table.location())
        keep = {_path(uri) for uri in kept}
        doomed = {path for path in map(_path, expired) if path is not None} - keep
        old = time.time() - ORPHAN_GRACE.total_seconds()
        for directory, _dirs, names in os.walk(location):
            for name in names:
                path = Path(directory) / name
                if path not in keep and path.stat().st_mtime < old:
                    doomed.add(path)
        removed = 0
        for path in doomed:
            # Within the table's location only: a file another table shares is left alone.
            if path.is_relative_to(location) and path.is_file() and not path.is_symlink():
                path.unlink()
                removed += 1
        return removed

    def _delete_unreferenced_objects(self, table, expired: set[str], kept: set[str]) -> int:
        """As `_delete_unreferenced`, for a table on S3: the objects under the location's
        prefix; in a versioned bucket every version of such an object is deleted, so no
        earlier version keeps its bytes."""
        bucket, prefix = _s3_location(table.location())  # type: ignore[misc]
        prefix = prefix.rstrip("/") + "/"
        store = Store(client(self.s3, self.timeout_seconds), bucket)
        keep = {key for b, key in filter(None, map(_s3_location, kept)) if b == bucket}
        listed = dict(store.modified(prefix))
        doomed = {key for b, key in filter(None, map(_s3_location, expired)) if b == bucket}
        old = datetime.now(UTC) - ORPHAN_GRACE
        doomed |= {key for key, modified in listed.items() if modified < old}
        # Within the table's location only, and only what is there.
        doomed = {key for key in doomed - keep if key.startswith(prefix) and key in listed}
        if store.versioning():
            for version in store.versions(prefix):
                if version.key in doomed and version.version_id:
                    store.delete_version(version.key, version.version_id)
        else:
            for key in doomed:
                store.delete(key)
        return len(doomed)

    # --- catalog --------------------------------------------------------------------------------

    def _reach(self) -> None:
        with self._opened():
            pass

    @contextlib.contextmanager
    def _opened(self) -> Iterator[Any]:
        """The table, loaded from the catalog, its location confined to the file roots and
        every match column found in its schema; the catalog's connections closed after."""
        from pyiceberg.catalog.sql import SqlCatalog
        from pyiceberg.exceptions import (
            CommitFailedException,
            NoSuchNamespaceError,
            NoSuchTableError,
        )
        from sqlalchemy.exc import SQLAlchemyError

        try:
            # A catalog is read, never set up: without its tables the URL names the wrong
            # database, where Lup must not create any.
            catalog = _catalog(SqlCatalog)(
                self.catalog_name,
                uri=self._sqlalchemy_uri(),
                init_catalog_tables="false",
                **(self._s3_properties() if self.s3 or "warehouse_uri" in self.config else {}),
            )
        except SQLAlchemyError:
            # The driver's message can carry host and user names; keep it out of the answer.
            raise TargetUnavailable("Could not reach the Iceberg catalog.") from None
        try:
            table = catalog.load_table(self.table_name)
            if _s3_location(table.location()) is None:
                self._local(table.location())
            else:
                self._in_warehouse(table.location())
            names = {field.name for field in table.schema().fields}
            for id_type, column in self.match.items():
                if column not in names:
                    raise ConnectorConfigError(
                        f"The table has no column named in match.{id_type}.",
                        fields={f"match.{id_type}": "unknown column"},
                        code="unknown_column",
                    )
            yield table
        except (NoSuchTableError, NoSuchNamespaceError):
            raise ConnectorConfigError(
                "The table is not in the catalog.",
                fields={"table": "unknown table"},
                code="unknown_table",
            ) from None
        except SQLAlchemyError:
            raise TargetUnavailable("The Iceberg catalog refused a statement.") from None
        except CommitFailedException:
            # Another writer committed first: the next attempt starts from its snapshot.
            raise TargetUnavailable("The Iceberg table changed during the erasure.") from None
        except OSError as error:
            # A file of the table could not be read or written (the store did not answer, a
            # file is missing); the message names keys, so only the kind of error is given.
            raise TargetUnavailable(
                f"The Iceberg table's files could not be reached ({type(error).__name__})."
            ) from None
        finally:
            catalog.engine.dispose()

    def _sqlalchemy_uri(self) -> str:
        uri = self.catalog_uri.read()
        # The psycopg 3 driver Lup already has, for a plain PostgreSQL URL.
        for plain in ("postgresql://", "postgres://"):
            if uri.startswith(plain):
                return "postgresql+psycopg://" + uri.removeprefix(plain)
        return uri

    def _s3_properties(self) -> dict[str, str]:
        """pyiceberg's FileIO settings for a table on S3: the store and the credentials as
        `s3_objects` finds them (environment variables, a credentials file, boto3's chain)."""
        timeout = str(self.timeout_seconds)
        properties = {
            "s3.region": self.s3.get("region", "us-east-1"),
            "s3.connect-timeout": str(min(self.timeout_seconds, 10)),
            "s3.request-timeout": timeout,
        }
        if "endpoint_url" in self.s3:
            properties["s3.endpoint"] = self.s3["endpoint_url"]
        found = access_credentials(self.s3)
        if found is not None:
            key_id, secret, token = found
            properties["s3.access-key-id"] = key_id
            properties["s3.secret-access-key"] = secret
            if token:
                properties["s3.session-token"] = token
        return properties

    def _in_warehouse(self, location: str) -> None:
        """Refuse a table on S3 whose location is not under `warehouse_uri`."""
        if "warehouse_uri" not in self.config:
            raise PathOutsideRoots(
                "The table is on S3: warehouse_uri must say where it may lie.",
                fields={"warehouse_uri": "required for a table on S3"},
            )
        bucket, key = _s3_location(location)  # type: ignore[misc]
        allowed, prefix = _s3_location(self.config["warehouse_uri"]) or ("", "")
        prefix = prefix.strip("/")
        key = key.rstrip("/")
        if bucket != allowed or not (not prefix or key == prefix or key.startswith(prefix + "/")):
            raise PathOutsideRoots(
                "The table's location is not under warehouse_uri.",
                fields={"warehouse_uri": "outside"},
            )

    @staticmethod
    def _local(location: str) -> Path:
        """A file URI or path of the table, as a path confined to the file roots."""
        parts = urllib.parse.urlparse(location)
        if parts.scheme not in ("", "file"):
            raise PathOutsideRoots(
                "The table's location is not on local files.", fields={"table": "not local"}
            )
        try:
            return confined_path(urllib.parse.unquote(parts.path))
        except PathOutsideRoots:
            raise PathOutsideRoots(
                "The table's location is not under a configured file root.",
                fields={"table": "outside roots"},
            ) from None


@functools.cache
def _catalog(base: type) -> type:
    """A SQL catalog whose tables' files are read with the target's settings alone: a table's
    own properties cannot point its FileIO elsewhere (another endpoint, another
    implementation, other credentials)."""

    class Catalog(base):  # type: ignore[misc, valid-type]
        def _load_file_io(self, properties: Any = None, location: str | None = None):
            from pyiceberg.io import load_file_io

            return load_file_io(dict(self.properties), location)

    return Catalog


def _s3_location(uri: str) -> tuple[str, str] | None:
    """The bucket and key of an S3 URI (None for any other)."""
    parts = urllib.parse.urlparse(uri)
    if parts.scheme not in S3_SCHEMES or not parts.netloc:
        return None
    return parts.netloc, urllib.parse.unquote(parts.path).lstrip("/")


def _path(uri: str) -> Path | None:
    """A local file's path from its URI (None for a remote one, which is never deleted)."""
    parts = urllib.parse.urlparse(uri)
    if parts.scheme not in ("", "file"):
        return None
    path = Path(os.path.abspath(urllib.parse.unquote(parts.path)))
    # The directory resolved as the table's location is; the file itself not, so a symbolic
    # link is seen (and left alone) rather than followed.
    return path.parent.resolve() / path.name


def _names(bound: Any, value: str) -> bool:
    """Whether a column bound or partition value names `value`: equal to it, or a truncated
    string bound that is its start (an upper bound has its last character raised)."""
    if bound is None:
        return False
    text = bound if isinstance(bound, str) else str(bound)
    if text == value:
        return True
    return len(text) == TRUNCATED_BOUND and value.startswith((text, text[:-1]))
