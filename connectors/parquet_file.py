"""`parquet_file`: rows of a Parquet file (eval sets, feature exports), read with pyarrow.

Config:

    {
        "path": "evals/set.parquet",            # absolute, or relative to the first root
        "match": {"email": "email", "user_id": "user.id"},  # id_type -> column name or path
        "mask_columns": ["email", "user.id", "name"],  # optional, default: the match columns
        "mask_value": "[erased]",               # optional, for text columns (see below)
        "timeout_seconds": 30,
    }

Columns: a name is first looked up as a top-level column (a name with dots in it is fine); if
there is none, a dotted name is a path into struct columns (`user.id` is the field `id` of the
struct column `user`). A match column must hold text or integers (dictionary-encoded or not).
A column missing from the file's schema, named twice in it or of another type is refused when
the call is made, with `invalid_target_config`.

Matching gives the same answer as `jsonl_file`: a value is normalized (e-mail trimmed and
lower-cased, phone to E.164 through `subject_keys`, anything else trimmed; an integer as its
decimal text) and compared exactly with the given, already normalized values. For e-mail and
other text, ASCII values are trimmed of Python's ASCII whitespace and lower-cased by
pyarrow.compute and looked up with `is_in`; non-ASCII values, where Arrow's and Python's case
mappings differ, are normalized in Python. Phone numbers need `phonenumbers`, in Python, which is
slow: a value of only ASCII digits and punctuation is parsed only if its last six digits (fewer
for a shorter national number) are those of a wanted number, since parsing never changes them;
any other value (letters, an extension, Khmer or Thai digits) is always parsed. Python sees each
distinct value once per batch. A row matches when any configured column does.

Erasing, in one rewrite however many subjects' values are given (`erase_groups` serves several
requests at once and counts each group's rows, as for `csv_file`): the file is read one row
group at a time and each is written, filtered, as one row group of a temporary file in the same
directory (same mode and owner), so row group boundaries and count are kept (a row group whose
rows all go stays, empty). With op "delete" matching rows are dropped; with op "mask" their
`mask_columns` are set to `mask_value` in text columns and to null in columns of any other type
(a non-nullable one of those is refused). The writer gets the original Arrow schema with its
key-value metadata, the per-column compression codecs of the first row group and the format
version; a file without an Arrow schema (Spark's) gets none, and its footer metadata is copied.
Column statistics are computed afresh, so no erased value survives as a min or max; bloom
filters and page indexes are not written. The temporary file is fsynced and renamed over the
original, then the directory fsynced, under an exclusive lock on the file, as for
`jsonl_file`. The match columns are scanned first, and the file is not rewritten when nothing
matches. The deadline is checked between batches and between row groups.

`Erased.before` / `after`: "sha256:<hex>" of the file's bytes as stored (compressed Parquet,
not decoded rows) before and after the rewrite; equal when nothing matched.

Scanning (`scan`, for the subject index) reads the match columns one batch of rows at a time
and yields each row's values (an integer as its decimal text; nulls left out).

Not supported: files being written while they are erased, masking only part of a list or map
column, and keeping compression levels or page encodings (the writer's defaults apply; the codec,
the format version and INT96 timestamps are kept).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Hashable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import phonenumbers
import structlog

from core.errors import ApplicationError
from core.lazy import lazy_module

from . import schema as json_schema
from .base import (
    Capability,
    ConnectorConfigError,
    Deadline,
    Erased,
    Found,
    Groups,
    GroupScanning,
)
from .csv_file import (
    DEFAULT_MASK_VALUE,
    MAX_COLUMN_NAME,
    MAX_MASK_VALUE,
    mask_columns_config,
    mask_value_config,
    valid_column,
)
from .files import (
    digest,
    discard,
    unavailable_on_os_error,
)
from .matching import normalized
from .rewrite import FileRewrite

# Loaded by the first Parquet file a process reads (see core.lazy).
pa = lazy_module("pyarrow")
pc = lazy_module("pyarrow.compute")
pq = lazy_module("pyarrow.parquet")

log = structlog.get_logger(__name__)

MAX_PATH_SEGMENTS = 16
# Rows per batch when only the match columns are scanned (locate, verify, the check before a
# rewrite); the deadline is checked between batches and between row groups.
SCAN_BATCH_ROWS = 65_536
HASH_CHUNK_BYTES = 1 << 20
# Phone values made only of these are pre-filtered by their last digits (see `_phone_hits`).
PHONE_PLAIN = r"^[0-9 \t+\-().]*$"
PHONE_TAIL_DIGITS = 6
# What str.strip() removes from an ASCII string, so Arrow trims exactly as Python does.
ASCII_WHITESPACE = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"
CODECS = {
    "UNCOMPRESSED": "none",
    "SNAPPY": "snappy",
    "GZIP": "gzip",
    "BROTLI": "brotli",
    "ZSTD": "zstd",
    "LZ4": "lz4",
    "LZ4_RAW": "lz4",
}
FORMAT_VERSIONS = ("1.0", "2.4", "2.6")

Path_ = tuple[str, ...]  # a column: its top-level name, then struct field names


@dataclass(frozen=True, slots=True)
class _Plan:
    """The columns one call reads and changes, resolved against the file's schema."""

    match: list[tuple[str, Path_]]  # (id_type, column) for the types being looked for
    values: dict[str, list[str]]  # id_type -> every value looked for, all groups together
    mask: list[Path_]
    top: list[str]  # top-level columns the match columns live in


