"""`jsonl_file`: lines of a JSON Lines file (eval sets, JSON logs), plain or gzip.

Config:

    {
        "path": "evals/support-v3.jsonl.gz",    # absolute, or relative to the first root
        "match": {"email": "user.email", "user_id": "uid"},   # id_type -> dotted field path
        "gzip": true,                           # optional; by default, true for a ".gz" name
        "timeout_seconds": 30,
    }

Erasing removes every line whose field matches one of the given values, in one pass over the
file however many subjects' values are given: kept lines are written byte for byte to a
temporary file in the same directory, which is fsynced and renamed over the original (then the
directory is fsynced), so a crash leaves either the old file or the new one, never half of
each. The original's mode is kept. Only lines that may hold a value (`connectors.prefilter`:
one of its pieces, a backslash escape) are parsed; the others are copied as read. Parsed lines
that are not JSON objects are kept untouched and counted as skipped.

Scanning (`scan`, for the subject index) reads every line once and yields the values of its
match fields; a line that is not a JSON object yields none. The file is read in blocks of
whole lines, and each block is parsed by pyarrow's JSON reader with a schema of the match fields
only (C++, the other fields skipped), which is several times faster than `json.loads` per line.
Any block the reader refuses or reads differently (a line that is not an object, a field that
is a number or an object where the schema says text, a key given twice, two objects on a line)
is read again line by line as above, so the result is always that of `json.loads`.

Not supported: masking (a line is removed, not rewritten), and files another process keeps
appending to (lines appended during the rewrite would be lost; rotate such logs first).

Why the path checks: a target's path is resolved, symlinks followed, and must land under one of
`settings.LUP_FILE_ROOTS`, checked again at every call; so neither `..` nor a symlink can point
a connector at a file outside them.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Hashable, Iterator
from typing import Any

import structlog

from core.lazy import lazy_module

from . import schema
from .base import Capability, Deadline, Erased, Found, Groups, GroupScanning
from .files import unavailable_on_os_error
from .matching import normalized, prefilter
from .prefilter import Prefilter, blocks, runs
from .rewrite import Edit, FileRewrite

# Only a scan (the subject index) parses blocks with pyarrow: an erasing worker never loads it.
pa = lazy_module("pyarrow")
pc = lazy_module("pyarrow.compute")
pa_json = lazy_module("pyarrow.json")

log = structlog.get_logger(__name__)

MAX_PATH_SEGMENTS = 16
# Bytes that make a line a candidate whatever it holds: an escape may spell any value
# (`\u0040`, `\/`), and NUL or a UTF-16/32 byte order mark make `json.loads` read the line in
# another encoding.
JSON_TRIGGERS = (b"\\", b"\x00", b"\xff\xfe", b"\xfe\xff")


class JsonlFile(FileRewrite, GroupScanning):
    kind = "jsonl_file"
    config_schema = schema.config(
        description="Lines of a JSON Lines file (eval sets, JSON logs), plain or gzip: a line "
        "whose field matches is removed (it cannot mask).",
        properties={
            "path": schema.path("The file."),
            **schema.sharding("the JSON Lines files"),
            "match": schema.match(
                {"type": "string", "minLength": 1},
                "Identifier type -> the dotted path of the field holding it in each line "
                "(`user.email` is the field `email` of the object `user`).",
            ),
            "gzip": {
                "type": "boolean",
                "description": "Read and write the file as gzip; by default, true for a name "
                "ending in .gz.",
            },
        },
        required=["match"],
        one_of=[["path"], ["dir"]],
        together=[["dir", "glob"]],
        example={"path": "evals/support-v3.jsonl.gz", "match": {"email": "user.email"}},
    )
    capabilities = frozenset(
        {Capability.LOCATE, Capability.DELETE, Capability.VERIFY, Capability.SCAN}
    )
    erase_method = "jsonl_atomic_rewrite"
    verify_method = "jsonl_rescan"

    def __init__(self, *, config: dict[str, Any]):
        super().__init__(config=config)
        fields = self._match_config(self.config, _valid_field, "field path")
        self.match = {id_type: tuple(field.split(".")) for id_type, field in fields.items()}
        self.id_types = frozenset(self.match)
        self.gzip = self.gzip_config()
        self.confine()

    def erase_groups(self, groups: Groups, *, op: str = "delete") -> dict[Hashable, Erased]:
        """Erase several requests' lines in one pass over the file; each group gets its own
        count and the shared before/after digests. A line holding two groups' subjects counts
        for both (it is removed once)."""
        self.require(Capability.for_op(op))
        counts, matches, sieve = self._group_matcher(groups)
        deadline = self.deadline()
        started = self._now()
        path = self.resolved()

        def edits(source) -> Iterator[Edit]:
            for line, candidate in runs(source, deadline, sieve):
                if not candidate:
                    yield Edit(line, 0, line)
                    continue
                matched = matches(line)
                if matched is True:
                    yield Edit(line, 1, None)
                else:
                    yield Edit(line, 0, line, skipped=matched is None)

        with self.locked(path, deadline) as dir_fd:
            done = self.rewrite(path, dir_fd, edits, counts)
        log.info("connector.erase", kind=self.kind, op=op, count=done.count, skipped=done.skipped)
        shared = self.erased(op, done.count, started, done.before, done.after, done.skipped)
        return self.split(shared, counts)

    def scan(self) -> Iterator[Found]:
        """Each line's match-field values, as written (one read of the file, a block of
        lines at a time; see the module docstring)."""
        options = _arrow_options(self.match)
        endless = Deadline(float("inf"))  # a scan is bounded by its task, not the target's
        with unavailable_on_os_error(), self.open(self.resolved()) as (source, _):
            for block in blocks(source, endless):
                fast = _arrow_block(block, self.match, options) if options else None
                yield from fast if fast is not None else self._scan_lines(block)

    def _scan_lines(self, block: bytes) -> Iterator[Found]:
        for line in io.BytesIO(block):  # split at b"\n" only, as the file's lines are
            record = _record(line)
            if not isinstance(record, dict):
                yield ()
                continue
            yield tuple(
                (id_type, value)
                for id_type, field in self.match.items()
                if (value := _field(record, field)) is not None
            )

    def _scan(self, groups: Groups) -> dict[Hashable, int]:
        """Read the file once; per group, the number of lines holding its values."""
        counts, matches, sieve = self._group_matcher(groups)
        deadline = self.deadline()
        with unavailable_on_os_error(), self.open(self.resolved()) as (source, _):
            for line, candidate in runs(source, deadline, sieve):
                if candidate:
                    matches(line)
        return counts

    def _group_matcher(
        self, groups: Groups
    ) -> tuple[dict[Hashable, int], Callable[[bytes], bool | None], Prefilter | None]:
        """Per-group counters; a function of one line that counts each hit for its groups:
        True if the line matches, False if not, None if it is not a JSON object (such lines are
        kept and counted as skipped; blank lines are just kept); and the prefilter that picks
        the lines worth parsing."""
        union, owners = self.owners(groups)
        counts: dict[Hashable, int] = dict.fromkeys(groups, 0)
        wanted = [(self.match[t], t) for t in union]

        def matches(line: bytes) -> bool | None:
            record = _record(line)
            if not isinstance(record, dict):
                return record
            hit = set()
            for field, id_type in wanted:
                value = _field(record, field)
                if value is not None:
                    hit.update(owners.get((id_type, normalized(id_type, value)), ()))
            for key in hit:
                counts[key] += 1
            return bool(hit)

        return counts, matches, prefilter(union, JSON_TRIGGERS)


def _arrow_options(match: dict[str, tuple[str, ...]]) -> pa_json.ParseOptions | None:
    """A schema of the match fields only, all text; None when one field lies inside another
    (`user` and `user.email`), which no one schema can say."""
    tree: dict[str, Any] = {}
    for field in match.values():
        node = tree
        for depth, key in enumerate(field):
            last = depth == len(field) - 1
            child = node.get(key)
            if (last and child is not None) or child == "leaf":
                return None
            node = node.setdefault(key, "leaf" if last else {})

    def typed(node: dict[str, Any]) -> list[pa.Field]:
        return [
            pa.field(key, pa.string() if child == "leaf" else pa.struct(typed(child)))
            for key, child in node.items()
        ]

    return pa_json.ParseOptions(
        explicit_schema=pa.schema(typed(tree)), unexpected_field_behavior="ignore"
    )


def _arrow_block(
    block: bytes, match: dict[str, tuple[str, ...]], options: pa_json.ParseOptions
) -> list[Found] | None:
    """The block's records through pyarrow's reader; None when it refuses the block or reads
    another number of records than the block has non-blank lines (then `json.loads` decides)."""
    try:
        # `json.loads` drops a line that is not UTF-8; the reader would not look.
        block.decode("utf-8")
        table = pa_json.read_json(io.BytesIO(block), parse_options=options)
    except (UnicodeDecodeError, pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    pieces = block.split(b"\n")
    lines = len(pieces) - (1 if block.endswith(b"\n") else 0)
    blank = lines - sum(1 for piece in pieces if piece.strip())
    if table.num_rows != lines - blank:
        return None
    columns = []
    for id_type, field in match.items():
        column = table.column(field[0]).combine_chunks()
        for key in field[1:]:
            column = pc.struct_field(column, [column.type.get_field_index(key)])
        columns.append((id_type, column.to_pylist()))
    rows: list[Found] = [
        tuple((id_type, values[row]) for id_type, values in columns if values[row] is not None)
        for row in range(table.num_rows)
    ]
    return rows + [()] * blank


def _record(line: bytes) -> dict | bool | None:
    """The line's JSON object; False for a blank line (kept), None for anything else (kept,
    counted as skipped)."""
    if not line.strip():
        return False
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def _valid_field(text: str) -> bool:
    """A dotted path of at most MAX_PATH_SEGMENTS non-empty keys without surrounding spaces."""
    segments = text.split(".")
    return len(segments) <= MAX_PATH_SEGMENTS and all(s and s == s.strip() for s in segments)


def _field(record: dict, field: tuple[str, ...]) -> str | None:
    value: Any = record
    for key in field:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    if isinstance(value, bool):
        return None
    if isinstance(value, str | int):
        return str(value)
    return None
