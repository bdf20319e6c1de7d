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
"""

import contextlib
import math
from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import structlog
from psycopg import sql

from core.errors import ApplicationError

from . import schema, secrets
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
                self._statement_timeout(cur, deadline)
                cur.execute(*self._write_statement(op, catalog, batch))
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
        """Rows still holding the subject's data: matching rows, less those fully masked."""
        self.require(Capability.VERIFY)
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
                self._statement_timeout(cur, deadline)
                cur.execute(*self._returning_statement(op, catalog, chunk, types))
                for row in cur.fetchall():
                    tally.add(row, index)
                    total += 1
        return self._erased_groups(
            groups, tally, op=op, count=total, batches=len(chunks), started=started
        )

    def verify_groups(self, groups: Groups) -> dict[Hashable, Verified]:
        """The post-check of a batch: one read per batch of values, a count per group of the
        rows still holding its values (matching, less those fully masked)."""
        self.require(Capability.VERIFY)
        union, owners = self.owners(groups)
        chunks = list(self._batches(union))
        types = list(union)
        with self._session() as (cur, catalog, deadline):
            tally = RowTally(
                groups, owners, chunks, types, self._canonical(cur, catalog, deadline, union)
            )
            for index, chunk in enumerate(chunks):
                where, params = self._where(catalog, chunk)
                if self.mask:
                    unmasked, more = self._unmasked(catalog)
                    where = sql.SQL("{} AND {}").format(where, unmasked)
                    params += more
                self._statement_timeout(cur, deadline)
                cur.execute(
                    sql.SQL("SELECT {} FROM {} WHERE {}").format(
                        self._texts(types), self._table_sql(catalog), where
                    ),
                    params,
                )
                for row in cur.fetchall():
                    # Unlike a write, a read finds a row again in every chunk it matches.
                    tally.add(row, index, once=True)
        log.info("connector.verify", kind=self.kind, groups=len(groups), batches=len(chunks))
        return self.checked(self.verify_method, tally.counts)

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
            self._statement_timeout(cur, deadline)
            cur.execute(
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
        self._statement_timeout(cur, deadline)
        table = self._table_sql(catalog)
        cur.execute(sql.SQL("SELECT count(*) FROM {} WHERE {}").format(table, where), params)
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
        self._statement_timeout(cur, deadline)
        cur.execute(sql.SQL("SELECT {}").format(sql.SQL(", ").join(parts)), params)
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
    def _statement_timeout(cur, deadline: Deadline) -> None:
        left = deadline.check()
        cur.execute(
            "SELECT set_config('statement_timeout', %s, true)", [str(max(1, int(left * 1000)))]
        )

    # --- connection and catalog -----------------------------------------------------------------

    def _session(self):
        return _Session(self)

    def _catalog(self, cur) -> "Catalog":
        """The table's schema and each column's type, confirming that the table and every
        configured column exist in the catalog."""
        cur.execute("SELECT COALESCE(%s, current_schema())", [self.schema])
        schema = cur.fetchone()[0]
        cur.execute(
            "SELECT column_name, udt_schema, udt_name FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s",
            [schema, self.table],
        )
        types = {name: (udt_schema, udt_name) for name, udt_schema, udt_name in cur.fetchall()}
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
    deadline) after the catalog check, and maps driver errors to stable application errors."""

    def __init__(self, connector: PostgresTable):
        self.connector = connector

    def __enter__(self):
        connector = self.connector
        self.deadline = connector.deadline()
        dsn = connector._dsn()
        connect_timeout = max(MIN_CONNECT_TIMEOUT, math.ceil(self.deadline.remaining()))
        try:
            self.conn = psycopg.connect(dsn, connect_timeout=connect_timeout)
        except psycopg.Error:
            # The driver's message can carry host and user names; keep it out of the answer.
            raise TargetUnavailable("Could not connect to the target database.") from None
        try:
            self.cur = self.conn.cursor()
            connector._statement_timeout(self.cur, self.deadline)
            catalog = connector._catalog(self.cur)
        except BaseException as error:
            self.__exit__(type(error), error, None)
            raise
        return self.cur, catalog, self.deadline

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc is None:
                try:
                    self.conn.commit()
                except psycopg.Error as error:
                    exc = error
            else:
                with contextlib.suppress(psycopg.Error):
                    self.conn.rollback()
        finally:
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