class ParquetFile(FileRewrite, GroupScanning):
    kind = "parquet_file"
    config_schema = json_schema.config(
        description="Rows of a Parquet file (eval sets, feature exports), rewritten with "
        "pyarrow: a matching row is dropped or masked.",
        properties={
            "path": json_schema.path("The file."),
            **json_schema.sharding("the Parquet files"),
            "match": json_schema.match(
                {"type": "string", "minLength": 1, "maxLength": MAX_COLUMN_NAME},
                "Identifier type -> the column holding it (text or integers): a top-level "
                "column's name, else a dotted path into struct columns (`user.id`).",
            ),
            "mask_columns": {
                "type": "array",
                "items": {"type": "string", "minLength": 1, "maxLength": MAX_COLUMN_NAME},
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
        },
        required=["match"],
        one_of=[["path"], ["dir"]],
        together=[["dir", "glob"]],
        example={"path": "evals/set.parquet", "match": {"email": "email", "user_id": "user.id"}},
    )
    capabilities = frozenset(
        {Capability.LOCATE, Capability.DELETE, Capability.MASK, Capability.VERIFY, Capability.SCAN}
    )
    erase_method = "parquet_atomic_rewrite"
    random_access = True
    verify_method = "parquet_rescan"

    def __init__(self, *, config: dict[str, Any]):
        super().__init__(config=config)
        self.match = self._match_config(self.config, _valid_column, "column name")
        self.id_types = frozenset(self.match)
        self.mask_columns = mask_columns_config(self.config, self.match, _valid_column)
        self.mask_value = mask_value_config(self.config)
        self.confine()

    def _look(self, source) -> None:
        """Every match column is in the file's schema, and can be compared."""
        with _unreadable_on_arrow_error():
            self._plan(pq.ParquetFile(source).schema_arrow, {}, "none")

    # --- abilities ------------------------------------------------------------------------------

    def erase_groups(self, groups: Groups, *, op: str = "delete") -> dict[Hashable, Erased]:
        """Erase several requests' rows in one rewrite of the file; each group gets its own
        count and the shared before/after digests. A row holding two groups' subjects counts
        for both (it is dropped or masked once)."""
        self.require(Capability.for_op(op))
        union, owners = self.owners(groups)
        counts: dict[Hashable, int] = dict.fromkeys(groups, 0)
        deadline = self.deadline()
        started = self._now()
        path = self.resolved()
        count, temp = 0, None
        with _unreadable_on_arrow_error(), self.locked(path, deadline) as dir_fd:
            with self.open(path) as (raw, st):
                before = _filedigest(raw, deadline)
                raw.seek(0)
                parquet = pq.ParquetFile(raw)
                plan = self._plan(parquet.schema_arrow, union, op)
                after = before
                # Only the match columns are read to decide; most targets hold nothing.
                if self._tally(parquet, plan, owners, deadline, dict.fromkeys(groups, 0)):
                    count, after, temp = self._rewrite(
                        parquet, st, path, plan, owners, counts, op, deadline
                    )
            if temp is not None:
                try:
                    self.announce(counts, before, after)
                except BaseException:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(temp)
                    raise
                self.publish(temp, path, dir_fd)
        log.info("connector.erase", kind=self.kind, op=op, count=count, groups=len(counts))
        return self.split(self.erased(op, count, started, before, after), counts)

    def erase_reads_once(self) -> bool:
        # An erase reads the whole file for its digest; a look reads the match columns only.
        return False

    def content_digest(self) -> str:
        """The digest an erase reports as `before`: of the file's bytes."""
        with (
            _unreadable_on_arrow_error(),
            unavailable_on_os_error(),
            self.open(self.resolved()) as (raw, _),
        ):
            return _filedigest(raw, self.deadline())

    # --- scanning -------------------------------------------------------------------------------

    def scan(self) -> Iterator[Found]:
        """Each row's match values, read a batch of rows at a time (the match columns only)."""
        with (
            _unreadable_on_arrow_error(),
            unavailable_on_os_error(),
            self.open(self.resolved()) as (raw, _),
        ):
            parquet = pq.ParquetFile(raw)
            plan = self._plan(parquet.schema_arrow, {t: [] for t in self.match}, "none")
            if not parquet.metadata.num_rows:
                return
            for batch in parquet.iter_batches(batch_size=SCAN_BATCH_ROWS, columns=plan.top):
                yield from _found(batch, plan)

    def _scan(self, groups: Groups) -> dict[Hashable, int]:
        """Read the match columns once; per group, the number of rows holding its values."""
        union, owners = self.owners(groups)
        deadline = self.deadline()
        with (
            _unreadable_on_arrow_error(),
            unavailable_on_os_error(),
            self.open(self.resolved()) as (raw, _),
        ):
            parquet = pq.ParquetFile(raw)
            plan = self._plan(parquet.schema_arrow, union, "none")
            counts: dict[Hashable, int] = dict.fromkeys(groups, 0)
            self._tally(parquet, plan, owners, deadline, counts)
        return counts

    @staticmethod
    def _tally(parquet, plan, owners, deadline: Deadline, counts: dict[Hashable, int]) -> int:
        """Add each matching row to its groups' counts; returns the number of matching rows."""
        total = 0
        if not parquet.metadata.num_rows:
            return total
        for batch in parquet.iter_batches(batch_size=SCAN_BATCH_ROWS, columns=plan.top):
            deadline.check()
            _, hits = _matched(batch, plan, owners)
            total += len(hits)
            for keys in hits:
                for key in keys:
                    counts[key] += 1
        return total

    def _rewrite(self, parquet, st, path, plan, owners, counts, op, deadline):
        """Write each row group, filtered or masked, as one row group of a temporary file
        beside `path`. Returns (count, after, temp path)."""
        count = 0
        temp = self.spool(path, st)
        try:
            options = _writer_options(parquet)
            writer = pq.ParquetWriter(temp, schema=parquet.schema_arrow, **options)
            try:
                for index in range(parquet.num_row_groups):
                    deadline.check()
                    table = parquet.read_row_group(index)
                    matched, hits = _matched(table, plan, owners)
                    for keys in hits:
                        for key in keys:
                            counts[key] += 1
                    if hits:
                        count += len(hits)
                        table = (
                            table.filter(pc.invert(matched))
                            if op == "delete"
                            else self._masked(table, matched, plan.mask)
                        )
                    writer.write_table(table, row_group_size=max(table.num_rows, 1))
                if not options["store_schema"] and parquet.metadata.metadata:
                    # Without an Arrow schema the writer drops the schema's metadata, so the
                    # footer's keys (Spark's, say) are written back as they were.
                    writer.add_key_value_metadata(parquet.metadata.metadata)
            finally:
                writer.close()
            temp.flush()
            os.fsync(temp.fileno())
            temp.seek(0)
            after = _filedigest(temp, deadline)
            temp.close()
            return count, after, temp.name
        except BaseException:
            discard(temp)
            raise

    def _masked(self, table: pa.Table, matched: pa.Array, columns: list[Path_]) -> pa.Table:
        for column in columns:
            index = table.schema.get_field_index(column[0])
            array = _combined(table.column(index))
            table = table.set_column(
                index,
                table.schema.field(index),
                _replaced(array, column[1:], matched, self.mask_value),
            )
        return table

    # --- columns --------------------------------------------------------------------------------

    def _plan(self, schema: pa.Schema, id_types: Mapping[str, list[str]], op: str) -> _Plan:
        """Resolve every configured column (so a changed schema is noticed whatever is asked),
        checking that match columns can be compared and mask columns can be masked."""
        match = []
        for id_type, name in self.match.items():
            column, field = _resolve(schema, name, f"match.{id_type}")
            if _text_type(field.type) is None:
                raise ConnectorConfigError(
                    f"The column {name!r} (match.{id_type}) holds neither text nor integers.",
                    fields={f"match.{id_type}": "not a text or integer column"},
                )
            if id_type in id_types:
                match.append((id_type, column))
        mask = []
        if op == "mask":
            for name in self.mask_columns:
                column, field = _resolve(schema, name, "mask_columns")
                if not field.nullable and not _is_text(field.type):
                    raise ConnectorConfigError(
                        f"The column {name!r} (mask_columns) is not text and cannot be null.",
                        fields={"mask_columns": "cannot be masked"},
                    )
                mask.append(column)
        top = list(dict.fromkeys(column[0] for _, column in match))
        values = {id_type: list(id_types[id_type]) for id_type, _ in match}
        return _Plan(match=match, values=values, mask=mask, top=top)


# --- matching -------------------------------------------------------------------------------------


def _matched(data: pa.Table | pa.RecordBatch, plan: _Plan, owners) -> tuple[pa.Array, list[set]]:
    """The rows to erase as a boolean mask, and for each of them (in order) the groups whose
    values it holds. The mask is exact; the groups are looked up in Python for those rows only."""
    matched: pa.Array | None = None
    columns = []
    for id_type, column in plan.match:
        text = _as_text(_column(data, column))
        found = _hits(text, id_type, pa.array(plan.values[id_type], text.type))
        matched = found if matched is None else pc.or_(matched, found)
        columns.append((id_type, text))
    assert matched is not None  # `usable` refuses a call without a type to look for
    rows = pc.indices_nonzero(matched)
    if not len(rows):
        return matched, []
    hits: list[set] = [set() for _ in range(len(rows))]
    for id_type, text in columns:
        for number, value in enumerate(text.take(rows).to_pylist()):
            if value is not None:
                hits[number].update(owners.get((id_type, normalized(id_type, value)), ()))
    return matched, hits


def _hits(text: pa.Array, id_type: str, wanted: pa.Array) -> pa.Array:
    """Where `normalized(id_type, value)` is one of `wanted`, without nulls."""
    if id_type == "phone":
        return _phone_hits(text, wanted.to_pylist())
    ascii_ = pc.fill_null(pc.string_is_ascii(text), False)
    normalized = pc.utf8_trim(text, characters=ASCII_WHITESPACE)
    if id_type == "email":
        normalized = pc.ascii_lower(normalized)
    found = pc.and_(ascii_, pc.is_in(normalized, value_set=wanted))
    if pc.all(ascii_).as_py() is not False:
        return found
    others = pc.if_else(ascii_, pa.scalar(None, text.type), text)
    return pc.or_(found, _hits_in_python(others, id_type, set(wanted.to_pylist())))


def _phone_hits(text: pa.Array, wanted: list[str]) -> pa.Array:
    """Phone numbers are parsed in Python, which is slow, so only for the values that could
    match: a value made only of ASCII digits and the punctuation parsing ignores keeps its last
    digits as the last digits of its national number (prefixes and trunk codes are at the
    front), so it is a candidate only if those end like a wanted number's. Any other value
    (letters, an extension, non-ASCII digits) is always parsed."""
    tails: dict[int, set[str]] = {}
    for value in wanted:
        try:
            national = str(phonenumbers.parse(value, None).national_number)
        except phonenumbers.NumberParseException:
            return _hits_in_python(text, "phone", set(wanted))
        tails.setdefault(min(len(national), PHONE_TAIL_DIGITS), set()).add(
            national[-PHONE_TAIL_DIGITS:]
        )
    plain = pc.fill_null(pc.match_substring_regex(text, PHONE_PLAIN), True)
    digits = pc.replace_substring_regex(text, "[^0-9]", "")
    candidates = pc.invert(plain)
    for length, ends in tails.items():
        ending = pc.utf8_slice_codeunits(digits, -length)
        candidates = pc.or_(
            candidates, pc.is_in(ending, value_set=pa.array(sorted(ends), digits.type))
        )
    candidates = pc.fill_null(candidates, False)
    return _hits_in_python(
        pc.if_else(candidates, text, pa.scalar(None, text.type)), "phone", set(wanted)
    )


def _hits_in_python(text: pa.Array, id_type: str, wanted: set[str]) -> pa.Array:
    """`normalized` applied once per distinct value, spread back over the rows."""
    encoded = pc.dictionary_encode(text)
    flags = pa.array(
        [normalized(id_type, value) in wanted for value in encoded.dictionary.to_pylist()],
        pa.bool_(),
    )
    return pc.fill_null(pc.take(flags, encoded.indices), False)


# --- schema ---------------------------------------------------------------------------------------


def _valid_column(name: str) -> bool:
    return valid_column(name) and len(name.split(".")) <= MAX_PATH_SEGMENTS


def _resolve(schema: pa.Schema, name: str, key: str) -> tuple[Path_, pa.Field]:
    """The column `name` names: a top-level column of that exact name, else a path into
    struct columns. Refused if missing or ambiguous."""
    indices = schema.get_all_field_indices(name)
    if len(indices) == 1:
        return (name,), schema.field(indices[0])
    if not indices and "." in name:
        first, *rest = name.split(".")
        found = schema.get_all_field_indices(first)
        field = schema.field(found[0]) if len(found) == 1 else None
        for segment in rest:
            if field is None or not pa.types.is_struct(field.type):
                field = None
                break
            child = field.type.get_all_field_indices(segment)
            field = field.type.field(child[0]) if len(child) == 1 else None
        if field is not None:
            return tuple(name.split(".")), field
    raise ConnectorConfigError(
        f"The file's schema has {'more than one' if indices else 'no'} column {name!r} ({key}).",
        fields={key: "ambiguous in the schema" if indices else "not in the schema"},
    )


def _column(data: pa.Table | pa.RecordBatch, column: Path_) -> pa.Array:
    array = _combined(data.column(column[0]))
    for name in column[1:]:
        array = pc.struct_field(array, [array.type.get_field_index(name)])
    return array


def _found(batch: pa.RecordBatch | pa.Table, plan: _Plan) -> Iterator[Found]:
    """Each row's match values as text (an integer as its decimal text; nulls left out)."""
    columns = [
        (id_type, _as_text(_column(batch, column)).to_pylist()) for id_type, column in plan.match
    ]
    for row in range(batch.num_rows):
        yield tuple(
            (id_type, values[row]) for id_type, values in columns if values[row] is not None
        )


def _combined(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def _is_text(data_type: pa.DataType) -> bool:
    if pa.types.is_dictionary(data_type):
        data_type = data_type.value_type
    return (
        pa.types.is_string(data_type)
        or pa.types.is_large_string(data_type)
        or pa.types.is_string_view(data_type)
    )


def _text_type(data_type: pa.DataType) -> pa.DataType | None:
    """The string type a match column is compared as, or None if it cannot be."""
    if pa.types.is_dictionary(data_type):
        data_type = data_type.value_type
    if pa.types.is_large_string(data_type):
        return data_type
    if _is_text(data_type) or pa.types.is_integer(data_type):
        return pa.string()
    return None


def _as_text(array: pa.Array) -> pa.Array:
    return array.cast(_text_type(array.type))


def _replaced(array: pa.Array, rest: Path_, matched: pa.Array, value: str) -> pa.Array:
    """`array` with the matched rows of the column at `rest` (inside it) masked."""
    if rest:
        children = [array.field(i) for i in range(array.type.num_fields)]
        index = array.type.get_field_index(rest[0])
        children[index] = _replaced(children[index], rest[1:], matched, value)
        return pa.StructArray.from_arrays(children, fields=list(array.type), mask=pc.is_null(array))
    data_type = array.type
    if not _is_text(data_type):
        return pc.if_else(matched, pa.scalar(None, data_type), array)
    # Dictionary and view columns are masked as plain text and cast back to their own type.
    value_type = data_type.value_type if pa.types.is_dictionary(data_type) else data_type
    plain = pa.large_string() if pa.types.is_large_string(value_type) else pa.string()
    masked = pc.if_else(matched, pa.scalar(value, plain), array.cast(plain))
    return masked.cast(data_type)


# --- files ----------------------------------------------------------------------------------------


def _writer_options(parquet: pq.ParquetFile) -> dict[str, Any]:
    """Writer settings that keep what the footer records of how the file was written."""
    metadata = parquet.metadata
    codecs: dict[str, str] = {}
    if metadata.num_row_groups:
        group = metadata.row_group(0)
        for index in range(group.num_columns):
            chunk = group.column(index)
            codecs[chunk.path_in_schema] = CODECS.get(chunk.compression, "snappy")
    distinct = set(codecs.values())
    compression: str | dict[str, str] = (
        distinct.pop() if len(distinct) == 1 else codecs if codecs else "snappy"
    )
    version = metadata.format_version
    schema = metadata.schema
    return {
        "compression": compression,
        "version": version if version in FORMAT_VERSIONS else "2.6",
        # Legacy timestamps stay INT96 for the readers (Spark, Impala) that expect them.
        "use_deprecated_int96_timestamps": any(
            schema.column(i).physical_type == "INT96" for i in range(len(schema))
        ),
        # A file written without an Arrow schema (by Spark, say) is not given one.
        "store_schema": b"ARROW:schema" in (metadata.metadata or {}),
    }


def _filedigest(source: Any, deadline: Deadline) -> str:
    """sha256 of the bytes from the current position to the end."""
    hashed = hashlib.sha256()
    for number, chunk in enumerate(iter(lambda: source.read(HASH_CHUNK_BYTES), b"")):
        if number % 64 == 0:
            deadline.check()
        hashed.update(chunk)
    return digest(hashed)


@contextlib.contextmanager
def _unreadable_on_arrow_error() -> Iterator[None]:
    try:
        yield
    except pa.ArrowException as error:
        if isinstance(error, OSError):
            raise  # an I/O failure: worth retrying, reported by _unavailable_on_os_error
        raise ApplicationError(
            "The target file could not be read as Parquet.", code="file_unreadable"
        ) from None
