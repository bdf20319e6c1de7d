"""`postgres_table`: rows of one PostgreSQL table, deleted or masked in place.

Config:

    {
        "dsn_env": "CRM_DATABASE_URL",          # environment variable holding the DSN (or
                                                # "dsn_file": a file under the secret roots)
        "table": "crm.contacts",                # "schema.table", or "table" (current schema)
        "match": {"email": "email", "user_id": "external_id"},   # id_type -> column
        "mask": {"email": "redacted@invalid", "name": null},     # optional: column -> value
        "resolve": {"user_id": "id"},           # optional: id_type -> column it can be read from
        "batch_size": 1000,                     # values per DELETE/UPDATE statement
        "history": {"policy": "purged"},        # optional: dead row versions (below)
        "timeout_seconds": 30,
    }

The DSN is read from the environment (or the file) at call time and never stored, so a target's
config holds no secret. Not supported: tables without a column holding the identifier itself
(joins), and masking by expression (a mask value is a constant).

Why the checks: config is written by staff but still reaches SQL, so names must match a strict
pattern when the connector is built, and must exist in `information_schema.columns` before any
statement runs. Names are then composed only with `psycopg.sql.Identifier`, and identifier
values and mask values are always bound parameters. Each value array is cast to the column's
catalog type, so the comparison can use the column's index.

Scanning (`scan`, for the subject index): the match columns as text, through a server-side
cursor in one read-only snapshot, a batch of rows a fetch.

Batching (`erase_groups`, `verify_groups`): the values of all groups are served together, one
`= ANY(...)` statement per `batch_size` values. A delete returns the deleted rows' match columns
(`RETURNING col::text`); a mask, since PostgreSQL before 18 cannot return a row's old values,
locks the matching unmasked rows in a CTE and updates them by `(tableoid, ctid)`, returning the
values the CTE read. Each row is counted for every group owning one of its values (`RowTally`):
a row holding two groups' values counts for both and is erased once. The given values are first
cast to their column's type and back to text, so they compare with `col::text` as PostgreSQL
writes it ("042" finds the integer 42).

History (`history`): a deleted row, and the old version of a masked one, stay on disk as dead
row versions until a VACUUM removes them; until then `pg_dirtyread` (or a page inspector) still
returns them. With `{"policy": "purged"}` the post-check first runs `VACUUM (INDEX_CLEANUP ON)`
on the table (on a connection of its own in autocommit, as VACUUM cannot run in a transaction;
the index cleanup also drops the index entries that held the subject's values), then reads
every row version on disk, live and dead, in each heap of the table (each leaf partition)
through `pg_dirtyread`: a version still holding the subject's values counts as remaining, so a
dead one that VACUUM could not remove yet (an older snapshot still sees it) fails the run, which
is retried until none is left. The post-check's method is then "pg_dirtyread", and the
receipt's `versions_checked` counts the row versions it read besides the current rows (the
dead ones VACUUM left). This needs the extension in the target database and a role that may
run it (a superuser); registration checks the extension. With `{"policy": "retained",
"retain_days": N}` nothing is vacuumed, the post-check reads the current rows only, and the
receipt says older versions are kept until the post-check's time plus N days (the database's
autovacuum, or a scheduled VACUUM, must drop them within that). Not covered either way: copies
outside the table (WAL, replicas' lag, backups) and freed bytes no API returns.
"""

import contextlib
import math
from collections.abc import Hashable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import psycopg
import structlog
from psycopg import sql

from core.errors import ApplicationError

from . import idle_connections, schema, secrets
from .base import (
    Capability,
    ConnectorConfigError,
    ConnectorTimeout,
    Deadline,
    Erased,
    Found,
    Groups,
    Identifiers,
    Located,
    TargetUnavailable,
    Verified,
)
from .errors import HistoryUnreadable
from .history import history_policy
from .tables import (
    MASK,
    MATCH,
    RESOLVE,
    SCAN_FETCH_ROWS,
    TABLE,
    Pair,
    RowTally,
    TableConnector,
    batch_size,
    chunked,
    scanned,
)

log = structlog.get_logger(__name__)

