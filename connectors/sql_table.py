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
from typing import Any

from django.db import connections, transaction
from django.db.utils import ConnectionDoesNotExist, DatabaseError

from . import schema
from .base import (
    Capability,
    ConnectorConfigError,
    TargetUnavailable,
)
from .tables import (
    MASK,
    MATCH,
    PLAIN_TABLE,
    RESOLVE,
    CursorTable,
    Pair,
    RowTally,
    batch_size,
    chunked,
)

__all__ = ["Pair", "RowTally", "SqlTable", "chunked"]  # RowTally and chunked: see tables.py


class SqlTable(CursorTable):
    kind = "sql_table"
    config_schema = schema.config(
        description="Rows of one table on a database alias of this deployment's Django "
        "settings (not Lup's own database).",
        properties={
            "alias": {
                "type": "string",
                "minLength": 1,
                "default": "default",
                "description": "A key of `DATABASES` in the settings.",
            },
            "table": PLAIN_TABLE,
            "match": MATCH,
            "mask": MASK,
            "resolve": RESOLVE,
            "batch_size": batch_size(500),
        },
        required=["table", "match"],
        example={"alias": "crm", "table": "crm_people", "match": {"email": "email"}},
    )
    reach_key = "alias"
    capabilities = frozenset(
        {Capability.LOCATE, Capability.DELETE, Capability.MASK, Capability.VERIFY, Capability.SCAN}
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

    def _begin_write(self, cursor) -> str:
        # Rows read are locked until the write, where the backend can; SQLite serializes writers.
        return " FOR UPDATE" if connections[self.alias].features.has_select_for_update else ""

    def _session(self):
        return _Session(self)

    def _scan_cursor(self, cursor):
        # A server-side cursor where the backend has one (PostgreSQL), inside the session's
        # transaction: a plain one would fetch the whole table into memory at once.
        return connections[self.alias].chunked_cursor()


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
