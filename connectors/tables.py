"""What the SQL kinds (`sql_table`, `sqlite_table`, `postgres_table`) share: the one parser of a
table's config (`table`, `match`, `mask`, `resolve`, `batch_size`), batching of values, and the
per-group tally of the rows one batched pass finds.

Names must match a strict pattern when the connector is built (config is written by staff but
still reaches SQL); each kind then checks them against its database's catalog before any
statement runs, and binds every value.
"""

import contextlib
import re
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar

import structlog

from . import config as checks
from . import schema
from .base import Capability, Connector, Erased, Found, Groups, Identifiers, Located, Verified
from .errors import ConnectorConfigError

log = structlog.get_logger(__name__)

TABLE = re.compile(r"^(?:([A-Za-z_][A-Za-z0-9_]{0,62})\.)?([A-Za-z_][A-Za-z0-9_]{0,62})$")
MAX_BATCH_SIZE = 100_000
# Rows a scan (the subject index) fetches at a time: the most it holds in memory.
SCAN_FETCH_ROWS = 10_000
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
INTEGER = re.compile(r"^[+-]?[0-9]{1,30}$")
# (identifier type, value) of one given identifier.
# Config keys every SQL kind shares, described once.
COLUMN = {"type": "string", "pattern": NAME.pattern}
# `table` of a kind whose database has no schemas (SQLite, or any Django alias).
PLAIN_TABLE = {
    "type": "string",
    "pattern": NAME.pattern,
    "description": "The table's name (letters, digits, underscores).",
}
MATCH = schema.match(
    COLUMN,
    "Identifier type -> the column holding it (letters, digits, underscores). The types named "
    "here are the ones the target is keyed by; the columns must exist when it is registered.",
)
MASK = {
    "type": "object",
    "propertyNames": COLUMN,
    "additionalProperties": {"type": ["string", "null"]},
    "description": "Optional: column -> the constant (or null) a masked row gets there. Without "
    "it the target can only delete rows.",
}
RESOLVE = {
    **schema.match(
        COLUMN,
        "Optional: identifier type -> the column it can be read from, for an identity source "
        "(a users table maps an e-mail to the user id other targets are keyed by).",
    ),
    "minProperties": 0,
}


def batch_size(default: int) -> dict[str, Any]:
    return schema.integer(
        1, MAX_BATCH_SIZE, default, "Identifier values per statement (one `= ANY(...)` each)."
    )


Pair = tuple[str, str]


def chunked(values: Mapping[str, Sequence[str]], size: int) -> Iterator[dict[str, list[str]]]:
    """At most `size` values per chunk, across identifier types (one statement each)."""
    chunk: dict[str, list[str]] = {}
    count = 0
    for id_type, given in values.items():
        for value in given:
            chunk.setdefault(id_type, []).append(value)
            count += 1
            if count == size:
                yield chunk
                chunk, count = {}, 0
    if chunk:
        yield chunk


class RowTally:
    """Per-group counts of the rows one batched pass over a table finds.

    Each row read carries its match columns, one per identifier type in `types`. A row counts
    once for every group that gave one of its values. A column's value is looked up by its text
    form (`canonical` maps a given value to the form the database writes it in, e.g. "042" to
    "42" for an integer column; integers read as such are compared as numbers), then case-folded
    (a case-insensitive column or collation matches more than equal text). A row none of whose
    values is found still matched some value of its chunk, so it counts for every group of that
    chunk: a count may then be too high, never too low, which keeps a post-check safe.
    """

    def __init__(
        self,
        groups: Groups,
        owners: Mapping[Pair, list],
        chunks: list[dict],
        types: list[str],
        canonical: Mapping[Pair, str] | None = None,
    ):
        self.counts: dict[Hashable, int] = dict.fromkeys(groups, 0)
        self.types = types
        self.owners = owners
        self.chunk_of: dict[Pair, int] = {}
        self.chunk_groups: list[set] = []
        self.exact: dict[Pair, list[Pair]] = {}
        self.folded: dict[Pair, list[Pair]] = {}
        self.numbers: dict[tuple[str, int], list[Pair]] = {}
        for index, chunk in enumerate(chunks):
            holders: set = set()
            for id_type, values in chunk.items():
                for value in values:
                    pair = (id_type, value)
                    self.chunk_of[pair] = index
                    holders.update(owners[pair])
                    text = canonical.get(pair, value) if canonical else value
                    self.exact.setdefault((id_type, text), []).append(pair)
                    self.folded.setdefault((id_type, text.casefold()), []).append(pair)
                    if INTEGER.fullmatch(text):
                        self.numbers.setdefault((id_type, int(text)), []).append(pair)
            self.chunk_groups.append(holders)

    def add(self, row: Sequence[Any], chunk: int, *, once: bool = False) -> None:
        """Count a row that chunk `chunk` found. With `once` (reads, where later chunks find
        the same rows again), a row is skipped if an earlier chunk must have found it too:
        only an exact match proves that, so a folded one never skips a row."""
        found: list[Pair] = []
        exact: list[Pair] = []
        for id_type, value in zip(self.types, row, strict=True):
            pairs, is_exact = self._lookup(id_type, value)
            found += pairs
            if is_exact:
                exact += pairs
        if once and any(self.chunk_of[pair] < chunk for pair in exact):
            return
        if found:
            self._count({key for pair in found for key in self.owners[pair]})
        else:
            self._count(self.chunk_groups[chunk])

    def unattributed(self, chunk: int, rows: int) -> None:
        """Rows a write changed beyond those read just before it (inserted in between)."""
        for _ in range(max(rows, 0)):
            self._count(self.chunk_groups[chunk])

    def _count(self, holders) -> None:
        for key in holders:
            self.counts[key] += 1

    def _lookup(self, id_type: str, value: Any) -> tuple[list[Pair], bool]:
        if value is None:
            return [], False
        if isinstance(value, int) and not isinstance(value, bool):
            pairs = self.numbers.get((id_type, value))
            if pairs:
                return pairs, True
        text = value if isinstance(value, str) else str(value)
        pairs = self.exact.get((id_type, text))
        if pairs:
            return pairs, True
        return self.folded.get((id_type, text.casefold()), []), False


