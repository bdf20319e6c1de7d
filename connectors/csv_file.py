"""`csv_file`: rows of a CSV file with a header row (exports, eval sets), plain or gzip.

Config:

    {
        "path": "exports/users.csv",            # absolute, or relative to the first root
        "match": {"email": "email", "phone": "phone_number"},  # id_type -> column header
        "gzip": false,                          # optional; by default, true for a ".gz" name
        "delimiter": ",",                       # optional, one character, default ","
        "encoding": "utf-8",                    # optional, default "utf-8"; ASCII-compatible only
        "mask_columns": ["email", "phone_number", "name"],  # optional, default: the match columns
        "mask_value": "[erased]",               # optional, what masked cells are set to
        "timeout_seconds": 30,
    }

The dialect is fixed apart from the delimiter: fields may be quoted with `"`, a quote inside a
quoted field is doubled, and a quoted field may span lines. The first record is the header; a
match or mask column missing from it (or named twice in it) is refused when the call is made,
with `invalid_target_config`. A UTF-8 byte order mark before the first column name is ignored.

Matching: a cell is normalized like a `jsonl_file` field (e-mail trimmed and lower-cased, phone
to E.164 through `subject_keys`, anything else trimmed) and compared exactly with the given,
already normalized values. A row matches when any configured column does. In a UTF-8 file
looked through for values other than phone numbers, only the rows that may hold a value
(`connectors.prefilter`) are parsed; the others are copied as read.

Erasing, in one pass over the file however many subjects' values are given: with op "delete" a
matching row is dropped; with op "mask" its `mask_columns` cells are set to `mask_value` and the
row is written again with the same delimiter, quoting only where needed and ending like the
original (so quotes the original had around other cells of that row may go; a row too short to
have a mask column is not lengthened). Every other
record, the header included, is copied as the raw bytes it was read from, so rows of other
subjects stay byte for byte identical. Records are parsed one at a time from the file's lines,
and the lines each record was read from are what gets copied. `mask_columns` must include every
match column, otherwise a masked row would still match and the erasure could never be verified.

The new content goes to a temporary file in the same directory (same mode and owner), which is
fsynced and renamed over the original, then the directory is fsynced, all under an exclusive
lock on the file: a crash leaves the old file or the new one, never half of each, and a
retry finishes the work (erased rows no longer match). When nothing matches, the file is not
rewritten.

Batches: `erase_groups(groups, op=...)` erases the rows of several requests in that one pass and
gives each group its own count (a row holding two groups' subjects counts for both, and is
dropped or masked once) with the shared digests; `verify_groups` counts for every group in one
read.

`Erased.before` / `after`: "sha256:<hex>" of the decompressed content before and after (equal
when nothing matched). `Erased.skipped` counts rows kept because they have fewer cells than the
header (among the rows parsed).

Scanning (`scan`, for the subject index) reads every record once and yields the cells of its
match columns that hold something (a row too short to have one yields what it has).

Not supported: files another process keeps appending to (rows appended during the rewrite would
be lost), encodings that are not ASCII-compatible (UTF-16, UTF-32), and, refused as
`file_unreadable`, old Mac files whose lines end in a lone carriage return and cells longer than
the csv module's field limit (128 KiB by default).
"""

import codecs
import contextlib
import csv
import io
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from typing import IO, Any

import structlog

from core.errors import ApplicationError

from . import schema
from .base import (
    Capability,
    ConnectorConfigError,
    Deadline,
    Erased,
    Found,
    Groups,
    GroupScanning,
)
from .files import DEADLINE_EVERY, unavailable_on_os_error
from .matching import normalized, prefilter
from .prefilter import blocks
from .rewrite import Edit, FileRewrite

log = structlog.get_logger(__name__)

DEFAULT_MASK_VALUE = "[erased]"
MAX_COLUMN_NAME = 256
MAX_MASK_VALUE = 256
QUOTE = '"'
BOM = "\ufeff"
# Characters whose bytes must be the same as in ASCII for records to be split and copied as bytes.
_ASCII_PROBE = '\r\n",;|\t azAZ09'

# (id_type, normalized value) -> the keys of the groups that gave it (`Connector.owners`).
Owners = Mapping[tuple[str, str], list]


