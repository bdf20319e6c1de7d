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
each. The original's mode is kept. Lines that are not JSON objects are kept untouched and
counted as skipped.

Not supported: masking (a line is removed, not rewritten), and files another process keeps
appending to (lines appended during the rewrite would be lost; rotate such logs first).

Why the path checks: a target's path is resolved, symlinks followed, and must land under one of
`settings.LUP_FILE_ROOTS`, checked again at every call; so neither `..` nor a symlink can point
a connector at a file outside them.
"""

import contextlib
import gzip
import hashlib
import json
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import IO, Any

import structlog

from .base import (
    Capability,
    Connector,
    ConnectorConfigError,
    Erased,
    Groups,
    Identifiers,
    Located,
    Verified,
)
from .files import (
    DEADLINE_EVERY,
    confined_path,
    digest,
    discard,
    locked_directory,
    open_regular,
    replace_atomically,
    seal,
    temporary_beside,
    unavailable_on_os_error,
)
from .matching import normalized

log = structlog.get_logger(__name__)

MAX_PATH_SEGMENTS = 16


class JsonlFile(Connector):
    kind = "jsonl_file"
    config_keys = frozenset({"path", "match", "gzip"})
    batches = True
    capabilities = frozenset({Capability.LOCATE, Capability.DELETE, Capability.VERIFY})
    erase_method = "jsonl_atomic_rewrite"
    verify_method = "jsonl_rescan"

    def __init__(self, *, config: dict[str, Any]):
        super().__init__(config=config)
        path = self.config.get("path")
        if not isinstance(path, str) or not path.strip() or "\x00" in path:
            raise ConnectorConfigError("path names the file.", fields={"path": "required"})
        self.path = path
        fields = self._match_config(self.config, _valid_field, "field path")
        self.match = {id_type: tuple(field.split(".")) for id_type, field in fields.items()}
        self.id_types = frozenset(self.match)
        compressed = self.config.get("gzip")
        if compressed is not None and not isinstance(compressed, bool):
            raise ConnectorConfigError("gzip is true or false.", fields={"gzip": "not a boolean"})
        self.gzip = path.endswith(".gz") if compressed is None else compressed
        self.resolved()  # refuse a path outside the roots as soon as the target is configured

    # --- abilities ------------------------------------------------------------------------------

    def locate(self, identifiers: Identifiers) -> Located:
        self.require(Capability.LOCATE)
        count = self._count(identifiers)
        log.info("connector.locate", kind=self.kind, count=count)
        return Located(count=count)

    def verify(self, identifiers: Identifiers) -> Verified:
        self.require(Capability.VERIFY)
        remaining = self._count(identifiers)
        log.info("connector.verify", kind=self.kind, remaining=remaining)
        return Verified(method=self.verify_method, remaining=remaining, at=self._now())

    def erase(self, identifiers: Identifiers, *, op: str = "delete") -> Erased:
        self.require(Capability.for_op(op))
        return self._erase(self._matcher(self.usable(identifiers)), op)

    def erase_groups(self, groups: Groups, *, op: str = "delete") -> dict[Hashable, Erased]:
        """Erase several requests' lines in one pass over the file; each group gets its own
        count and the shared before/after digests. A line holding two groups' subjects counts
        for both (it is removed once)."""
        self.require(Capability.for_op(op))
        counts, matches = self._group_matcher(groups)
        return self.split(self._erase(matches, op), counts)

    def verify_groups(self, groups: Groups) -> dict[Hashable, Verified]:
        """The post-check of a batch: one read of the file, a count per group."""
        self.require(Capability.VERIFY)
        counts, matches = self._group_matcher(groups)
        self._scan(matches)
        log.info("connector.verify", kind=self.kind, groups=len(counts))
        return self.checked(self.verify_method, counts)

    def _group_matcher(self, groups: Groups):
        """Per-group counters, and a line matcher that counts each hit for its groups."""
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

        return counts, matches

    def _erase(self, matches: Callable[[bytes], bool | None], op: str) -> Erased:
        deadline = self.deadline()
        started = self._now()
        path = self.resolved()
        with unavailable_on_os_error(), locked_directory(path.parent, deadline) as dir_fd:
            with self._open(path) as (source, st):
                removed, skipped, before, after, temp = self._rewrite(
                    source, st, path, matches, deadline
                )
            if temp is not None:
                replace_atomically(temp, path, dir_fd)
        log.info("connector.erase", kind=self.kind, op=op, count=removed, skipped=skipped)
        return Erased(
            op=op if removed else "none",
            method=self.erase_method,
            count=removed,
            started_at=started,
            completed_at=self._now(),
            before=before,
            after=after,
            skipped=skipped,
        )

    # --- paths ----------------------------------------------------------------------------------

    def resolved(self) -> Path:
        """The target's real path, refused unless it lies under a configured root."""
        return confined_path(self.path)

    def _open(self, path: Path) -> contextlib.AbstractContextManager[tuple[IO[bytes], Any]]:
        return open_regular(path, compressed=self.gzip)

    # --- scanning -------------------------------------------------------------------------------

    def _count(self, identifiers: Identifiers) -> int:
        return self._scan(self._matcher(self.usable(identifiers)))

    def _scan(self, matches: Callable[[bytes], bool | None]) -> int:
        """Read the file once; the number of matching lines."""
        deadline = self.deadline()
        count = 0
        with unavailable_on_os_error(), self._open(self.resolved()) as (source, _):
            for number, line in enumerate(source):
                if number % DEADLINE_EVERY == 0:
                    deadline.check()
                if matches(line) is True:
                    count += 1
        return count

    def _rewrite(self, source, st, path, matches, deadline):
        """Copy the lines to keep into a temporary file beside `path`, hashing both contents.
        Returns (removed, skipped, before, after, temp path or None when nothing matched)."""
        before, after = hashlib.sha256(), hashlib.sha256()
        removed = skipped = 0
        temp = temporary_beside(path, st)
        try:
            writer = (
                gzip.GzipFile(filename=path.name, mode="wb", fileobj=temp, mtime=int(st.st_mtime))
                if self.gzip
                else temp
            )
            for number, line in enumerate(source):
                if number % DEADLINE_EVERY == 0:
                    deadline.check()
                before.update(line)
                matched = matches(line)
                if matched is True:
                    removed += 1
                    continue
                if matched is None:
                    skipped += 1
                writer.write(line)
                after.update(line)
            seal(temp, writer)
            if not removed:
                discard(temp)
                return 0, skipped, digest(before), digest(before), None
            return removed, skipped, digest(before), digest(after), temp.name
        except BaseException:
            discard(temp)
            raise

    def _matcher(self, values: dict[str, list[str]]) -> Callable[[bytes], bool | None]:
        """A function of one line: True if it matches, False if not, None if it is not a JSON
        object (such lines are kept and counted as skipped; blank lines are just kept)."""
        wanted = [(self.match[t], t, frozenset(v)) for t, v in values.items()]

        def matches(line: bytes) -> bool | None:
            record = _record(line)
            if not isinstance(record, dict):
                return record
            for field, id_type, accepted in wanted:
                value = _field(record, field)
                if value is not None and normalized(id_type, value) in accepted:
                    return True
            return False

        return matches


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
