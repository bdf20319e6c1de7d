"""`sqlite_table`: rows of one table in a SQLite database file, deleted or masked in place.

Config:

    {
        "path": "demo/app.db",                  # under LUP_FILE_ROOTS, like file targets
        "table": "users",
        "match": {"email": "email", "user_id": "id"},   # id_type -> column
        "mask": {"email": "erased@invalid", "name": null},  # optional: column -> value
        "resolve": {"user_id": "id"},           # optional: id_type -> column to read
        "batch_size": 500,
        "timeout_seconds": 30,
    }

For small services and the embedded demo. Names must match a strict pattern and exist in the
table (`PRAGMA table_info`) before any statement runs; values and mask values are always bound.
Masking sets each `mask` column to its constant (or NULL) and keeps the row; a row already
masked is left alone. Not supported: masking by expression (a mask value is a constant).

Batching (`erase_groups`, `verify_groups`): the values of all groups are served together, at most
`batch_size` of them per statement across identifier types. In one `BEGIN IMMEDIATE`
transaction (so no other writer can slip in between), each batch's matching rows are read, then
deleted or masked with the same condition. Each row read is counted for every group owning one of
its values (`RowTally`): a row holding two groups' values counts for both and is erased once.
"""

import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

from . import config as checks
from . import schema
from .base import (
    Capability,
    ConnectorConfigError,
    TargetUnavailable,
)
from .files import confined_path
from .tables import MASK, MATCH, PLAIN_TABLE, RESOLVE, CursorTable, batch_size


class SqliteTable(CursorTable):
    kind = "sqlite_table"
    config_schema = schema.config(
        description="Rows of one table in a SQLite database file under `LUP_FILE_ROOTS`; "
        "deleted, or masked with a `mask`.",
        properties={
            "path": schema.path("The database file."),
            "table": PLAIN_TABLE,
            "match": MATCH,
            "mask": MASK,
            "resolve": RESOLVE,
            "batch_size": batch_size(500),
        },
        required=["path", "table", "match"],
        example={"path": "app/users.db", "table": "users", "match": {"email": "email"}},
    )
    reach_key = "path"
    capabilities = frozenset(
        {Capability.LOCATE, Capability.DELETE, Capability.MASK, Capability.VERIFY, Capability.SCAN}
    )
    file_roots = True  # the database file lies under LUP_FILE_ROOTS
    mark = "?"

    def __init__(self, *, config: dict[str, Any]):
        super().__init__(config=config)
        self.path = checks.text(self.config, "path", message="path names the database file.")
        confined_path(self.path)  # refuse a path outside the roots as soon as it is configured

    def _begin_write(self, cursor) -> str:
        # Take the write lock first: no other writer can change a row between the read that
        # counts it and the delete or update.
        cursor.execute("BEGIN IMMEDIATE")
        return ""

    def _begin_read(self, cursor) -> None:
        cursor.execute("BEGIN")  # one snapshot for every chunk

    @contextlib.contextmanager
    def _session(self) -> Iterator[tuple[sqlite3.Cursor, Callable[[str], str]]]:
        path = confined_path(self.path)
        if not path.is_file():
            raise ConnectorConfigError(
                "The database file does not exist.",
                fields={"path": "not found"},
                code="file_not_found",
            )
        try:
            db = sqlite3.connect(path, timeout=self.timeout_seconds)
        except sqlite3.Error:
            raise TargetUnavailable("Could not open the database file.") from None
        try:
            try:
                columns = {row[1] for row in db.execute(f'PRAGMA table_info("{self.table}")')}
            except sqlite3.Error:  # not a database, or locked past the timeout
                raise TargetUnavailable("Could not read the database file.") from None
            if not columns:
                raise ConnectorConfigError(
                    "The table is not in the database.",
                    fields={"table": "unknown table"},
                    code="unknown_table",
                )
            for key, column in [
                *((f"match.{t}", c) for t, c in self.match.items()),
                *((f"mask.{c}", c) for c in self.mask),
                *((f"resolve.{t}", c) for t, c in self.resolvable.items()),
            ]:
                if column not in columns:
                    raise ConnectorConfigError(
                        f"The table has no column named in {key}.",
                        fields={key: "unknown column"},
                        code="unknown_column",
                    )
            with db:  # one transaction, committed on success
                # Names are checked against the table's columns; only they are interpolated.
                yield db.cursor(), lambda name: f'"{name}"'
        finally:
            db.close()
