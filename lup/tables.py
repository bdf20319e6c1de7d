"""Rows of CSV, JSON Lines and Parquet files, read and written a batch at a time.

Memory holds one batch, never the file. A kept row is written as it was read: CSV and JSON
Lines records byte for byte (their raw text is carried beside the parsed value), Parquet
batches under the file's own Arrow schema, metadata included.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

FORMATS = ("csv", "jsonl", "parquet")
SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}


class InputError(Exception):
    """The file cannot be read as asked (a usage error: nothing was sent)."""


def format_of(name: str, given: str | None) -> str:
    if given:
        return given
    found = SUFFIXES.get(Path(name).suffix.lower())
    if found is None:
        raise InputError(f"{name}: say --format ({', '.join(FORMATS)}); the name does not tell.")
    return found


@dataclass
class Batch:
    """Rows as read (`rows`: raw texts, or an Arrow RecordBatch) and each row's value of the
    column (None when it has none)."""

    rows: Any
    values: list[str | None]


@contextmanager
def _binary_input(name: str, seekable: bool = False) -> Iterator[IO[bytes]]:
    if name != "-":
        try:
            with open(name, "rb") as stream:
                yield stream
        except OSError as exc:
            raise InputError(f"{name}: {exc.strerror}") from None
        return
    if not seekable:
        yield sys.stdin.buffer
        return
    # Parquet's footer is at the end: standard input is copied to a temporary file first.
    with tempfile.TemporaryFile() as spool:
        shutil.copyfileobj(sys.stdin.buffer, spool)
        spool.seek(0)
        yield spool


def _value(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    return str(value)


def _jsonl_value(record: Any, path: list[str]) -> str | None:
    for part in path:
        if not isinstance(record, dict):
            return None
        record = record.get(part)
    return _value(record)


class _Recorder:
    """Lines in, for csv.reader; remembers the raw lines each record was read from."""

    def __init__(self, lines: IO[str]):
        self.lines = lines
        self.taken: list[str] = []

    def __iter__(self):
        return self

    def __next__(self) -> str:
        line = next(self.lines)
        self.taken.append(line)
        return line


class Reader:
    def __init__(self, name: str, fmt: str, column: str, batch_size: int):
        self.name, self.format, self.column, self.batch_size = name, fmt, column, batch_size
        self.header: str = ""  # CSV: the header's raw text
        self.schema = None  # Parquet: the file's Arrow schema
        self.total_rows: int | None = None

    @contextmanager
    def batches(self) -> Iterator[Iterator[Batch]]:
        with _binary_input(self.name, seekable=self.format == "parquet") as stream:
            yield getattr(self, f"_{self.format}")(stream)

    def _csv(self, stream: IO[bytes]) -> Iterator[Batch]:
        text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
        recorder = _Recorder(text)
        reader = csv.reader(recorder)
        try:
            header = next(reader)
        except StopIteration:
            raise InputError(f"{self.name}: no header row.") from None
        self.header = "".join(recorder.taken)
        if self.column not in header:
            raise InputError(f"{self.name}: no column {self.column!r} in the header.")
        index = header.index(self.column)
        rows: list[str] = []
        values: list[str | None] = []
        recorder.taken = []
        for record in reader:
            rows.append("".join(recorder.taken))
            recorder.taken = []
            values.append(record[index] if index < len(record) and record[index] else None)
            if len(rows) >= self.batch_size:
                yield Batch(rows, values)
                rows, values = [], []
        if rows:
            yield Batch(rows, values)

    def _jsonl(self, stream: IO[bytes]) -> Iterator[Batch]:
        path = self.column.split(".")
        rows: list[bytes] = []
        values: list[str | None] = []
        for number, line in enumerate(stream, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                raise InputError(f"{self.name}: line {number} is not JSON.") from None
            rows.append(line if line.endswith(b"\n") else line + b"\n")
            values.append(_jsonl_value(record, path))
            if len(rows) >= self.batch_size:
                yield Batch(rows, values)
                rows, values = [], []
        if rows:
            yield Batch(rows, values)

    def _parquet(self, stream: IO[bytes]) -> Iterator[Batch]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            file = pq.ParquetFile(stream)
        except (pa.ArrowException, OSError) as exc:
            raise InputError(f"{self.name}: not a Parquet file ({exc}).") from None
        self.schema = file.schema_arrow
        self.total_rows = file.metadata.num_rows
        if self.column not in self.schema.names:
            raise InputError(f"{self.name}: no column {self.column!r}.")
        for batch in file.iter_batches(batch_size=self.batch_size):
            values = [_value(v) for v in batch.column(self.column).to_pylist()]
            yield Batch(batch, values)


class Writer:
    """Writes the kept rows of each batch to `name` (`-`: standard output)."""

    def __init__(self, name: str, reader: Reader):
        self.name, self.reader = name, reader

    @contextmanager
    def open(self) -> Iterator[Writer]:
        if self.name == "-":
            self.stream = sys.stdout.buffer
            yield self
            self._close_parquet()
            self.stream.flush()
            return
        try:
            stream = open(self.name, "wb")  # noqa: SIM115 (closed below, after the writer)
        except OSError as exc:
            raise InputError(f"{self.name}: {exc.strerror}") from None
        self.stream = stream
        try:
            yield self
            self._close_parquet()
        finally:
            stream.close()

    _parquet = None
    _started = False

    def write(self, batch: Batch, keep: list[bool]) -> None:
        if self.reader.format == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            if self._parquet is None:
                self._parquet = pq.ParquetWriter(self.stream, self.reader.schema)
            kept = batch.rows.filter(pa.array(keep, type=pa.bool_()))
            if kept.num_rows:
                self._parquet.write_batch(kept)
            return
        if self.reader.format == "csv":
            if not self._started:
                self.stream.write(self.reader.header.encode())
                self._started = True
            self.stream.write(
                "".join(r for r, k in zip(batch.rows, keep, strict=True) if k).encode()
            )
            return
        self.stream.write(b"".join(r for r, k in zip(batch.rows, keep, strict=True) if k))

    def finish_empty(self) -> None:
        """An input with no rows still gets its header (CSV) or schema (Parquet)."""
        if self.reader.format == "csv" and not self._started:
            self.stream.write(self.reader.header.encode())
            self._started = True
        if self.reader.format == "parquet" and self._parquet is None and self.reader.schema:
            import pyarrow.parquet as pq

            self._parquet = pq.ParquetWriter(self.stream, self.reader.schema)

    def _close_parquet(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
