"""`sqlite_table`: rows of one table in a SQLite database file, deleted in place.

Config:

    {
        "path": "demo/app.db",                  # under LUP_FILE_ROOTS, like file targets
        "table": "users",
        "match": {"email": "email", "user_id": "id"},   # id_type -> column
        "resolve": {"user_id": "id"},           # optional: id_type -> column to read
        "batch_size": 500,
        "timeout_seconds": 30,
    }

For small services and the embedded demo. Names must match a strict pattern and exist in the
table (`PRAGMA table_info`) before any statement runs; values are always bound. Not supported:
masking (delete only).

Batching (`erase_groups`, `verify_groups`): the values of all groups are served together, at most
`batch_size` of them per statement across identifier types. In one `BEGIN IMMEDIATE`
transaction (so no other writer can slip in between), each batch's matching rows are read, then
deleted with the same condition. Each row read is counted for every group owning one of its
values (`RowTally`): a row holding two groups' values counts for both and is deleted once.
"""

import contextlib
import sqlite3
from collections.abc import Hashable, Iterator
from typing import Any

import structlog

from . import config as checks
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
from .files import confined_path
from .tables import RowTally, TableConnector, chunked

log = structlog.get_logger(__name__)


class SqliteTable(TableConnector):
    kind = "sqlite_table"
    config_keys = frozenset({"path", "table", "match", "resolve", "batch_size"})
    capabilities = frozenset({Capability.LOCATE, Capability.DELETE, Capability.VERIFY})
    file_roots = True  # the database file lies under LUP_FILE_ROOTS

    def __init__(self, *, config: dict[str, Any]):
        super().__init__(config=config)
        self.path = checks.text(self.config, "path", message="path names the database file.")
        confined_path(self.path)  # refuse a path outside the roots as soon as it is configured

    def locate(self, identifiers: Identifiers) -> Located:
        with self._session() as db:
            return Located(count=self._count(db, self.usable(identifiers)))

    def verify(self, identifiers: Identifiers) -> Verified:
        with self._session() as db:
            remaining = self._count(db, self.usable(identifiers))
        return Verified(method=self.verify_method, remaining=remaining, at=self._now())

    def erase(self, identifiers: Identifiers, *, op: str = "delete") -> Erased:
        self.require(Capability.for_op(op))
        values = self.usable(identifiers)
        started, total = self._now(), 0
        with self._session() as db:
            for column, batch in self._column_batches(values):
                marks = ", ".join("?" * len(batch))
                # Names are checked against the table's columns; only they are interpolated.
                sql = f'DELETE FROM "{self.table}" WHERE "{column}" IN ({marks})'  # noqa: S608
                total += db.execute(sql, batch).rowcount
        log.info("connector.erase", kind=self.kind, count=total)
        return Erased(
            op="delete" if total else "none",
            method=self.erase_method,
            count=total,
            started_at=started,
            completed_at=self._now(),
        )

    def erase_groups(self, groups: Groups, *, op: str = "delete") -> dict[Hashable, Erased]:
        """Erase several requests' rows with one read and one delete per batch of values; each
        group gets the count of rows holding any of its values."""
        self.require(Capability.for_op(op))
        union, owners = self.owners(groups)
        chunks = list(chunked(union, self.batch_size))
        types = list(union)
        tally = RowTally(groups, owners, chunks, types)
        started, total = self._now(), 0
        with self._session() as db:
            # Take the write lock first: no other writer can change a row between the read
            # that counts it and the delete.
            db.execute("BEGIN IMMEDIATE")
            for index, chunk in enumerate(chunks):
                where, params = self._where(chunk)
                found = db.execute(
                    f'SELECT {self._columns(types)} FROM "{self.table}" WHERE {where}',  # noqa: S608
                    params,
                ).fetchall()
                for row in found:
                    tally.add(row, index)
                db.execute(f'DELETE FROM "{self.table}" WHERE {where}', params)  # noqa: S608
                total += len(found)
        log.info(
            "connector.erase", kind=self.kind, count=total, groups=len(groups), batches=len(chunks)
        )
        shared = Erased(
            op="delete",
            method=self.erase_method,
            count=total,
            started_at=started,
            completed_at=self._now(),
        )
        return self.split(shared, tally.counts)

    def verify_groups(self, groups: Groups) -> dict[Hashable, Verified]:
        """The post-check of a batch: one read per batch of values, a count per group."""
        self.require(Capability.VERIFY)
        union, owners = self.owners(groups)
        chunks = list(chunked(union, self.batch_size))
        types = list(union)
        tally = RowTally(groups, owners, chunks, types)
        with self._session() as db:
            db.execute("BEGIN")  # one snapshot for every chunk
            for index, chunk in enumerate(chunks):
                where, params = self._where(chunk)
                rows = db.execute(
                    f'SELECT {self._columns(types)} FROM "{self.table}" WHERE {where}',  # noqa: S608
                    params,
                )
                for row in rows:
                    # Unlike a delete, a read finds a row again in every chunk it matches.
                    tally.add(row, index, once=True)
        log.info("connector.verify", kind=self.kind, groups=len(groups), batches=len(chunks))
        return self.checked(self.verify_method, tally.counts)

    def resolve(self, identifiers: Identifiers, *, want: str) -> list[str]:
        self.require(Capability.RESOLVE)
        column = self.resolvable.get(want)
        if column is None:
            raise self._not_supported(Capability.RESOLVE)
        found: set[str] = set()
        with self._session() as db:
            for match_column, batch in self._column_batches(self.usable(identifiers)):
                marks = ", ".join("?" * len(batch))
                rows = db.execute(
                    f'SELECT "{column}" FROM "{self.table}" '  # noqa: S608
                    f'WHERE "{match_column}" IN ({marks}) AND "{column}" IS NOT NULL',
                    batch,
                )
                found.update(str(row[0]) for row in rows)
        return sorted(found)

    def _count(self, db: sqlite3.Connection, values: dict[str, list[str]]) -> int:
        total = 0
        for column, batch in self._column_batches(values):
            marks = ", ".join("?" * len(batch))
            total += db.execute(
                f'SELECT count(*) FROM "{self.table}" WHERE "{column}" IN ({marks})',  # noqa: S608
                batch,
            ).fetchone()[0]
        return total

    def _columns(self, types: list[str]) -> str:
        # Names are checked against the table's columns; only they are interpolated.
        return ", ".join(f'"{self.match[t]}"' for t in types)

    def _where(self, chunk: dict[str, list[str]]) -> tuple[str, list[str]]:
        """Rows holding any value of the chunk, across identifier types."""
        parts, params = [], []
        for id_type, values in chunk.items():
            parts.append(f'"{self.match[id_type]}" IN ({", ".join("?" * len(values))})')
            params += values
        return " OR ".join(parts), params

    @contextlib.contextmanager
    def _session(self) -> Iterator[sqlite3.Connection]:
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
            columns = {row[1] for row in db.execute(f'PRAGMA table_info("{self.table}")')}
            if not columns:
                raise ConnectorConfigError(
                    "The table is not in the database.",
                    fields={"table": "unknown table"},
                    code="unknown_table",
                )
            for key, column in [
                *((f"match.{t}", c) for t, c in self.match.items()),
                *((f"resolve.{t}", c) for t, c in self.resolvable.items()),
            ]:
                if column not in columns:
                    raise ConnectorConfigError(
                        f"The table has no column named in {key}.",
                        fields={key: "unknown column"},
                        code="unknown_column",
                    )
            with db:  # one transaction, committed on success
                yield db
        finally:
            db.close()
