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
match fields; a line that is not a JSON object yields none.

Not supported: masking (a line is removed, not rewritten), and files another process keeps
appending to (lines appended during the rewrite would be lost; rotate such logs first).

Why the path checks: a target's path is resolved, symlinks followed, and must land under one of
`settings.LUP_FILE_ROOTS`, checked again at every call; so neither `..` nor a symlink can point
a connector at a file outside them.
"""

import json
from collections.abc import Callable, Hashable, Iterator
from typing import Any

import structlog

from . import schema
from .base import Capability, Erased, Found, Groups, GroupScanning
from .files import unavailable_on_os_error
from .matching import normalized, prefilter
from .prefilter import Prefilter, runs
from .rewrite import Edit, FileRewrite

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
        required=["path", "match"],
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
        self.resolved()  # refuse a path outside the roots as soon as the target is configured

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
            done = self.rewrite(path, dir_fd, edits)
        log.info("connector.erase", kind=self.kind, op=op, count=done.count, skipped=done.skipped)
        shared = self.erased(op, done.count, started, done.before, done.after, done.skipped)
        return self.split(shared, counts)

    def scan(self) -> Iterator[Found]:
        """Each line's match-field values, as written (one read of the file)."""
        wanted = [(id_type, field) for id_type, field in self.match.items()]
        with unavailable_on_os_error(), self.open(self.resolved()) as (source, _):
            for line in source:
                record = _record(line)
                if not isinstance(record, dict):
                    yield ()
                    continue
                yield tuple(
                    (id_type, value)
                    for id_type, field in wanted
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
