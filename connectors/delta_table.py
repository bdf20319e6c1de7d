"""`delta_table`: rows of a Delta Lake table, deleted or masked through the `deltalake` library.

Config:

    {
        "path": "lake/support_tickets",         # the table's folder, under LUP_FILE_ROOTS; or
        # "uri": "s3://lake/support_tickets",   # a table on S3, with s3_objects' access keys:
        # "endpoint_url": "http://objects.internal:8333", "access_key_id_env": "LAKE_S3_KEY_ID",
        # "secret_access_key_env": "LAKE_S3_SECRET" (or "credentials_file", "profile")
        "match": {"email": "email", "user_id": "user_id"},  # id_type -> top-level column
        "mask_columns": ["email", "user_id", "name"],  # optional, default: the match columns
        "mask_value": "[erased]",               # optional, for text columns
        "history": {"policy": "retained", "retain_days": 7},  # optional (`connectors.history`)
        "timeout_seconds": 30,
    }

Finding: the current version's match columns are scanned as Arrow and compared as
`parquet_file` compares them (e-mail trimmed and lower-cased, phone numbers to E.164, anything
else trimmed), so every kind finds the same rows.

Erasing, one pass however many requests are batched: the values found are joined back to the
table with one `MERGE` per match column (`target."email" = source.v`, the values given as an
in-memory source), whose matched rows are deleted, or with op "mask" updated (`mask_columns` set
to `mask_value` in text columns and to null in others). A MERGE, not a DELETE by predicate:
Delta records a delete's predicate, values included, in its log for as long as the log is kept,
while a merge's join condition names only columns.

Then the history policy: the table is vacuumed with the policy's retention (files removed from
the table more than `retain_days` ago are deleted; `purged`: all of them). With `purged`, a
checkpoint is written and the log before it removed (the table's `delta.logRetentionDuration` is
set to zero for that clean-up, then set back, to Delta's 30 days when the table set none), since
older log entries keep each removed file's column statistics, minimum and maximum values
included, so no earlier version stays loadable.

Post-check: the current version's rows and its files' statistics; with `purged`, every version
the log still lists is loaded and read the same way, along with its commit's parameters (a
version that can no longer be loaded keeps nothing to read), and the receipt's `history` counts
the versions read. With `retained`, the receipt says until when older versions may be kept: the
later of `retain_days` and the table's log retention (30 days unless the table says otherwise),
counted from the post-check.

Scanning (`scan`, for the subject index) reads the match columns of the current version one
batch of rows at a time and yields each row's values as `parquet_file` does (an integer as its
decimal text; nulls left out).

A table on S3 (`uri`): deltalake reaches it with the endpoint and region the config gives and
the credentials `s3_objects` would use (named environment variables, a credentials file, or
boto3's chain), read when the table is opened and never kept in the config. Commits are put
only if absent (`aws_conditional_put` "etag": If-None-Match), so a concurrent writer's commit
is never replaced; registration writes a probe object twice with If-None-Match and refuses a
store that lets the second write through (`unsafe_store`), since Delta commits there could
replace each other. In a versioned bucket, what vacuum and the log clean-up delete would stay
as noncurrent versions: after the clean-up every noncurrent version under the table's prefix is
deleted too (Delta writes each object once, except `_last_checkpoint`).

Not supported: tables on other object stores, tables with the change data feed on (the feed
keeps deleted rows; refused), matching in nested columns, and interrupting the library mid-call
(the deadline is checked while the table is read, not once it is being changed). Readers and
writers still using a version the purge removed fail, as Delta's vacuum warns."""

from __future__ import annotations

import contextlib
import re
import urllib.parse
import uuid
import warnings
from collections import defaultdict
from collections.abc import Hashable, Iterator
from datetime import timedelta
from typing import Any

import structlog

from core.errors import ApplicationError
from core.lazy import lazy_module

from . import schema
from .arrow_rows import SQL_COLUMN, ArrowColumns, Plan, sql_column
from .base import (
    Capability,
    Connector,
    ConnectorConfigError,
    Deadline,
    Erased,
    Found,
    Groups,
    Identifiers,
    LineageName,
    Located,
    TargetUnavailable,
    Verified,
)
from .csv_file import DEFAULT_MASK_VALUE, MAX_MASK_VALUE
from .errors import TargetUnreachable
from .files import confined_path
from .history import HistoryPolicy, history_config
from .matching import normalized
from .parquet_file import _is_text
from .s3_objects import access_credentials, access_keys, access_keys_schema
from .s3_store import PRECONDITION_FAILED, Store, client, error_code, unavailable_on_store_error