class CsvFile(FileRewrite, GroupScanning):
    kind = "csv_file"
    config_schema = schema.config(
        description="Rows of a CSV file with a header row (exports, eval sets), plain or gzip: "
        "a matching row is dropped or masked, every other row copied byte for byte.",
        properties={
            "path": schema.path("The file."),
            **schema.sharding("the CSV files"),
            "match": schema.match(
                {"type": "string", "minLength": 1, "maxLength": MAX_COLUMN_NAME},
                "Identifier type -> the header of the column holding it.",
            ),
            "gzip": {
                "type": "boolean",
                "description": "Read and write the file as gzip; by default, true for a name "
                "ending in .gz.",
            },
            "delimiter": {
                "type": "string",
                "minLength": 1,
                "maxLength": 1,
                "default": ",",
                "description": "One character other than a quote or a line break.",
            },
            "encoding": {
                "type": "string",
                "minLength": 1,
                "default": "utf-8",
                "description": "The file's text encoding; ASCII-compatible ones only.",
            },
            "mask_columns": {
                "type": "array",
                "items": {"type": "string", "minLength": 1, "maxLength": MAX_COLUMN_NAME},
                "minItems": 1,
                "uniqueItems": True,
                "description": "The columns a masked row has set to `mask_value`; they must "
                "include every match column. By default, the match columns.",
            },
            "mask_value": {
                "type": "string",
                "maxLength": MAX_MASK_VALUE,
                "default": DEFAULT_MASK_VALUE,
                "description": "What masked cells are set to.",
            },
        },
        required=["match"],
        one_of=[["path"], ["dir"]],
        together=[["dir", "glob"]],
        example={
            "path": "exports/users.csv",
            "match": {"email": "email", "phone": "phone_number"},
            "mask_columns": ["email", "phone_number", "name"],
        },
    )
    capabilities = frozenset(
        {Capability.LOCATE, Capability.DELETE, Capability.MASK, Capability.VERIFY, Capability.SCAN}
    )
    erase_method = "csv_atomic_rewrite"
    verify_method = "csv_rescan"

    def __init__(self, *, config: dict[str, Any]):
        super().__init__(config=config)
        self.match = self._match_config(self.config, valid_column, "column name")
        self.id_types = frozenset(self.match)
        self.gzip = self.gzip_config()
        self.delimiter = self._delimiter(self.config.get("delimiter", ","))
        self.encoding = self._encoding(self.config.get("encoding", "utf-8"))
        self.mask_columns = mask_columns_config(self.config, self.match, valid_column)
        self.mask_value = mask_value_config(self.config)
        try:
            self.mask_value.encode(self.encoding)
        except UnicodeError:
            raise ConnectorConfigError(
                "mask_value cannot be written in the file's encoding.",
                fields={"mask_value": "not encodable"},
            ) from None
        self.confine()

    def _look(self, source: IO[bytes]) -> None:
        """Every match and mask column is in the header (an empty file has none to check)."""
        with _unreadable_on_csv_error():
            header = next(self._records(source, self.deadline()), None)
        if header is not None:
            self._columns(header[0], (), "mask")

    # --- abilities ------------------------------------------------------------------------------

    def erase_groups(self, groups: Groups, *, op: str = "delete") -> dict[Hashable, Erased]:
        """Erase several requests' rows in one pass over the file; each group gets its own
        count and the shared before/after digests. A row holding two groups' subjects counts
        for both (it is dropped or masked once)."""
        self.require(Capability.for_op(op))
        union, owners = self.owners(groups)
        counts: dict[Hashable, int] = dict.fromkeys(groups, 0)
        deadline = self.deadline()
        started = self._now()
        path = self.resolved()
        with _unreadable_on_csv_error(), self.locked(path, deadline) as dir_fd:
            done = self.rewrite(
                path,
                dir_fd,
                lambda source: self._edits(source, union, owners, counts, op, deadline),
                counts,
            )
        log.info(
            "connector.erase",
            kind=self.kind,
            op=op,
            count=done.count,
            skipped=done.skipped,
            groups=len(counts),
        )
        shared = self.erased(op, done.count, started, done.before, done.after, done.skipped)
        return self.split(shared, counts)

    # --- scanning -------------------------------------------------------------------------------

    def _scan(self, groups: Groups) -> dict[Hashable, int]:
        """Read the file once; per group, the number of rows holding its values."""
        union, owners = self.owners(groups)
        counts: dict[Hashable, int] = dict.fromkeys(groups, 0)
        deadline = self.deadline()
        with (
            _unreadable_on_csv_error(),
            unavailable_on_os_error(),
            self.open(self.resolved()) as (source, _),
        ):
            records = self._records(source, deadline)
            header = next(records, None)
            if header is None:
                return counts
            match, _ = self._columns(header[0], union, "none")
            for row, _raw in self._body(source, union, deadline):
                if row is None:
                    continue
                for key in _hit(row, match, owners):
                    counts[key] += 1
        return counts

    def scan(self) -> Iterator[Found]:
        """Each row's match cells, as written (one read of the file)."""
        deadline = Deadline(float("inf"))  # a scan is bounded by its task, not by the target's
        with (
            _unreadable_on_csv_error(),
            unavailable_on_os_error(),
            self.open(self.resolved()) as (source, _),
        ):
            records = self._records(source, deadline)
            header = next(records, None)
            if header is None:
                return
            match, _ = self._columns(header[0], self.match, "none")
            for row, _raw in records:
                # An empty cell holds no identifier (as a null in a table).
                yield tuple((t, row[i]) for t, i in match if i < len(row) and row[i].strip())

    def _edits(
        self,
        source: IO[bytes],
        union: Mapping[str, list[str]],
        owners: Owners,
        counts: dict[Hashable, int],
        op: str,
        deadline: Deadline,
    ) -> Iterator[Edit]:
        """The records to keep as read, the matching ones dropped or masked, each match counted
        for its groups; a short row is kept and counted as skipped."""
        records = self._records(source, deadline)
        header = next(records, None)
        if header is None:
            return
        names, raw = header
        match, mask = self._columns(names, union, op)
        yield Edit(raw, 0, raw)
        for row, raw in self._body(source, union, deadline):
            if row is None:
                yield Edit(raw, 0, raw)
                continue
            hit = _hit(row, match, owners)
            if not hit:
                yield Edit(raw, 0, raw, skipped=bool(row) and len(row) < len(names))
                continue
            for key in hit:
                counts[key] += 1
            yield Edit(raw, 1, None if op == "delete" else self._masked(row, raw, mask))

    def _body(
        self, source: IO[bytes], union: Mapping[str, list[str]], deadline: Deadline
    ) -> Iterator[tuple[list | None, bytes]]:
        """The records after the header as (cells, raw bytes). With the byte prefilter (UTF-8
        files), runs of lines that cannot hold a value come unparsed as (None, raw bytes); a
        block holding a quote (a cell may span lines or double a quote) or a lone carriage
        return is parsed whole, with the lines after it that finish its last record."""
        sieve = prefilter(union) if self.encoding in ("utf-8", "ascii") else None
        if sieve is None:
            yield from self._records(source, deadline)
            return
        for block in blocks(source, deadline):
            lone_cr = b"\r" in block and block.count(b"\r") != block.count(b"\r\n")
            if b'"' in block or lone_cr:
                yield from self._records_through(block, source, deadline)
                continue
            at = 0
            for start, end in sieve.candidates(block):
                if start > at:
                    yield None, block[at:start]
                yield from self._records(io.BytesIO(block[start:end]), deadline)
                at = end
            if at < len(block):
                yield None, block[at:]

    def _records_through(
        self, block: bytes, source: IO[bytes], deadline: Deadline
    ) -> Iterator[tuple[list, bytes]]:
        """The records of `block`'s lines, the last one finished from `source` if it goes on."""
        left = [block.count(b"\n") + (not block.endswith(b"\n"))]

        def lines() -> Iterator[bytes]:
            for line in io.BytesIO(block):
                left[0] -= 1
                yield line
            yield from iter(source.readline, b"")

        for record in self._records(lines(), deadline):
            yield record
            if not left[0]:
                return

    def _records(self, source: Iterable[bytes], deadline: Deadline) -> Iterator[tuple[list, bytes]]:
        """(cells, raw bytes) per record. The reader pulls one line at a time and returns a
        record as soon as its last line is read, so the lines taken since the previous record
        are exactly this record's bytes. Undecodable bytes are kept as surrogates, so they
        never stop a scan and survive in a masked row."""
        taken: list[bytes] = []

        def lines() -> Iterator[str]:
            for line in source:
                taken.append(line)
                yield line.decode(self.encoding, "surrogateescape")

        reader = csv.reader(lines(), delimiter=self.delimiter, quotechar=QUOTE, doublequote=True)
        for number, row in enumerate(reader):
            if number % DEADLINE_EVERY == 0:
                deadline.check()
            raw = b"".join(taken)
            taken.clear()
            yield row, raw

    def _columns(
        self, header: list[str], id_types: Iterable[str], op: str
    ) -> tuple[list[tuple[str, int]], list[int]]:
        """The indexes of the match columns of the types being looked for, and of the columns
        to mask; every configured column is checked, so a header that changed is noticed."""
        names = list(header)
        if names:
            names[0] = names[0].removeprefix(BOM)

        def index(column: str, key: str) -> int:
            found = [i for i, name in enumerate(names) if name == column]
            if len(found) != 1:
                raise ConnectorConfigError(
                    f"The file's header has {'no' if not found else 'more than one'} column "
                    f"named {column!r} ({key}).",
                    fields={key: "not in the header" if not found else "ambiguous in the header"},
                )
            return found[0]

        match = [(t, index(column, f"match.{t}")) for t, column in self.match.items()]
        mask = (
            [index(column, "mask_columns") for column in self.mask_columns] if op == "mask" else []
        )
        return [(t, i) for t, i in match if t in id_types], mask

    def _masked(self, row: list[str], raw: bytes, mask: list[int]) -> bytes:
        """The row with its mask cells replaced, ending with the same line break as `raw`."""
        cells = list(row)
        for index in mask:
            if index < len(cells):
                cells[index] = self.mask_value
        out = io.StringIO()
        # "\r\n" makes the writer quote any cell holding either character; it is swapped below.
        csv.writer(
            out, delimiter=self.delimiter, quotechar=QUOTE, doublequote=True, lineterminator="\r\n"
        ).writerow(cells)
        text = out.getvalue().removesuffix("\r\n")
        ending = b"\r\n" if raw.endswith(b"\r\n") else b"\n" if raw.endswith(b"\n") else b""
        return text.encode(self.encoding, "surrogateescape") + ending

    # --- config ---------------------------------------------------------------------------------

    @staticmethod
    def _delimiter(value: Any) -> str:
        if not isinstance(value, str) or len(value) != 1 or value in '\r\n"\x00':
            raise ConnectorConfigError(
                "delimiter is one character other than a quote or a line break.",
                fields={"delimiter": "not a single character"},
            )
        return value

    @staticmethod
    def _encoding(value: Any) -> str:
        """A codec whose line breaks, quotes and ASCII letters are the ASCII bytes: records are
        split on b"\\n" and copied as bytes."""
        try:
            name = codecs.lookup(value).name if isinstance(value, str) else None
            compatible = name is not None and _ASCII_PROBE.encode(name) == _ASCII_PROBE.encode()
        except (LookupError, UnicodeError):
            compatible = False
        if not compatible:
            raise ConnectorConfigError(
                "encoding is a known, ASCII-compatible text encoding.",
                fields={"encoding": "unsupported"},
            )
        return name


