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
"""

import re
import sys
from collections.abc import Iterator
from typing import Any

import structlog
from django.db import connections, transaction
from django.db.utils import ConnectionDoesNotExist, DatabaseError

from .base import (
    Capability,
    Connector,
    ConnectorConfigError,
    Erased,
    Identifiers,
    Located,
    TargetUnavailable,
    Verified,
)

log = structlog.get_logger(__name__)

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class SqlTable(Connector):
    kind = "sql_table"
    capabilities = frozenset(
        {Capability.LOCATE, Capability.DELETE, Capability.MASK, Capability.VERIFY}
    )
    erase_method = "sql_bound_statements"
    verify_method = "sql_count"

    def __init__(self, *, config: dict[str, Any]):
        super().__init__(config=config)
        self.alias = self.config.get("alias", "default")
        try:
            connections[self.alias]
        except (ConnectionDoesNotExist, TypeError):
            raise ConnectorConfigError("alias is not a configured database.",
                                       fields={"alias": "unknown database"}) from None
        table = self.config.get("table")
        if not isinstance(table, str) or not NAME.fullmatch(table):
            raise ConnectorConfigError("table is a plain name (letters, digits, underscores).",
                                       fields={"table": "not a valid table name"})
        self.table = table
        self.match = self._match_config(self.config, NAME.fullmatch, "column")
        self.id_types = frozenset(self.match)
        mask = self.config.get("mask") or {}
        if not isinstance(mask, dict) or not all(
            isinstance(c, str) and NAME.fullmatch(c) and (v is None or isinstance(v, str))
            for c, v in mask.items()
        ):
            raise ConnectorConfigError("mask maps columns to constant values.",
                                       fields={"mask": "invalid"})
        self.mask = mask
        if not self.mask:
            self.capabilities = self.capabilities - {Capability.MASK}
        resolve = self.config.get("resolve")
        self.resolvable = (self._match_config({"match": resolve}, NAME.fullmatch, "column")
                           if resolve else {})
        if self.resolvable:
            self.capabilities = self.capabilities | {Capability.RESOLVE}
        self.batch_size = int(self.config.get("batch_size") or 500)

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
            for column, batch in self._batches(values):
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
        return Erased(op=op if total else "none", method=self.erase_method, count=total,
                      started_at=started, completed_at=self._now())

    def resolve(self, identifiers: Identifiers, *, want: str) -> list[str]:
        self.require(Capability.RESOLVE)
        column = self.resolvable.get(want)
        if column is None:
            raise self._not_supported(Capability.RESOLVE)
        found: set[str] = set()
        with self._cursor() as (cursor, q):
            for match_column, batch in self._batches(self.usable(identifiers)):
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
        for column, batch in self._batches(values):
            marks = ", ".join(["%s"] * len(batch))
            where = f"{q(column)} IN ({marks})"
            params = list(batch)
            if masked and self.mask:
                # After masking, rows still match but hold nothing of the subject's any more.
                where += " AND NOT (" + " AND ".join(
                    f"{q(c)} IS NULL" if v is None else f"{q(c)} = %s"
                    for c, v in self.mask.items()
                ) + ")"
                params += [v for v in self.mask.values() if v is not None]
            cursor.execute(f"SELECT count(*) FROM {q(self.table)} WHERE {where}", params)  # noqa: S608
            total += cursor.fetchone()[0]
        return total

    def _batches(self, values: dict[str, list[str]]) -> Iterator[tuple[str, list[str]]]:
        for id_type, given in values.items():
            for start in range(0, len(given), self.batch_size):
                yield self.match[id_type], given[start : start + self.batch_size]

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
                raise ConnectorConfigError("The table is not in the database.",
                                           fields={"table": "unknown table"},
                                           code="unknown_table")
            columns = {c.name for c in self.connection.introspection.get_table_description(
                self.cursor, connector.table)}
            needed = [*((f"match.{t}", c) for t, c in connector.match.items()),
                      *((f"mask.{c}", c) for c in connector.mask),
                      *((f"resolve.{t}", c) for t, c in connector.resolvable.items())]
            for key, column in needed:
                if column not in columns:
                    raise ConnectorConfigError(f"The table has no column named in {key}.",
                                               fields={key: "unknown column"},
                                               code="unknown_column")
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