# libpq ignores connect_timeout below 2 seconds.
MIN_CONNECT_TIMEOUT = 2


class PostgresTable(TableConnector):
    kind = "postgres_table"
    config_schema = schema.config(
        description="Rows of one PostgreSQL table, deleted or masked in place.",
        properties={
            **secrets.properties(
                "dsn", "the database's DSN (a URL or key=value string, password included)"
            ),
            "table": {
                "type": "string",
                "pattern": TABLE.pattern,
                "description": '"schema.table", or "table" in the current schema.',
            },
            "match": MATCH,
            "mask": MASK,
            "resolve": RESOLVE,
            "batch_size": batch_size(1000),
            "history": schema.history_of(
                purged="after erasing, the check runs VACUUM on the table, which removes the "
                "dead row versions a delete or a mask leaves on disk, then reads every row "
                "version still on disk with the `pg_dirtyread` extension (installed in that "
                "database, run by a superuser role); a version it could not remove yet (a "
                "transaction that started earlier still sees it) fails the erasure, which is "
                "retried.",
                retained="nothing is vacuumed; the database's autovacuum (or a scheduled "
                "VACUUM) must remove dead row versions within `retain_days`; the check reads "
                "the current rows only.",
            ),
        },
        required=["table", "match"],
        one_of=secrets.alternatives("dsn"),
        example={
            "dsn_env": "CRM_DATABASE_URL",
            "table": "crm.contacts",
            "match": {"email": "email", "user_id": "external_id"},
            "mask": {"email": "redacted@invalid", "name": None},
        },
    )
    capabilities = frozenset(
        {Capability.LOCATE, Capability.DELETE, Capability.MASK, Capability.VERIFY, Capability.SCAN}
    )
    default_batch_size = 1000
    schemas = True

    def __init__(self, *, config: dict[str, Any]):
        super().__init__(config=config)
        self.dsn = secrets.secret_of(self.config, "dsn")
        self.reach_key = self.dsn.key
        self.history = history_policy(self.config)
        self.purges = self.history is not None and self.history.purged
        if self.purges:
            self.verify_method = "pg_dirtyread"

    # --- abilities ------------------------------------------------------------------------------

    def locate(self, identifiers: Identifiers) -> Located:
        self.require(Capability.LOCATE)
        values = self.usable(identifiers)
        with self._session() as (cur, catalog, deadline):
            count = self._count(cur, catalog, deadline, values, unmasked_only=False)
        log.info("connector.locate", kind=self.kind, count=count)
        return Located(count=count)

    def erase(self, identifiers: Identifiers, *, op: str = "delete") -> Erased:
        self.require(Capability.for_op(op))
        values = self.usable(identifiers)
        started = self._now()
        total = batches = 0
        with self._session() as (cur, catalog, deadline):
            for batch in self._batches(values):
                self._timed(cur, deadline, *self._write_statement(op, catalog, batch))
                total += max(cur.rowcount, 0)
                batches += 1
        log.info("connector.erase", kind=self.kind, op=op, count=total, batches=batches)
        return Erased(
            op=op if total else "none",
            method=self.erase_method,
            count=total,
            started_at=started,
            completed_at=self._now(),
        )

    def verify(self, identifiers: Identifiers) -> Verified:
        """Rows still holding the subject's data: matching rows, less those fully masked (and,
        with a history policy, what it says of older row versions)."""
        self.require(Capability.VERIFY)
        if self.history is not None:
            return self.verify_groups({None: identifiers})[None]
        values = self.usable(identifiers)
        with self._session() as (cur, catalog, deadline):
            remaining = self._count(cur, catalog, deadline, values, unmasked_only=True)
        log.info("connector.verify", kind=self.kind, remaining=remaining)
        return Verified(method=self.verify_method, remaining=remaining, at=self._now())

    def erase_groups(self, groups: Groups, *, op: str = "delete") -> dict[Hashable, Erased]:
        """Erase several requests' rows with one statement per batch of values; each group gets
        the count of rows holding any of its values."""
        self.require(Capability.for_op(op))
        union, owners = self.owners(groups)
        chunks = list(self._batches(union))
        types = list(union)
        started, total = self._now(), 0
        with self._session() as (cur, catalog, deadline):
            canonical = self._canonical(cur, catalog, deadline, union)
            tally = RowTally(groups, owners, chunks, types, canonical)
            for index, chunk in enumerate(chunks):
                self._timed(cur, deadline, *self._returning_statement(op, catalog, chunk, types))
                for row in cur.fetchall():
                    tally.add(row, index)
                    total += 1
        return self._erased_groups(
            groups, tally, op=op, count=total, batches=len(chunks), started=started
        )

    def verify_groups(self, groups: Groups) -> dict[Hashable, Verified]:
        """The post-check of a batch: one read per batch of values, a count per group of the
        rows still holding its values (matching, less those fully masked). With the history
        `purged`, the table is vacuumed first and the read covers every row version on disk."""
        self.require(Capability.VERIFY)
        union, owners = self.owners(groups)
        chunks = list(self._batches(union))
        types = list(union)
        if self.purges:
            self._vacuum()
        versions = 0
        with self._session() as (cur, catalog, deadline):
            tally = RowTally(
                groups, owners, chunks, types, self._canonical(cur, catalog, deadline, union)
            )
            if self.purges:
                versions = self._every_version(cur, catalog, deadline, chunks, types, tally)
            else:
                for index, chunk in enumerate(chunks):
                    where, params = self._unmasked_where(catalog, chunk)
                    self._timed(
                        cur,
                        deadline,
                        sql.SQL("SELECT {} FROM {} WHERE {}").format(
                            self._texts(types), self._table_sql(catalog), where
                        ),
                        params,
                    )
                    for row in cur.fetchall():
                        # Unlike a write, a read finds a row again in every chunk it matches.
                        tally.add(row, index, once=True)
        log.info("connector.verify", kind=self.kind, groups=len(groups), batches=len(chunks))
        checked = self.checked(self.verify_method, tally.counts)
        if self.history is None:
            return checked
        return {
            key: replace(found, history=self.history.checked(versions=versions, at=found.at))
            for key, found in checked.items()
        }

    def scan(self) -> Iterator[Found]:
        """Each row's match values as text, through a server-side cursor (one snapshot,
        SCAN_FETCH_ROWS rows a fetch); each fetch, not the whole scan, is bounded by
        `timeout_seconds`."""
        types = list(self.match)
        with self._session() as (cur, catalog, _):
            cur.execute(
                "SELECT set_config('statement_timeout', %s, true)",
                [str(int(self.timeout_seconds * 1000))],
            )
            statement = sql.SQL("SELECT {} FROM {}").format(
                sql.SQL(", ").join(
                    sql.SQL("{}::text").format(sql.Identifier(self.match[t])) for t in types
                ),
                self._table_sql(catalog),
            )
            with cur.connection.cursor(name="lup_subject_scan") as reader:
                reader.execute(statement)
                while rows := reader.fetchmany(SCAN_FETCH_ROWS):
                    for row in rows:
                        yield scanned(types, row)

    def resolve(self, identifiers: Identifiers, *, want: str) -> list[str]:
        """Read the subject's `want` values from the configured column (e.g. a users table
        mapping email to user_id)."""
        self.require(Capability.RESOLVE)
        column = self.resolvable.get(want)
        if column is None:
            raise self._not_supported(Capability.RESOLVE)
        values = self.usable(identifiers)
        with self._session() as (cur, catalog, deadline):
            where, params = self._where(catalog, values)
            self._timed(
                cur,
                deadline,
                sql.SQL("SELECT DISTINCT {}::text FROM {} WHERE {} AND {} IS NOT NULL").format(
                    sql.Identifier(column),
                    self._table_sql(catalog),
                    where,
                    sql.Identifier(column),
                ),
                params,
            )
            found = sorted(row[0] for row in cur.fetchall())
        log.info("connector.resolve", kind=self.kind, count=len(found))
        return found

    def _reach(self) -> None:
        """The table and its columns in the catalog, and, for the history "purged", the
        extension its post-check reads dead row versions with."""
        with self._session() as (cur, catalog, _deadline):
            if self.purges:
                self._heaps(cur, catalog)

    # --- SQL ------------------------------------------------------------------------------------

    def _table_sql(self, catalog: "Catalog") -> sql.Composable:
        # Always schema-qualified with the schema the catalog check found the table in.
        return sql.Identifier(catalog.schema, self.table)

    @staticmethod
    def _typed(catalog: "Catalog", column: str, array: bool) -> sql.Composable:
        """A bound parameter cast to the column's catalog type (or an array of it)."""
        udt_schema, udt_name = catalog.types[column]
        type_sql = sql.Identifier(udt_schema, udt_name)
        template = "CAST({} AS {}[])" if array else "CAST({} AS {})"
        return sql.SQL(template).format(sql.Placeholder(), type_sql)

    def _where(
        self, catalog: "Catalog", values: dict[str, list[str]]
    ) -> tuple[sql.Composable, list]:
        parts, params = [], []
        for id_type, batch in values.items():
            column = self.match[id_type]
            parts.append(
                sql.SQL("{} = ANY({})").format(
                    sql.Identifier(column), self._typed(catalog, column, array=True)
                )
            )
            params.append(batch)
        return sql.SQL("({})").format(sql.SQL(" OR ").join(parts)), params

    def _unmasked_where(
        self, catalog: "Catalog", chunk: dict[str, list[str]]
    ) -> tuple[sql.Composable, list]:
        """Rows holding a value of the chunk and not fully masked."""
        where, params = self._where(catalog, chunk)
        if self.mask:
            unmasked, more = self._unmasked(catalog)
            where = sql.SQL("{} AND {}").format(where, unmasked)
            params += more
        return where, params

    def _unmasked(self, catalog: "Catalog") -> tuple[sql.Composable, list]:
        """Rows where some mask column still differs from its mask value."""
        parts = [
            sql.SQL("{} IS DISTINCT FROM {}").format(
                sql.Identifier(column), self._typed(catalog, column, array=False)
            )
            for column in self.mask
        ]
        return sql.SQL("({})").format(sql.SQL(" OR ").join(parts)), list(self.mask.values())

    def _count(self, cur, catalog, deadline, values, *, unmasked_only: bool) -> int:
        where, params = self._where(catalog, values)
        if unmasked_only and self.mask:
            unmasked, more = self._unmasked(catalog)
            where = sql.SQL("{} AND {}").format(where, unmasked)
            params += more
        table = self._table_sql(catalog)
        self._timed(
            cur, deadline, sql.SQL("SELECT count(*) FROM {} WHERE {}").format(table, where), params
        )
        return cur.fetchone()[0]

    def _write_statement(self, op: str, catalog: "Catalog", batch) -> tuple[sql.Composable, list]:
        where, params = self._where(catalog, batch)
        if op == "delete":
            table = self._table_sql(catalog)
            return sql.SQL("DELETE FROM {} WHERE {}").format(table, where), params
        # Rows already masked are left alone: a retried or overlapping batch counts each row once.
        assignments = sql.SQL(", ").join(
            sql.SQL("{} = {}").format(sql.Identifier(c), self._typed(catalog, c, array=False))
            for c in self.mask
        )
        unmasked, more = self._unmasked(catalog)
        statement = sql.SQL("UPDATE {} SET {} WHERE {} AND {}").format(
            self._table_sql(catalog), assignments, where, unmasked
        )
        return statement, [*self.mask.values(), *params, *more]

    def _texts(self, types: list[str]) -> sql.Composable:
        """The match column of each identifier type, as text."""
        return sql.SQL(", ").join(
            sql.SQL("{}::text").format(sql.Identifier(self.match[t])) for t in types
        )

    def _returning_statement(
        self, op: str, catalog: "Catalog", chunk: dict[str, list[str]], types: list[str]
    ) -> tuple[sql.Composable, list]:
        """A write that returns the match columns (as text) of every row it erased."""
        where, params = self._where(catalog, chunk)
        table = self._table_sql(catalog)
        if op == "delete":
            statement = sql.SQL("DELETE FROM {} WHERE {} RETURNING {}").format(
                table, where, self._texts(types)
            )
            return statement, params
        # RETURNING gives the new row before PostgreSQL 18, and a mask may blank a match column:
        # read and lock the rows first, then update exactly those. `tableoid` with `ctid`, as a
        # ctid alone is not unique across the partitions of a partitioned table.
        unmasked, more = self._unmasked(catalog)
        assignments = sql.SQL(", ").join(
            sql.SQL("{} = {}").format(sql.Identifier(c), self._typed(catalog, c, array=False))
            for c in self.mask
        )
        statement = sql.SQL(
            "WITH lup_hit AS (SELECT tableoid AS lup_table, ctid AS lup_row, {} FROM {} "
            "WHERE {} AND {} FOR UPDATE) "
            "UPDATE {} AS lup_target SET {} FROM lup_hit "
            "WHERE lup_target.tableoid = lup_hit.lup_table AND lup_target.ctid = lup_hit.lup_row "
            "RETURNING {}"
        ).format(
            # Numbered names: two identifier types may share a column.
            sql.SQL(", ").join(
                sql.SQL("{} AS {}").format(sql.Identifier(self.match[t]), sql.Identifier(f"m{i}"))
                for i, t in enumerate(types)
            ),
            table,
            where,
            unmasked,
            table,
            assignments,
            sql.SQL(", ").join(
                sql.SQL("lup_hit.{}::text").format(sql.Identifier(f"m{i}"))
                for i in range(len(types))
            ),
        )
        return statement, [*params, *more, *self.mask.values()]

    # --- history -------------------------------------------------------------------------------

    def _vacuum(self) -> None:
        """Remove the dead row versions of the table (and of its TOAST table and partitions),
        and the index entries pointing at them. VACUUM cannot run inside a transaction, hence
        a session in autocommit. A role that does not own the table gets a warning, not an
        error, and nothing is removed: the read that follows then finds what is left."""
        with _Session(self, autocommit=True) as (cur, catalog, deadline):
            self._statement_timeout(cur, deadline, local=False)
            cur.execute(sql.SQL("VACUUM (INDEX_CLEANUP ON) {}").format(self._table_sql(catalog)))
        log.info("connector.vacuum", kind=self.kind)

    def _every_version(
        self,
        cur,
        catalog: "Catalog",
        deadline: Deadline,
        chunks: list[dict[str, list[str]]],
        types: list[str],
        tally: RowTally,
    ) -> int:
        """Count in `tally` every row version on disk, live or dead, that holds a chunk's
        values (and is not fully masked), reading each heap of the table with pg_dirtyread.
        Returns the number of versions the heaps hold besides the current rows (the dead ones
        VACUUM left, read too)."""
        heaps, alias = self._heaps(cur, catalog)
        versions = 0
        for oid, heap in heaps:
            source = sql.SQL("pg_dirtyread(CAST(CAST({} AS oid) AS regclass)) AS lup_rows").format(
                sql.Literal(oid)
            )
            for index, chunk in enumerate(chunks):
                where, params = self._unmasked_where(catalog, chunk)
                self._statement_timeout(cur, deadline)
                try:
                    cur.execute(
                        sql.SQL("SELECT {} FROM {}({}) WHERE {}").format(
                            self._texts(types), source, alias, where
                        ),
                        params,
                    )
                except psycopg.errors.InsufficientPrivilege:
                    raise HistoryUnreadable(
                        'The history policy "purged" reads dead row versions with '
                        "pg_dirtyread, which the target's role may not run (it needs a "
                        "superuser).",
                        fields={"history.policy": "pg_dirtyread not permitted"},
                    ) from None
                for row in cur.fetchall():
                    tally.add(row, index, once=True)
            self._timed(
                cur,
                deadline,
                sql.SQL(
                    "SELECT (SELECT count(*) FROM {}({})) - (SELECT count(*) FROM ONLY {})"
                ).format(source, alias, heap),
            )
            versions += max(cur.fetchone()[0], 0)
        return versions

    def _heaps(
        self, cur, catalog: "Catalog"
    ) -> tuple[list[tuple[int, sql.Composable]], sql.Composable]:
        """The tables whose pages hold the rows (the table, or each leaf partition of a
        partitioned one), and pg_dirtyread's column list for the match and mask columns."""
        cur.execute(
            "SELECT c.oid, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = %s",
            [catalog.schema, self.table],
        )
        oid, relkind = cur.fetchone()
        cur.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_dirtyread'")
        if cur.fetchone() is None:
            raise HistoryUnreadable(
                'The history policy "purged" reads dead row versions with the pg_dirtyread '
                "extension, which the target database does not have (CREATE EXTENSION "
                "pg_dirtyread).",
                fields={"history.policy": "pg_dirtyread missing"},
            )
        cur.execute(
            "SELECT c.oid, n.nspname, c.relname FROM pg_partition_tree(CAST(%s AS oid)) t "
            "JOIN pg_class c ON c.oid = t.relid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE t.isleaf AND c.relkind = 'r'",
            [oid],
        )
        leaves = cur.fetchall()
        if not leaves and relkind == "r":  # a plain table is a tree of none
            leaves = [(oid, catalog.schema, self.table)]
        columns = sorted({*self.match.values(), *self.mask})
        cur.execute(
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = %s AND attname = ANY(%s) AND NOT attisdropped",
            [oid, columns],
        )
        # pg_dirtyread wants each column's exact type, modifier included (`varchar(80)`); the
        # type's text comes from the server's own catalog, never from the config.
        alias = sql.SQL(", ").join(
            sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(type_text))
            for name, type_text in sorted(cur.fetchall())
        )
        return [(leaf, sql.Identifier(schema, name)) for leaf, schema, name in leaves], alias

    def _canonical(
        self, cur, catalog: "Catalog", deadline: Deadline, union: dict[str, list[str]]
    ) -> dict[Pair, str]:
        """Each given value as `col::text` would write it: cast to the column's type and back
        (one statement for all of them; a value the type refuses is refused here, as the
        erase itself would refuse it)."""
        parts, params = [], []
        for id_type, values in union.items():
            typed = self._typed(catalog, self.match[id_type], array=True)
            parts.append(sql.SQL("CAST({} AS text[])").format(typed))
            params.append(values)
        self._timed(cur, deadline, sql.SQL("SELECT {}").format(sql.SQL(", ").join(parts)), params)
        texts = cur.fetchone()
        return {
            (id_type, value): text
            for (id_type, values), column in zip(union.items(), texts, strict=True)
            for value, text in zip(values, column, strict=True)
        }

    def _batches(self, values: dict[str, list[str]]) -> Iterator[dict[str, list[str]]]:
        """At most `batch_size` values per statement, across identifier types."""
        return chunked(values, self.batch_size)

    @staticmethod
    def _timed(cur, deadline: Deadline, query, params=None) -> None:
        """Run `query` with the time left as its statement timeout (of the transaction): both
        in one round trip, a pipeline, rather than one each."""
        left = deadline.check()
        with cur.connection.pipeline():
            cur.execute(
                "SELECT set_config('statement_timeout', %s, true)", [str(max(1, int(left * 1000)))]
            )
            cur.execute(query, params)

    @staticmethod
    def _statement_timeout(cur, deadline: Deadline, *, local: bool = True) -> None:
        """The time left, as the statement timeout of the transaction (or, outside one, of the
        session: in autocommit each statement is a transaction of its own)."""
        left = deadline.check()
        cur.execute(
            "SELECT set_config('statement_timeout', %s, %s)",
            [str(max(1, int(left * 1000))), local],
        )

    # --- connection and catalog -----------------------------------------------------------------

    def _session(self):
        return _Session(self)

    def _catalog(self, cur) -> "Catalog":
        """The table's schema and each column's type, confirming that the table and every
        configured column exist in the catalog."""
        # From pg_catalog rather than information_schema.columns (the same rows: columns the
        # user holds a privilege on, a domain by its base type), at a tenth of its cost.
        cur.execute(
            "SELECT n.nspname, a.attname, tn.nspname, t.typname "
            "FROM pg_namespace n "
            "JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = %s "
            "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
            "JOIN pg_type d ON d.oid = a.atttypid "
            "JOIN pg_type t ON t.oid = CASE WHEN d.typtype = 'd' THEN d.typbasetype "
            "ELSE d.oid END "
            "JOIN pg_namespace tn ON tn.oid = t.typnamespace "
            "WHERE n.nspname = COALESCE(%s, current_schema()) "
            "AND has_column_privilege(c.oid, a.attnum, 'select, insert, update, references')",
            [self.table, self.schema],
        )
        rows = cur.fetchall()
        schema = rows[0][0] if rows else ""
        types = {name: (udt_schema, udt_name) for _, name, udt_schema, udt_name in rows}
        if not types:
            raise ConnectorConfigError(
                "The table is not in the database catalog (or not visible to this user).",
                fields={"table": "unknown table"},
                code="unknown_table",
            )
        for key, column in [
            *((f"match.{t}", c) for t, c in self.match.items()),
            *((f"mask.{c}", c) for c in self.mask),
            *((f"resolve.{t}", c) for t, c in self.resolvable.items()),
        ]:
            if column not in types:
                raise ConnectorConfigError(
                    f"The table has no column named in {key}.",
                    fields={key: "unknown column"},
                    code="unknown_column",
                )
        return Catalog(schema=schema, types=types)

    def _dsn(self) -> str:
        return self.dsn.read()

    # --- config ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Catalog:
    schema: str
    types: dict[str, tuple[str, str]]  # column -> (type schema, type name)