# --- shared with parquet_file ---------------------------------------------------------------------


def valid_column(name: str) -> bool:
    return 0 < len(name) <= MAX_COLUMN_NAME and name.isprintable()


def mask_columns_config(
    config: Mapping[str, Any], match: Mapping[str, str], valid: Callable[[str], bool]
) -> list[str]:
    """`mask_columns`, by default the match columns; it must hold every match column."""
    columns = config.get("mask_columns")
    if columns is None:
        return list(dict.fromkeys(match.values()))
    if (
        not isinstance(columns, list)
        or not columns
        or not all(isinstance(c, str) and valid(c) for c in columns)
        or len(set(columns)) != len(columns)
    ):
        raise ConnectorConfigError(
            "mask_columns lists distinct column names.", fields={"mask_columns": "invalid"}
        )
    if not set(match.values()) <= set(columns):
        raise ConnectorConfigError(
            "mask_columns must include every match column, or masked rows would still match.",
            fields={"mask_columns": "missing a match column"},
        )
    return columns


def mask_value_config(config: Mapping[str, Any]) -> str:
    value = config.get("mask_value", DEFAULT_MASK_VALUE)
    if not isinstance(value, str) or len(value) > MAX_MASK_VALUE or not value.isprintable():
        raise ConnectorConfigError(
            f"mask_value is printable text of at most {MAX_MASK_VALUE} characters.",
            fields={"mask_value": "invalid"},
        )
    return value


def _hit(row: Sequence[str], match: list[tuple[str, int]], owners: Owners) -> set[Hashable]:
    """The groups whose values appear in the row's match cells."""
    hit: set[Hashable] = set()
    for id_type, index in match:
        if index < len(row):
            value = normalized(id_type, row[index])
            if value is not None:
                hit.update(owners.get((id_type, value), ()))
    return hit


@contextlib.contextmanager
def _unreadable_on_csv_error() -> Iterator[None]:
    try:
        yield
    except csv.Error:
        raise ApplicationError(
            "The target file is not valid CSV.", code="file_unreadable"
        ) from None
