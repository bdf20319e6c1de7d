"""`lance_table`: rows (chunks, embeddings and their metadata) of a LanceDB table, deleted or
masked through the `lancedb` library.

Config:

    {
        "path": "vectors",                      # the LanceDB folder, under LUP_FILE_ROOTS
        "table": "support_chunks",
        "match": {"email": "author_email", "user_id": "user_id"},  # id_type -> column
        "mask_columns": ["author_email", "user_id", "text"],  # optional, default: match columns
        "mask_value": "[erased]",               # optional, for text columns
        "vector_column": "vector",              # optional: seeds the post-check's vector search
        "history": {"policy": "purged"},        # optional (`connectors.history`)
        "timeout_seconds": 30,
    }

Finding: the match columns (and the row ids) of the current version are read through the
table's query API and compared as `parquet_file` compares them (e-mail trimmed and lower-cased,
phone numbers to E.164), so every kind finds the same rows.

Erasing, one pass however many requests are batched: the matching rows are deleted, or with op
"mask" updated (`mask_columns` set to `mask_value` in text columns, null in others), by their row
ids (`_rowid IN (...)`, at most ROW_IDS_PER_STATEMENT a statement). By row id, not by value:
Lance keeps each operation's predicate in its transaction files, and a row id names no one. A
row id addresses a fragment and an offset, and fragment ids are never reused, so a compaction
that ran in between makes the statement match nothing (the post-check then fails and the run is
retried), never another row. Then the fragments holding deleted rows are compacted with their
deletions materialized (Lance otherwise only marks deleted rows, and their bytes stay in the
data files), indices are brought up to date, and versions older than the policy's retention are
cleaned up (`purged`: every version but the latest, even those younger than Lance's own
seven-day guard).

Post-check: the current version's rows; with `purged`, every version the table still lists
(tagged versions are kept by a clean-up, and are read too), and the receipt's `history` counts
them. With `vector_column`, a vector search seeded with the subject's own embeddings (taken from
their rows before they were erased, kept in memory only; or, for a post-check run on its own,
from the newest of the SEED_VERSIONS versions before the current one that holds them) must
return none of their rows.

Without a vector index each query of that search reads every embedding (Lance batches up to
SEEDS_PER_SEARCH seeds into one pass): give such a target a longer `timeout_seconds`, or the
table an index.

Scanning (`scan`, for the subject index) reads the match columns of the current version one
batch of rows at a time and yields each row's values as `parquet_file` does (an integer as its
decimal text; nulls left out).

Not supported: LanceDB Cloud or object-store tables (the folder must be under `LUP_FILE_ROOTS`),
matching inside nested columns, and interrupting the library mid-call (the deadline is checked
while the table is read, not once it is being changed). Readers and writers still using a
version the purge removed fail, as Lance warns."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Hashable, Iterator
from typing import Any

import structlog

from core.errors import ApplicationError
from core.lazy import lazy_module

from . import config as checks
from . import schema
from .arrow_rows import SQL_COLUMN, ArrowColumns, Plan, sql_column
from .base import (
    Capability,
    Connector,
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
from .parquet_file import _is_text

pa = lazy_module("pyarrow")  # loaded by the first table a process opens (core.lazy)

log = structlog.get_logger(__name__)

# Rows per batch when `scan` streams the table for the subject index.
SCAN_BATCH_ROWS = 65_536

TABLE_NAME = r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$"
ROW_IDS_PER_STATEMENT = 1000
# Embeddings of each group kept to seed the post-check's search, and the neighbours it asks for.
SEEDS_PER_GROUP = 2
SEARCH_NEIGHBOURS = 20
SEEDS_PER_SEARCH = 256
# Earlier versions a post-check run on its own looks through for seeds, newest first.
SEED_VERSIONS = 8


class LanceTable(ArrowColumns, Connector):
    kind = "lance_table"
    config_schema = schema.config(
        description="Rows of a LanceDB table (chunks, embeddings, their metadata) in a folder "
        "under `LUP_FILE_ROOTS`, deleted or masked with `lancedb`; deletions are compacted "
        "out of the files and earlier versions cleaned up as `history` says.",
        properties={
            "path": schema.path("The LanceDB folder (what `lancedb.connect` opens)."),
            "table": {
                "type": "string",
                "pattern": TABLE_NAME,
                "description": "The table's name in that folder.",
            },
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
            "vector_column": {
                **SQL_COLUMN,
                "description": "Optional: the embedding column. The post-check then searches "
                "it with the subject's own embeddings and expects none of their rows back.",
            },
            "history": schema.history(
                "the table's earlier versions (its old fragments, deletion and index files)"
            ),
        },
        required=["path", "table", "match"],
        example={
            "path": "vectors",
            "table": "support_chunks",
            "match": {"email": "author_email"},
            "vector_column": "vector",
            "history": {"policy": "purged"},
        },
    )
    capabilities = frozenset(
        {Capability.LOCATE, Capability.DELETE, Capability.MASK, Capability.VERIFY, Capability.SCAN}
    )
    batches = True
    file_roots = True
    reach_key = "path"
    erase_method = "lance_delete_by_row_id"
    verify_method = "lance_rescan"

    def __init__(self, *, config: dict[str, Any]):
        super().__init__(config=config)
        self.path = self.config["path"]
        self.table = self.config["table"]
        self.match = self._match_config(self.config, sql_column, "column name")
        self.id_types = frozenset(self.match)
        self.columns_config(self.config, sql_column)
        self.vector_column = checks.text(
            self.config, "vector_column", message="vector_column names a column.", default=None
        )
        self.history: HistoryPolicy = history_config(self.config)
        # Each group's embeddings, from the rows an erase removed: personal data, in memory only.
        self._seeds: dict[Hashable, list[list[float]]] = {}
        self._erased = False
        confined_path(self.path)  # refuse a path outside the roots as soon as it is configured

    def _reach(self) -> None:
        with _unavailable_on_lance_error():
            table = self._open()
            self._plan(table.schema, {}, "none")
            self._vector_field(table.schema)

    # --- abilities ------------------------------------------------------------------------------

    def locate(self, identifiers: Identifiers) -> Located:
        self.require(Capability.LOCATE)
        union, owners = self.owners({None: identifiers})
        counts: dict[Hashable, int] = {None: 0}
        with _unavailable_on_lance_error():
            table = self._open()
            self._rows(table, union, owners, counts, self.deadline())
        log.info("connector.locate", kind=self.kind, count=counts[None])
        return Located(count=counts[None])

    def erase(self, identifiers: Identifiers, *, op: str = "delete") -> Erased:
        return self.erase_groups({None: identifiers}, op=op)[None]

    def erase_groups(self, groups: Groups, *, op: str = "delete") -> dict[Hashable, Erased]:
        """Delete or mask several requests' rows by row id in one pass, then compact and clean
        up as the history policy says; each group gets its own count."""
        self.require(Capability.for_op(op))
        union, owners = self.owners(groups)
        counts: dict[Hashable, int] = dict.fromkeys(groups, 0)
        deadline = self.deadline()
        started = self._now()
        with _unavailable_on_lance_error():
            table = self._open()
            plan = self._plan(table.schema, union, op)
            data = self._scan(table, plan)
            deadline.check()
            matched, hits = self.matched(data, plan, owners)
            self.tally(hits, counts)
            row_ids = data["_rowid"].filter(matched).to_pylist()
            self._erased = True
            if self.vector_column:
                self._keep_seeds(table, row_ids, hits)
            # From here on the table changes: no deadline, so a slow statement is never
            # reported as a failure after it committed (a retry would find nothing to count).
            for start in range(0, len(row_ids), ROW_IDS_PER_STATEMENT):
                where = _row_ids(row_ids[start : start + ROW_IDS_PER_STATEMENT])
                if op == "delete":
                    table.delete(where)
                else:
                    table.update(where=where, values=self._mask_values(table.schema, plan))
            self._clean_up(table)
        count = len(row_ids)
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
        with _unavailable_on_lance_error():
            table = self._open()
            plan = self._plan(table.schema, {key: [] for key in self.match}, "none")
            batches = table.to_lance().to_batches(columns=plan.top, batch_size=SCAN_BATCH_ROWS)
            yield from self.scanned(batches, plan)

    def lineage_dataset(self) -> LineageName:
        """The table's own folder, `<table>.lance` in the database's."""
        return ("file", str(confined_path(self.path) / f"{self.table}.lance"))

    def verify(self, identifiers: Identifiers) -> Verified:
        return self.verify_groups({None: identifiers})[None]

    def verify_groups(self, groups: Groups) -> dict[Hashable, Verified]:
        """The current version's rows and a vector search seeded with each group's
        embeddings; with `purged`, every version the table still lists too."""
        self.require(Capability.VERIFY)
        union, owners = self.owners(groups)
        remaining: dict[Hashable, int] = dict.fromkeys(groups, 0)
        deadline = self.deadline()
        with _unavailable_on_lance_error():
            table = self._open()
            current = table.version
            versions = [current]
            if self.history.purged:
                versions = sorted({v["version"] for v in table.list_versions()} | {current})
            for version in versions:
                deadline.check()
                at = self._open(version) if version != current else table
                self._rows(at, union, owners, remaining, deadline)
            if self.vector_column:
                # After this instance's own erase the seeds are its; only a post-check run on
                # its own (a retry) looks for them in earlier versions.
                seeds = self._seeds
                if not self._erased:
                    seeds = self._earlier_seeds(table, groups, union, owners)
                self._search(table, seeds, union, owners, remaining, deadline)
        at = self._now()
        history = self.history.checked(len(versions), at=at)
        log.info("connector.verify", kind=self.kind, groups=len(groups), versions=len(versions))
        return {
            key: Verified(method=self.verify_method, remaining=n, at=at, history=history)
            for key, n in remaining.items()
        }

    # --- the table ------------------------------------------------------------------------------

    def _open(self, version: int | None = None):
        import lancedb  # slow to import (1.5 s, 180 MB): only in a process that erases here

        database = lancedb.connect(str(confined_path(self.path)))
        try:
            table = database.open_table(self.table)
        except (ValueError, FileNotFoundError):
            raise TargetUnreachable(
                "The folder holds no LanceDB table of that name.",
                fields={"table": "not found"},
            ) from None
        if version is not None:
            table.checkout(version)
        return table

    def _scan(self, table, plan: Plan) -> pa.Table:
        """The match columns and row ids of every row of the version `table` is at."""
        query = table.search().select(plan.top).with_row_id(True).limit(None)
        return query.to_arrow()

    def _rows(self, table, union, owners, counts, deadline: Deadline) -> None:
        plan = self._plan(table.schema, union, "none")
        data = self._scan(table, plan)
        deadline.check()
        self.tally(self.matched(data, plan, owners)[1], counts)

    def _vector_field(self, schema_: pa.Schema) -> pa.Field | None:
        if self.vector_column is None:
            return None
        index = schema_.get_field_index(self.vector_column)
        if index < 0:
            raise ApplicationError(
                "The table has no column named in vector_column.",
                code="invalid_target_config",
                fields={"vector_column": "not in the schema"},
            )
        return schema_.field(index)

    def _keep_seeds(self, table, row_ids: list[int], hits: list[set]) -> None:
        """Up to SEEDS_PER_GROUP embeddings of each group's rows, read before they go."""
        self._vector_field(table.schema)
        chosen: dict[int, set] = {}
        taken: dict[Hashable, int] = {}
        for row_id, keys in zip(row_ids, hits, strict=True):
            wanted = {key for key in keys if taken.get(key, 0) < SEEDS_PER_GROUP}
            if wanted:
                chosen[row_id] = wanted
                for key in wanted:
                    taken[key] = taken.get(key, 0) + 1
        if not chosen:
            return
        rows = (
            table.search()
            .where(_row_ids(list(chosen)))
            .select([self.vector_column])
            .with_row_id(True)
            .limit(None)
            .to_arrow()
        )
        for row_id, vector in zip(
            rows["_rowid"].to_pylist(), rows[self.vector_column].to_pylist(), strict=True
        ):
            for key in chosen.get(row_id, ()):
                if vector is not None:
                    self._seeds.setdefault(key, []).append(vector)

    def _earlier_seeds(self, table, groups, union, owners) -> dict[Hashable, list]:
        """Seeds for a post-check run on its own: the subject's embeddings in the newest
        earlier version that still holds their rows (none after a purge)."""
        earlier = sorted((v["version"] for v in table.list_versions()), reverse=True)
        for version in earlier[1 : 1 + SEED_VERSIONS]:
            old = self._open(version)
            plan = self._plan(old.schema, union, "none")
            data = self._scan(old, plan)
            matched, hits = self.matched(data, plan, owners)
            if hits:
                self._keep_seeds(old, data["_rowid"].filter(matched).to_pylist(), hits)
                return self._seeds
        return {}

    def _search(self, table, seeds, union, owners, counts, deadline: Deadline) -> None:
        """Each seed's nearest rows in the current version: those of its subject count. The
        seeds go SEEDS_PER_SEARCH to a query, which Lance answers in one pass over the data."""
        plan = self._plan(table.schema, union, "none")
        vectors = [vector for found in seeds.values() for vector in found]
        for start in range(0, len(vectors), SEEDS_PER_SEARCH):
            deadline.check()
            chunk = vectors[start : start + SEEDS_PER_SEARCH]
            found = (
                table.search(
                    chunk if len(chunk) > 1 else chunk[0], vector_column_name=self.vector_column
                )
                .select(plan.top)
                .limit(SEARCH_NEIGHBOURS)
                .to_arrow()
            )
            self.tally(self.matched(found, plan, owners)[1], counts)

    def _mask_values(self, schema_: pa.Schema, plan: Plan) -> dict[str, Any]:
        return {
            name: self.mask_value if _is_text(schema_.field(name).type) else None
            for (name,) in plan.mask
        }

    def _clean_up(self, table) -> None:
        """Compact the fragments holding deleted rows with their deletions materialized (the
        rows' bytes leave the files), bring indices up to date, and remove versions older than
        the policy's retention (`purged`: all but the latest, past Lance's seven-day guard)."""
        table.to_lance().optimize.compact_files(materialize_deletions_threshold=0.0)
        table.checkout_latest()
        table.optimize(
            cleanup_older_than=self.history.retention,
            delete_unverified=self.history.purged,
        )


def _row_ids(row_ids: list[int]) -> str:
    return f"_rowid IN ({', '.join(str(int(row_id)) for row_id in row_ids)})"


@contextlib.contextmanager
def _unavailable_on_lance_error() -> Iterator[None]:
    try:
        with warnings.catch_warnings():
            # Lance warns that a zero-day clean-up breaks readers of old versions: the
            # history policy chose that, and the module's docstring says so.
            warnings.simplefilter("ignore")
            yield
    except ApplicationError:
        raise
    except (OSError, RuntimeError, pa.ArrowException) as error:
        raise TargetUnavailable(
            f"The LanceDB table could not be read or written ({type(error).__name__})."
        ) from None