class TableConnector(Connector):
    """Base of the SQL kinds: parses the table config into `table` (and `schema`), `match`,
    `mask`, `resolvable` and `batch_size`, and adjusts the instance's capabilities (no `mask`,
    no masking; a `resolve` map, resolving). Subclasses list the keys they take in
    `config_keys` (a kind without "mask" in it cannot mask) and check their connection keys."""

    batches = True
    mask_needs = "a mask (column -> replacement value)"
    erase_method = "sql_bound_statements"
    verify_method = "sql_count"
    # Values per statement when the config gives no `batch_size`.
    default_batch_size: ClassVar[int] = 500
    # Whether `table` may be "schema.name" (a kind whose database has schemas).
    schemas: ClassVar[bool] = False

    def __init__(self, *, config: dict[str, Any]):
        super().__init__(config=config)
        table = self.config.get("table")
        parsed = TABLE.fullmatch(table) if isinstance(table, str) else None
        if parsed is None or (parsed.group(1) and not self.schemas):
            raise ConnectorConfigError(
                "table is a plain name or schema.name (letters, digits, underscores)."
                if self.schemas
                else "table is a plain name (letters, digits, underscores).",
                fields={"table": "not a valid table name"},
            )
        self.schema, self.table = parsed.group(1), parsed.group(2)
        self.match = self._match_config(self.config, NAME.fullmatch, "column")
        self.id_types = frozenset(self.match)
        self.mask = _mask(self.config.get("mask"))
        if not self.mask:
            self.capabilities = self.capabilities - {Capability.MASK}
        # The same rules as `match` (errors name `match.…`, as the two share a shape).
        resolve = self.config.get("resolve")
        self.resolvable = (
            self._match_config({"match": resolve}, NAME.fullmatch, "column")
            if resolve is not None and resolve != {}
            else {}
        )
        if self.resolvable:
            self.capabilities = self.capabilities | {Capability.RESOLVE}
        self.batch_size = checks.integer(
            self.config,
            "batch_size",
            low=1,
            high=MAX_BATCH_SIZE,
            default=self.default_batch_size,
            message=f"batch_size is a whole number from 1 to {MAX_BATCH_SIZE}.",
        )

    def mask_gaps(self) -> list[str]:
        return sorted(set(self.match.values()) - set(self.mask)) if self.mask else []

    def _erased_groups(
        self,
        groups: Groups,
        tally: "RowTally",
        *,
        op: str,
        count: int,
        batches: int,
        started: datetime,
    ) -> dict[Hashable, Erased]:
        """What a batched erase did: logged (counts only) and split into each group's share."""
        log.info(
            "connector.erase",
            kind=self.kind,
            op=op,
            count=count,
            groups=len(groups),
            batches=batches,
        )
        shared = Erased(
            op=op,
            method=self.erase_method,
            count=count,
            started_at=started,
            completed_at=self._now(),
        )
        return self.split(shared, tally.counts)

    def _reach(self) -> None:
        """The table and every column the config names, found in the catalog."""
        with self._session():
            pass

    def _column_batches(self, values: dict[str, list[str]]) -> Iterator[tuple[str, list[str]]]:
        """(match column, at most `batch_size` values of its type), one statement each."""
        for id_type, given in values.items():
            for start in range(0, len(given), self.batch_size):
                yield self.match[id_type], given[start : start + self.batch_size]


