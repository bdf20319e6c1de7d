"""`sql_table`: rows of one table on any of this deployment's Django database aliases
(PostgreSQL, SQLite, MySQL/MariaDB), deleted or masked in place.

Config:

    {
        "alias": "default",                      # a key of settings.DATABASES
        "table": "crm_contacts",
        "match": {"email": "email", "user_id": "external_id"},   # id_type -> column
        "mask": {"name": "[erased]"},            # optional: column -> constant
        "resolve": {"user_id": "external_id"},   # optional: id_type -> column to read
        "batch_size": 500,
        "timeout_seconds": 30,
    }

Names must match a strict pattern and exist in the table (the backend's own introspection)
before any statement runs; they reach SQL only through the backend's `quote_name`, and values
are always bound. Each call is one transaction on the alias.

Batching (`erase_groups`, `verify_groups`): the values of all groups are served together, at most
`batch_size` of them per statement across identifier types. There is no portable RETURNING, so
per batch of values the matching rows' match columns are read first (`FOR UPDATE` where the
backend has it), then the rows are deleted or masked with the same condition, in the same
transaction. Each row read is counted for every group owning one of its values (`RowTally`); a
row holding two groups' values counts for both and is deleted once. Masking skips rows already
masked, so a row is counted once even when several batches match it.
"""

import sys
from collections.abc import Hashable
from typing import Any

import structlog
from django.db import connections, transaction
from django.db.utils import ConnectionDoesNotExist, DatabaseError

from .base import (
    Capability,
    ConnectorConfigError,
    Erased,
    Groups,
    Identifiers,
    Located,
    TargetUnavailable,
    Verified,
)
from .tables import Pair, RowTally, TableConnector, chunked

__all__ = ["Pair", "RowTally", "SqlTable", "chunked"]  # RowTally and chunked: see tables.py

log = structlog.get_logger(__name__)


class SqlTable(TableConnector):
    kind = "sql_table"
    config_keys = frozenset({"alias", "table", "match", "mask", "resolve", "batch_size"})
    capabilities = frozenset(
        {Capability.LOCATE, Capability.DELETE, Capability.MASK, Capability.VERIFY}
    )

    def __init__(self, *, config: dict[str, Any]):
        super().__init__(config=config)
        self.alias = self.config.get("alias", "default")
        try:
            connections[self.alias]
        except (ConnectionDoesNotExist, TypeError):
            raise ConnectorConfigError(
                "alias is not a configured database.", fields={"alias": "unknown database"}
            ) from None

    # --- abilities ------------------------------------------------------------------------------

    def locate(self, identifiers: Identifiers) -> Located:
        with self._cursor() as (cursor, q):
            return Located(count=self._count(cursor, q, self.usable(identifiers), masked=False))

    def verify(self, identifiers: Identifiers) -> Verified:
        with self._cursor() as (cursor, q):
            remaining = self._count(cursor, q, self.usable(identifiers), masked=True)
        return Verified(method=self.verify_method, remaining=remaining, at=self._now())

    def erase(self, identifiers: Identifiers, *, op: str = "delete") -> Erased:
        self.require(Capability.for_op(op))
        values = self.usable(identifiers)
        started, total = self._now(), 0
        with self._cursor() as (cursor, q):
            for column, batch in self._column_batches(values):
                marks = ", ".join(["%s"] * len(batch))
                if op == "delete":
                    sql = f"DELETE FROM {q(self.table)} WHERE {q(column)} IN ({marks})"  # noqa: S608
                    cursor.execute(sql, batch)
                else:
                    sets = ", ".join(f"{q(c)} = %s" for c in self.mask)
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
        # Rows read are locked until the write, where the backend can; SQLite serializes writers.
        lock = " FOR UPDATE" if connections[self.alias].features.has_select_for_update else ""
        started, total = self._now(), 0
        with self._cursor() as (cursor, q):
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
                    sets = ", ".join(f"{q(c)} = %s" for c in self.mask)
                    cursor.execute(
                        f"UPDATE {table} SET {sets} WHERE {where}",  # noqa: S608
                        [*self.mask.values(), *params],
                    )
                tally.unattributed(index, cursor.rowcount - len(found))
                total += len(found)
        log.info(
            "connector.erase",
            kind=self.kind,
            op=op,
            count=total,
            groups=len(groups),
            batches=len(chunks),
        )
        shared = Erased(
            op=op,
            method=self.erase_method,
            count=total,
            started_at=started,
            completed_at=self._now(),
        )
        return self.split(shared, tally.counts)

    def verify_groups(self, groups: Groups) -> dict[Hashable, Verified]:
        """The post-check of a batch: one read per batch of values, a count per group of the
        rows still holding its values (matching and not fully masked)."""
        self.require(Capability.VERIFY)
        union, owners = self.owners(groups)
        chunks = list(chunked(union, self.batch_size))
        types = list(union)
        tally = RowTally(groups, owners, chunks, types)
        with self._cursor() as (cursor, q):
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
        with self._cursor() as (cursor, q):
            for match_column, batch in self._column_batches(self.usable(identifiers)):
                marks = ", ".join(["%s"] * len(batch))
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
            marks = ", ".join(["%s"] * len(batch))
            where = f"{q(column)} IN ({marks})"
            params = list(batch)
            if masked and self.mask:
                # After masking, rows still match but hold nothing of the subject's any more.
                where += (
                    " AND NOT ("
                    + " AND ".join(
                        f"{q(c)} IS NULL" if v is None else f"{q(c)} = %s"
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
            parts.append(f"{q(self.match[id_type])} IN ({', '.join(['%s'] * len(values))})")
            params += values
        where = "(" + " OR ".join(parts) + ")"
        if unmasked and self.mask:
            masked = " AND ".join(
                f"{q(c)} IS NULL" if v is None else f"({q(c)} IS NOT NULL AND {q(c)} = %s)"
                for c, v in self.mask.items()
            )
            where += f" AND NOT ({masked})"
            params += [v for v in self.mask.values() if v is not None]
        return where, params

    def _cursor(self):
        return _Session(self)


class _Session:
    """One transaction on the alias, after the table and columns are found in the catalog."""

    def __init__(self, connector: SqlTable):
        self.connector = connector
        self.connection = connections[connector.alias]

    def __enter__(self):
        connector = self.connector
        self.atomic = transaction.atomic(using=connector.alias)
        try:
            self.atomic.__enter__()
            self.cursor = self.connection.cursor()
            tables = self.connection.introspection.table_names(self.cursor)
            if connector.table not in tables:
                raise ConnectorConfigError(
                    "The table is not in the database.",
                    fields={"table": "unknown table"},
                    code="unknown_table",
                )
            columns = {
                c.name
                for c in self.connection.introspection.get_table_description(
                    self.cursor, connector.table
                )
            }
            needed = [
                *((f"match.{t}", c) for t, c in connector.match.items()),
                *((f"mask.{c}", c) for c in connector.mask),
                *((f"resolve.{t}", c) for t, c in connector.resolvable.items()),
            ]
            for key, column in needed:
                if column not in columns:
                    raise ConnectorConfigError(
                        f"The table has no column named in {key}.",
                        fields={key: "unknown column"},
                        code="unknown_column",
                    )
        except DatabaseError:
            self.atomic.__exit__(*sys.exc_info())
            raise TargetUnavailable("The target database could not be reached.") from None
        except BaseException:
            self.atomic.__exit__(*sys.exc_info())
            raise
        return self.cursor, self.connection.ops.quote_name

    def __exit__(self, exc_type, exc, tb):
        self.cursor.close()
        return self.atomic.__exit__(exc_type, exc, tb)