class _Session:
    """One connection, one transaction, committed on success: yields (cursor, catalog,
    deadline) after the catalog check, and maps driver errors to stable application errors.
    With `autocommit`, each statement commits on its own (VACUUM needs it)."""

    def __init__(self, connector: PostgresTable, *, autocommit: bool = False):
        self.connector = connector
        self.autocommit = autocommit

    def __enter__(self):
        connector = self.connector
        self.deadline = connector.deadline()
        self.dsn = connector._dsn()
        reused = None if self.autocommit else idle_connections.take(self.dsn)
        self.conn = reused or self._connect()
        try:
            try:
                self._begin()
            except psycopg.OperationalError:
                if reused is None:
                    raise
                # The server ended the idle connection meanwhile (a restart): one new one.
                self.conn.close()
                self.conn = self._connect()
                self._begin()
            catalog = connector._catalog(self.cur)
        except BaseException as error:
            self.__exit__(type(error), error, None)
            raise
        return self.cur, catalog, self.deadline

    def _begin(self) -> None:
        """A cursor, and the time left as the statement timeout: the session's first statement."""
        self.cur = self.conn.cursor()
        self.connector._statement_timeout(self.cur, self.deadline, local=not self.autocommit)

    def _connect(self) -> psycopg.Connection:
        connect_timeout = max(MIN_CONNECT_TIMEOUT, math.ceil(self.deadline.remaining()))
        try:
            return psycopg.connect(
                self.dsn, connect_timeout=connect_timeout, autocommit=self.autocommit
            )
        except psycopg.Error:
            # The driver's message can carry host and user names; keep it out of the answer.
            raise TargetUnavailable("Could not connect to the target database.") from None

    def __exit__(self, exc_type, exc, tb):
        kept = False
        try:
            if exc is None:
                try:
                    self.conn.commit()
                except psycopg.Error as error:
                    exc = error
            else:
                with contextlib.suppress(psycopg.Error):
                    self.conn.rollback()
            if exc is None:
                self.cur.close()
                idle_connections.give_back(self.dsn, self.conn)
                kept = True
        finally:
            if not kept:
                self.conn.close()
        mapped = self._mapped(exc)
        if mapped is None:
            return False
        raise mapped from None

    def _mapped(self, exc: BaseException | None) -> ApplicationError | None:
        """Driver errors as stable codes; the driver's text (names, values) is not repeated."""
        if exc is None or not isinstance(exc, psycopg.Error):
            return None
        if isinstance(exc, psycopg.errors.QueryCanceled):
            return ConnectorTimeout(
                f"The target did not finish within {self.deadline.seconds:g} s."
            )
        if isinstance(exc, psycopg.errors.DataError):
            return ApplicationError(
                "An identifier or mask value does not fit the type of its column.",
                code="identifier_type_mismatch",
            )
        return TargetUnavailable(
            f"The target database refused the statement ({exc.sqlstate or 'no sqlstate'})."
        )