# Loaded by the first Delta table a process opens (see core.lazy).
pa = lazy_module("pyarrow")
deltalake = lazy_module("deltalake")
delta_errors = lazy_module("deltalake.exceptions")
botocore_errors = lazy_module("botocore.exceptions")

log = structlog.get_logger(__name__)

SCAN_BATCH_ROWS = 65_536
# A table on S3: s3://bucket/prefix (s3a:// as Spark writes it).
S3_URI = "^s3a?://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/[^\\s]+$"
# Tries at the vacuum and log clean-up when another writer commits at the same time.
CLEAN_UP_ATTEMPTS = 3
LOG_RETENTION = "delta.logRetentionDuration"
# Delta's own default when a table does not set it.
DEFAULT_LOG_RETENTION = "interval 30 days"
INTERVAL = re.compile(
    r"^\s*(?:interval\s+)?(\d+)\s+(second|minute|hour|day|week)s?\s*$", re.IGNORECASE
)
UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86_400, "week": 604_800}


class DeltaLakeTable(ArrowColumns, Connector):
    kind = "delta_table"
    config_schema = schema.config(
        description="Rows of a Delta Lake table in a folder under `LUP_FILE_ROOTS` (`path`) or "
        "under a prefix of an S3-compatible bucket (`uri`, reached with the S3 keys below, as "
        "`s3_objects` reaches a bucket), deleted or masked with the `deltalake` library; "
        "earlier versions are vacuumed as `history` says.",
        properties={
            "path": schema.path("The table's folder (the one holding `_delta_log`)."),
            "uri": {
                "type": "string",
                "pattern": S3_URI,
                "description": "Instead of `path`: the table on S3, `s3://bucket/prefix` (the "
                "prefix holding `_delta_log`). Commits are written only if absent (the store "
                "must honour `If-None-Match`, as AWS S3, SeaweedFS, MinIO and R2 do; "
                "registration checks it), so a concurrent writer's commit is never "
                "overwritten; in a versioned bucket the clean-up also deletes the earlier "
                "versions of the table's objects.",
            },
            **access_keys_schema("a table on S3 (`uri`)"),
            "match": schema.match(
                SQL_COLUMN,
                "Identifier type -> the top-level column holding it (text or integers).",
            ),
            "mask_columns": {
                "type": "array",
                "items": SQL_COLUMN,
                "minItems": 1,
                "uniqueItems": True,
                "description": "The columns a masked row has set to `mask_value` (text) or "
                "null (any other type); they must include every match column. By default, "
                "the match columns.",
            },
            "mask_value": {
                "type": "string",
                "maxLength": MAX_MASK_VALUE,
                "default": DEFAULT_MASK_VALUE,
                "description": "What masked text cells are set to.",
            },
            "history": schema.history(
                "the table's earlier versions (time travel: its log and the files it removed)"
            ),
        },
        required=["match"],
        one_of=[["path"], ["uri"]],
        example={
            "path": "lake/support_tickets",
            "match": {"email": "email"},
            "history": {"policy": "purged"},
        },
    )
    capabilities = frozenset(
        {Capability.LOCATE, Capability.DELETE, Capability.MASK, Capability.VERIFY, Capability.SCAN}
    )
    batches = True
    file_roots = True
    erase_method = "delta_merge"
    verify_method = "delta_rescan"

    def __init__(self, *, config: dict[str, Any]):
        super().__init__(config=config)
        self.path = self.config.get("path")
        self.uri = self.config.get("uri")
        self.s3 = access_keys(self.config)
        if self.s3 and self.uri is None:
            raise ConnectorConfigError(
                "The S3 keys are for a table on S3 (`uri`).",
                fields={next(iter(self.s3)): "only with uri"},
            )
        self.match = self._match_config(self.config, sql_column, "column name")
        self.id_types = frozenset(self.match)
        self.columns_config(self.config, sql_column)
        self.history: HistoryPolicy = history_config(self.config)
        if self.path is not None:
            confined_path(self.path)  # refuse a path outside the roots as soon as configured
        self.reach_key = "path" if self.path is not None else "uri"

    def _reach(self) -> None:
        with _unavailable_on_delta_error():
            table = self._table()
            self._plan(table.to_pyarrow_dataset().schema, {}, "none")
        if self.uri is not None:
            self._refuses_overwrites()

    # --- abilities ------------------------------------------------------------------------------

    def locate(self, identifiers: Identifiers) -> Located:
        self.require(Capability.LOCATE)
        count = self._current({None: identifiers}, self.deadline())[None]
        log.info("connector.locate", kind=self.kind, count=count)
        return Located(count=count)

    def erase(self, identifiers: Identifiers, *, op: str = "delete") -> Erased:
        return self.erase_groups({None: identifiers}, op=op)[None]

    def erase_groups(self, groups: Groups, *, op: str = "delete") -> dict[Hashable, Erased]:
        """Erase several requests' rows in one pass (a MERGE per match column), then clean
        up earlier versions as the history policy says; each group gets its own count."""
        self.require(Capability.for_op(op))
        union, owners = self.owners(groups)
        counts: dict[Hashable, int] = dict.fromkeys(groups, 0)
        deadline = self.deadline()
        started = self._now()
        with _unavailable_on_delta_error():
            table = self._table()
            dataset = table.to_pyarrow_dataset()
            plan = self._plan(dataset.schema, union, op)
            count, values = 0, {}
            for batch in dataset.to_batches(columns=plan.top, batch_size=SCAN_BATCH_ROWS):
                deadline.check()
                _, hits = self.matched(batch, plan, owners)
                if hits:
                    count += len(hits)
                    self.tally(hits, counts)
                    for column, found in self.found(batch, plan).items():
                        values.setdefault(column, []).append(found)
            deadline.check()
            # From here on the table changes: no deadline, so a slow merge is never reported
            # as a failure after it committed (a retry would then find nothing to count).
            for column, found in values.items():
                unique = pa.concat_arrays(found).unique()
                if len(unique):
                    self._merge(table, column, unique, plan, op)
            for attempt in range(CLEAN_UP_ATTEMPTS):
                try:
                    self._clean_up(self._table())
                    break
                except delta_errors.CommitFailedError:
                    # Another writer committed in between: the erase is done and counted, so
                    # the clean-up is tried again on the new version rather than failing it.
                    if attempt == CLEAN_UP_ATTEMPTS - 1:
                        raise
        log.info("connector.erase", kind=self.kind, op=op, count=count, groups=len(counts))
        shared = Erased(
            op=op if count else "none",  # type: ignore[arg-type]
            method=self.erase_method,
            count=count,
            started_at=started,
            completed_at=self._now(),
        )
        return self.split(shared, counts)

    def scan(self) -> Iterator[Found]:
        """The current version's match values, read a batch of rows at a time."""
        with _unavailable_on_delta_error():
            dataset = self._table().to_pyarrow_dataset()
            plan = self._plan(dataset.schema, {key: [] for key in self.match}, "none")
            batches = dataset.to_batches(columns=plan.top, batch_size=SCAN_BATCH_ROWS)
            yield from self.scanned(batches, plan)

    def lineage_dataset(self) -> LineageName:
        """The table's folder (the one holding `_delta_log`); on S3 the bucket and the prefix
        (as `s3_objects` names a prefix)."""
        if self.uri is not None:
            bucket, prefix = _bucket_prefix(self.uri)
            return (f"s3://{bucket}", prefix.strip("/") or "/")
        return ("file", str(confined_path(self.path)))

    def verify(self, identifiers: Identifiers) -> Verified:
        return self.verify_groups({None: identifiers})[None]

    def verify_groups(self, groups: Groups) -> dict[Hashable, Verified]:
        """Read the current version (rows and file statistics); with `purged`, every version
        the log still lists too. Each group's remaining items, and the history read."""
        self.require(Capability.VERIFY)
        union, owners = self.owners(groups)
        deadline = self.deadline()
        remaining: dict[Hashable, int] = dict.fromkeys(groups, 0)
        with _unavailable_on_delta_error():
            table = self._table()
            current = table.version()
            versions = [current]
            if self.history.purged:
                versions = sorted({entry["version"] for entry in table.history()} | {current})
            read = 0
            for version in versions:
                deadline.check()
                found = self._read(version, current, table, union, owners, deadline)
                if found is None:
                    continue  # vacuumed or its log removed: nothing of it can be loaded
                for key, n in found.items():
                    remaining[key] += n
                read += 1
            if self.history.purged:
                self._commits(table, union, owners, remaining)
            kept_longer = _log_retention(table)
        at = self._now()
        history = self.history.checked(read, at=at, kept_longer=kept_longer)
        log.info("connector.verify", kind=self.kind, groups=len(groups), versions=read)
        return {
            key: Verified(method=self.verify_method, remaining=n, at=at, history=history)
            for key, n in remaining.items()
        }

    # --- the table ------------------------------------------------------------------------------

    def _location(self) -> tuple[str, dict[str, str] | None]:
        """Where the table is (a local folder confined to the roots, or its S3 URI), and the
        storage options deltalake reaches it with."""
        if self.uri is None:
            return str(confined_path(self.path)), None
        return self.uri, self._storage_options()

    def _storage_options(self) -> dict[str, str]:
        """deltalake's options for the table on S3: the store, the credentials as `s3_objects`
        finds them (read now, never from the config), and commits written only if absent."""
        options = {
            "AWS_REGION": self.s3.get("region", "us-east-1"),
            # A commit file is put with If-None-Match: a concurrent writer's is never replaced.
            "aws_conditional_put": "etag",
            "timeout": f"{int(self.timeout_seconds)}s",
        }
        endpoint = self.s3.get("endpoint_url")
        if endpoint:
            options["AWS_ENDPOINT_URL"] = endpoint
            options["AWS_ALLOW_HTTP"] = "true" if endpoint.startswith("http://") else "false"
        found = access_credentials(self.s3)
        if found is not None:
            key_id, secret, token = found
            options["AWS_ACCESS_KEY_ID"] = key_id
            options["AWS_SECRET_ACCESS_KEY"] = secret
            if token:
                options["AWS_SESSION_TOKEN"] = token
        return options

    def _store(self) -> Store:
        bucket, _prefix = _bucket_prefix(self.uri)  # type: ignore[arg-type]
        return Store(client(self.s3, self.timeout_seconds), bucket)

    def _refuses_overwrites(self) -> None:
        """Registration's check of a table on S3: a second write of an object that exists,
        with If-None-Match, is refused (else concurrent commits could replace each other)."""
        store = self._store()
        _bucket, prefix = _bucket_prefix(self.uri)  # type: ignore[arg-type]
        probe = f"{prefix.rstrip('/')}/_lup_put_if_absent_{uuid.uuid4().hex}"
        refused = False
        try:
            with unavailable_on_store_error():
                store.s3.put_object(Bucket=store.bucket, Key=probe, Body=b"", IfNoneMatch="*")
                try:
                    store.s3.put_object(Bucket=store.bucket, Key=probe, Body=b"", IfNoneMatch="*")
                except botocore_errors.ClientError as error:
                    refused = error_code(error) in PRECONDITION_FAILED
                    if not refused:
                        raise
        finally:
            for version in store.versions(probe):
                if version.key == probe and version.version_id:
                    store.delete_version(probe, version.version_id)
            store.delete(probe)
        if not refused:
            raise ConnectorConfigError(
                "The store overwrote an object a conditional write (If-None-Match) should have "
                "left alone: Delta commits there could replace each other.",
                fields={"uri": "no conditional writes"},
                code="unsafe_store",
            )

    def _table(self, version: int | None = None) -> deltalake.DeltaTable:
        location, options = self._location()
        try:
            table = deltalake.DeltaTable(location, version=version, storage_options=options)
        except delta_errors.TableNotFoundError:
            where = self.reach_key
            raise TargetUnreachable(
                "The folder holds no Delta table.", fields={where: "not a delta table"}
            ) from None
        configuration = table.metadata().configuration
        if str(configuration.get("delta.enableChangeDataFeed", "")).lower() == "true":
            raise ConnectorConfigError(
                "The table's change data feed is on: it would keep the erased rows.",
                fields={"path": "change data feed on"},
            )
        return table

    def _read(self, version, current, table, union, owners, deadline) -> dict | None:
        """Per group, the items found in `version` (its rows and its files' statistics), or
        None when that version can no longer be loaded (its log or a data file removed)."""
        counts: dict[Hashable, int] = defaultdict(int)
        try:
            if version != current:
                location, options = self._location()
                table = deltalake.DeltaTable(location, version=version, storage_options=options)
            self._rows(table, union, owners, counts, deadline)
            self._statistics(table, union, owners, counts)
        except (delta_errors.TableNotFoundError, FileNotFoundError):
            if version == current:
                raise
            return None
        return counts

    def _current(self, groups: Groups, deadline: Deadline) -> dict[Hashable, int]:
        union, owners = self.owners(groups)
        counts: dict[Hashable, int] = dict.fromkeys(groups, 0)
        with _unavailable_on_delta_error():
            self._rows(self._table(), union, owners, counts, deadline)
        return counts

    def _rows(self, table, union, owners, counts, deadline: Deadline) -> None:
        dataset = table.to_pyarrow_dataset()
        plan = self._plan(dataset.schema, union, "none")
        for batch in dataset.to_batches(columns=plan.top, batch_size=SCAN_BATCH_ROWS):
            deadline.check()
            self.tally(self.matched(batch, plan, owners)[1], counts)

    def _statistics(self, table, union, owners, counts) -> None:
        """Each data file whose minimum or maximum of a match column is a subject's value."""
        actions = pa.table(table.get_add_actions(flatten=True))
        for id_type in union:
            for bound in ("min", "max"):
                name = f"{bound}.{self.match[id_type]}"
                if name not in actions.column_names:
                    continue
                for value in actions.column(name).to_pylist():
                    if value is None or isinstance(value, bool):
                        continue
                    for key in owners.get((id_type, normalized(id_type, str(value))), ()):
                        counts[key] += 1

    def _commits(self, table, union, owners, counts) -> None:
        """Each commit still in the log whose predicates spell a subject's value (a DELETE or
        UPDATE by another tool writes its predicate, literals included, into the log)."""
        for entry in table.history():
            parameters = entry.get("operationParameters") or {}
            text = " ".join(
                str(value) for key, value in parameters.items() if "predicate" in key.lower()
            ).lower()
            if not text:
                continue
            for id_type, values in union.items():
                for value in values:
                    if re.search(rf"(?<![\w@.+-]){re.escape(value.lower())}(?![\w@.-])", text):
                        for key in owners.get((id_type, value), ()):
                            counts[key] += 1

    def _merge(
        self, table: deltalake.DeltaTable, column: str, values: pa.Array, plan: Plan, op: str
    ):
        merge = table.merge(
            source=pa.table({"v": values}),
            predicate=f'target."{column}" = source.v',
            source_alias="source",
            target_alias="target",
        )
        if op == "delete":
            merge = merge.when_matched_delete()
        else:
            schema_ = table.to_pyarrow_dataset().schema
            merge = merge.when_matched_update(
                updates={f'"{name}"': self._mask_literal(schema_, name) for (name,) in plan.mask}
            )
        merge.execute()

    def _mask_literal(self, schema_: pa.Schema, name: str) -> str:
        field = schema_.field(name)
        if _is_text(field.type):
            return "'" + self.mask_value.replace("'", "''") + "'"
        return "NULL"

    def _clean_up(self, table: deltalake.DeltaTable) -> None:
        """Vacuum with the policy's retention; with `purged`, also drop the log before a
        fresh checkpoint, its retention set to zero for that one clean-up and set back."""
        hours = int(self.history.retention.total_seconds() // 3600)
        table.vacuum(retention_hours=hours, enforce_retention_duration=False, dry_run=False)
        if self.history.purged:
            kept = table.metadata().configuration.get(LOG_RETENTION) or DEFAULT_LOG_RETENTION
            table.alter.set_table_properties({LOG_RETENTION: "interval 0 seconds"})
            table.create_checkpoint()
            table.cleanup_metadata()
            table.alter.set_table_properties({LOG_RETENTION: kept})
        if self.uri is not None:
            self._delete_earlier_object_versions()

    def _delete_earlier_object_versions(self) -> None:
        """In a versioned bucket, what vacuum and the log clean-up deleted is still kept as
        noncurrent versions: those under the table's prefix are deleted too (Delta never
        rewrites an object in place, except `_last_checkpoint`, so a noncurrent version is
        only ever something the table itself removed)."""
        store = self._store()
        if not store.versioning():
            return
        _bucket, prefix = _bucket_prefix(self.uri)  # type: ignore[arg-type]
        for version in store.versions(prefix.rstrip("/") + "/"):
            if not version.latest and version.version_id:
                store.delete_version(version.key, version.version_id)


def _bucket_prefix(uri: str) -> tuple[str, str]:
    parts = urllib.parse.urlparse(uri)
    return parts.netloc, urllib.parse.unquote(parts.path).lstrip("/")


def _log_retention(table: deltalake.DeltaTable) -> timedelta:
    """How long the table's log keeps entries (and the statistics of removed files)."""
    text = table.metadata().configuration.get(LOG_RETENTION) or DEFAULT_LOG_RETENTION
    found = INTERVAL.fullmatch(str(text))
    if found is None:
        raise ConnectorConfigError(
            f"The table's {LOG_RETENTION} is not an interval Lup can read.",
            fields={"path": "unreadable log retention"},
        )
    return timedelta(seconds=int(found.group(1)) * UNITS[found.group(2).lower()])


@contextlib.contextmanager
def _unavailable_on_delta_error() -> Iterator[None]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    except ApplicationError:
        raise
    except delta_errors.CommitFailedError:
        raise TargetUnavailable(
            "Another writer changed the table at the same time; the erasure will be retried."
        ) from None
    except (delta_errors.DeltaError, OSError, pa.ArrowException) as error:
        raise TargetUnavailable(
            f"The Delta table could not be read or written ({type(error).__name__})."
        ) from None