class CursorTable(TableConnector):
    """The SQL kinds whose statements are text run through a DB-API cursor (`sql_table`,
    `sqlite_table`): every ability, written once. A subclass gives `_session()`, a context
    manager yielding (cursor, quote) for one transaction after the table and columns are found
    in the catalog, its placeholder `mark`, and how a batched write or read begins."""

    # The driver's placeholder for a bound value.
    mark: ClassVar[str] = "%s"

    def _session(self) -> contextlib.AbstractContextManager[tuple[Any, Callable[[str], str]]]:
        raise NotImplementedError

    def _begin_write(self, cursor: Any) -> str:
        """Start a batched write; returns what locks the rows each read finds until they are
        written (" FOR UPDATE", or "" where the transaction already keeps other writers out)."""
        return ""

    def _begin_read(self, cursor: Any) -> None:
        """Start a batched read (where needed, so every chunk reads one snapshot)."""

    def _scan_cursor(self, cursor: Any) -> Any:
        """The cursor a scan reads the whole table through, SCAN_FETCH_ROWS rows at a time
        (the session's, unless the driver would fetch every row at once on it)."""
        return cursor

    def scan(self) -> Iterator[Found]:
        """Each row's match values (as text), one snapshot, fetched a batch at a time."""
        types = list(self.match)
        with self._session() as (cursor, q):
            self._begin_read(cursor)
            reader = self._scan_cursor(cursor)
            try:
                columns = ", ".join(q(self.match[t]) for t in types)
                reader.execute(f"SELECT {columns} FROM {q(self.table)}")  # noqa: S608 - checked
                while rows := reader.fetchmany(SCAN_FETCH_ROWS):
                    for row in rows:
                        yield scanned(types, row)
            finally:
                if reader is not cursor:
                    reader.close()

    # --- abilities ------------------------------------------------------------------------------

    def locate(self, identifiers: Identifiers) -> Located:
        with self._session() as (cursor, q):
            return Located(count=self._count(cursor, q, self.usable(identifiers), masked=False))

    def verify(self, identifiers: Identifiers) -> Verified:
        with self._session() as (cursor, q):
            remaining = self._count(cursor, q, self.usable(identifiers), masked=True)
        return Verified(method=self.verify_method, remaining=remaining, at=self._now())

    def erase(self, identifiers: Identifiers, *, op: str = "delete") -> Erased:
        self.require(Capability.for_op(op))
        values = self.usable(identifiers)
        started, total = self._now(), 0
        with self._session() as (cursor, q):
            for column, batch in self._column_batches(values):
                marks = ", ".join([self.mark] * len(batch))
                if op == "delete":
                    sql = f"DELETE FROM {q(self.table)} WHERE {q(column)} IN ({marks})"  # noqa: S608
                    cursor.execute(sql, batch)
                else:
                    sets = ", ".join(f"{q(c)} = {self.mark}" for c in self.mask)
                    sql = f"UPDATE {q(self.table)} SET {sets} WHERE {q(column)} IN ({marks})"  # noqa: S608
                    cursor.execute(sql, [*self.mask.values(), *batch])
                total += max(cursor.rowcount, 0)
        log.info("connector.erase", kind=self.kind, op=op, count=total)
        return Erased(
            op=op if total else "none",
            method=self.erase_method,
            count=total,
            started_at=started,
            completed_at=self._now(),
        )

    def erase_groups(self, groups: Groups, *, op: str = "delete") -> dict[Hashable, Erased]:
        """Erase several requests' rows with one read and one write per batch of values; each
        group gets the count of rows holding any of its values."""
        self.require(Capability.for_op(op))
        union, owners = self.owners(groups)
        chunks = list(chunked(union, self.batch_size))
        types = list(union)
        tally = RowTally(groups, owners, chunks, types)
        started, total = self._now(), 0
        with self._session() as (cursor, q):
            lock = self._begin_write(cursor)
            table, columns = q(self.table), ", ".join(q(self.match[t]) for t in types)
            for index, chunk in enumerate(chunks):
                # Masking skips masked rows, so a row two chunks match is counted once.
                where, params = self._where(q, chunk, unmasked=op == "mask")
                cursor.execute(f"SELECT {columns} FROM {table} WHERE {where}{lock}", params)  # noqa: S608
                found = cursor.fetchall()
                for row in found:
                    tally.add(row, index)
                if op == "delete":
                    cursor.execute(f"DELETE FROM {table} WHERE {where}", params)  # noqa: S608
                else:
                    sets = ", ".join(f"{q(c)} = {self.mark}" for c in self.mask)
                    cursor.execute(
                        f"UPDATE {table} SET {sets} WHERE {where}",  # noqa: S608
                        [*self.mask.values(), *params],
                    )
                tally.unattributed(index, cursor.rowcount - len(found))
                total += len(found)
        return self._erased_groups(
            groups, tally, op=op, count=total, batches=len(chunks), started=started
        )

    def verify_groups(self, groups: Groups) -> dict[Hashable, Verified]:
        """The post-check of a batch: one read per batch of values, a count per group of the
        rows still holding its values (matching and not fully masked)."""
        self.require(Capability.VERIFY)
        union, owners = self.owners(groups)
        chunks = list(chunked(union, self.batch_size))
        types = list(union)
        tally = RowTally(groups, owners, chunks, types)
        with self._session() as (cursor, q):
            self._begin_read(cursor)
            table, columns = q(self.table), ", ".join(q(self.match[t]) for t in types)
            for index, chunk in enumerate(chunks):
                where, params = self._where(q, chunk, unmasked=True)
                cursor.execute(f"SELECT {columns} FROM {table} WHERE {where}", params)  # noqa: S608
                for row in cursor.fetchall():
                    tally.add(row, index, once=True)
        log.info("connector.verify", kind=self.kind, groups=len(groups), batches=len(chunks))
        return self.checked(self.verify_method, tally.counts)

    def resolve(self, identifiers: Identifiers, *, want: str) -> list[str]:
        self.require(Capability.RESOLVE)
        column = self.resolvable.get(want)
        if column is None:
            raise self._not_supported(Capability.RESOLVE)
        found: set[str] = set()
        with self._session() as (cursor, q):
            for match_column, batch in self._column_batches(self.usable(identifiers)):
                marks = ", ".join([self.mark] * len(batch))
                cursor.execute(
                    f"SELECT {q(column)} FROM {q(self.table)} "  # noqa: S608
                    f"WHERE {q(match_column)} IN ({marks}) AND {q(column)} IS NOT NULL",
                    batch,
                )
                found.update(str(row[0]) for row in cursor.fetchall())
        return sorted(found)

    # --- helpers --------------------------------------------------------------------------------

    def _count(self, cursor, q, values, *, masked: bool) -> int:
        total = 0
        for column, batch in self._column_batches(values):
            marks = ", ".join([self.mark] * len(batch))
            where = f"{q(column)} IN ({marks})"
            params = list(batch)
            if masked and self.mask:
                # After masking, rows still match but hold nothing of the subject's any more.
                where += (
                    " AND NOT ("
                    + " AND ".join(
                        f"{q(c)} IS NULL" if v is None else f"{q(c)} = {self.mark}"
                        for c, v in self.mask.items()
                    )
                    + ")"
                )
                params += [v for v in self.mask.values() if v is not None]
            cursor.execute(f"SELECT count(*) FROM {q(self.table)} WHERE {where}", params)  # noqa: S608
            total += cursor.fetchone()[0]
        return total

    def _where(self, q, chunk: dict[str, list[str]], *, unmasked: bool) -> tuple[str, list]:
        """Rows holding any value of the chunk; with `unmasked`, only those some mask column
        still differs in (each test is written to be true or false, never NULL, so a NULL
        column cannot hide a row)."""
        parts, params = [], []
        for id_type, values in chunk.items():
            parts.append(f"{q(self.match[id_type])} IN ({', '.join([self.mark] * len(values))})")
            params += values
        where = "(" + " OR ".join(parts) + ")"
        if unmasked and self.mask:
            masked = " AND ".join(
                f"{q(c)} IS NULL" if v is None else f"({q(c)} IS NOT NULL AND {q(c)} = {self.mark})"
                for c, v in self.mask.items()
            )
            where += f" AND NOT ({masked})"
            params += [v for v in self.mask.values() if v is not None]
        return where, params


def scanned(types: Sequence[str], row: Sequence[Any]) -> Found:
    """A row's match values as text: text as is, integers in decimal; nulls (and values of
    any other type, which no identifier is) left out."""
    return tuple(
        (id_type, value if isinstance(value, str) else str(value))
        for id_type, value in zip(types, row, strict=True)
        if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))
    )


def _mask(mask: Any) -> dict[str, str | None]:
    """`mask`: {column: constant or null}; absent, null or empty for none."""
    if mask is None:
        return {}
    if not isinstance(mask, dict):
        raise ConnectorConfigError(
            "mask maps columns to replacement values.", fields={"mask": "not an object"}
        )
    for column, value in mask.items():
        if not isinstance(column, str) or not NAME.fullmatch(column):
            raise ConnectorConfigError(
                "mask names a column that is not a valid column name.",
                fields={"mask": "not a valid column name"},
            )
        if value is not None and not isinstance(value, str):
            raise ConnectorConfigError(
                f"mask.{column} is a string or null.", fields={f"mask.{column}": "not a string"}
            )
    return dict(mask)
