"""`FileRewrite`: the base of the kinds that erase by rewriting a file under
`settings.LUP_FILE_ROOTS` (`jsonl_file`, `csv_file`, `text_log`, `parquet_file`).

It owns what they share, so each kind keeps only the parsing of its records:

- the `path` config, resolved and confined to the roots at every call (`resolved`), or instead
  `dir` + `glob`: many files of the kind, each a shard (`shards`, `shard`; see
  `connectors.shards`);
- the exclusive lock on the file (`locked`), so two erasures of one file cannot both start
  from the old content, and other files of its directory are erased side by side;
- the rewrite (`rewrite`): the file opened without following a swapped-in symlink, every record
  copied, changed or dropped into a temporary file beside it (same mode and owner), fsynced and
  renamed over the original, then the directory fsynced. Records are held in memory until the
  first one that changes (`Output`): a file with nothing to erase is read once and left as it
  was, no temporary file written, so an erase needs no look first (`erase_reads_once`);
- the digests of the content before and after, and the `Erased` result (`erased`).

A kind hands `rewrite` its records as `Edit`s: what was read, how many items it erased there,
and what to write instead (the same bytes to keep them, None to drop them).
"""

import contextlib
import gzip
import hashlib
import io
import os
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import IO, Any

from . import config as checks
from .base import Connector, Deadline, Erased, Identifiers, LineageName, Located
from .errors import ConnectorConfigError, TargetUnreachable
from .files import (
    confined_path,
    digest,
    discard,
    locked_file,
    open_regular,
    replace_atomically,
    seal,
    temporary_beside,
    unavailable_on_os_error,
)
from .shards import Shard, checked_glob, confined_directory, local_shards, shard_path

# gzip's own default level, and what most writers use: Python's default (9) takes about twice
# the time for a file a few percent smaller, and a rewrite's deflate is most of a pass's work.
GZIP_LEVEL = 6
# The header's XFL byte of a file written at the fastest level (`gzip -1`, pigz, Spark's codec).
GZIP_XFL_FASTEST = 4
# What a rewrite holds in memory, at most, before it starts writing (see `Output`).
HELD_BYTES = 32 << 20


def gzip_level(header: bytes) -> int:
    """The level to rewrite a gzip file at, from its header (its first 10 bytes): the fastest
    when the header says it was written so (a writer that chose speed keeps it), else
    GZIP_LEVEL."""
    return 1 if len(header) >= 10 and header[8] == GZIP_XFL_FASTEST else GZIP_LEVEL


def local_gzip_header(source: IO[bytes]) -> bytes:
    """The header of the local gzip file `source` reads (read where it lies, whatever has
    been read since); nothing for a stream that is not a local file."""
    raw = getattr(source, "fileobj", None)
    try:
        return os.pread(raw.fileno(), 10, 0) if raw is not None else b""
    except (AttributeError, OSError, io.UnsupportedOperation):
        return b""


@dataclass(frozen=True, slots=True)
class Edit:
    """One record of a rewrite: the bytes read, the items erased in them, the bytes written in
    their place (None drops the record), and whether it was kept because it could not be read
    as a record (a line that is not JSON, a row shorter than the header): `Erased.skipped`."""

    read: bytes
    count: int
    written: bytes | None
    skipped: bool = False


@dataclass(frozen=True, slots=True)
class Rewritten:
    """What one rewrite did: items erased, records skipped, and "sha256:<hex>" of the content
    before and after (equal when nothing was erased, and the file was left as it was)."""

    count: int
    skipped: int
    before: str
    after: str


class Digest:
    """ "sha256:<hex>" of the bytes given, hashed on `pool`'s one thread in pieces of about
    PIECE_BYTES: hashlib lets go of the GIL on large inputs, so the two digests of a rewrite
    are computed on another core while this one parses, instead of adding to the pass."""

    PIECE_BYTES = 1 << 20
    # Pieces given to the thread and not hashed yet, at most (bounds the memory held).
    AHEAD = 4

    def __init__(self, pool: ThreadPoolExecutor):
        self.hash = hashlib.sha256()
        self.pool = pool
        self.pending: list[bytes] = []
        self.size = 0
        self.queued: deque[Future] = deque()

    def update(self, data: bytes) -> None:
        self.pending.append(data)
        self.size += len(data)
        if self.size >= self.PIECE_BYTES:
            self._send()

    def result(self) -> str:
        self._send()
        while self.queued:
            self.queued.popleft().result()
        return digest(self.hash)

    def _send(self) -> None:
        if self.pending:
            piece = self.pending[0] if len(self.pending) == 1 else b"".join(self.pending)
            self.pending.clear()
            self.size = 0
            self.queued.append(self.pool.submit(self.hash.update, piece))
        while len(self.queued) > self.AHEAD:
            self.queued.popleft().result()


class Output:
    """A rewrite's output, held in memory until the first record that changes (or HELD_BYTES),
    then written through `opened()` (the temporary file and its writer): a file a batch finds
    nothing in, most of them, is read once and neither compressed nor written. `after` hashes
    what is written, once writing has started."""

    def __init__(self, opened: Callable[[], tuple[Any, IO[bytes]]], after: Digest):
        self.opened = opened
        self.after = after
        self.temp: Any = None
        self.writer: IO[bytes] | None = None
        self.held: list[bytes] = []
        self.size = 0

    def start(self) -> None:
        if self.writer is not None:
            return
        self.temp, self.writer = self.opened()
        for piece in self.held:
            self.writer.write(piece)
            self.after.update(piece)
        self.held.clear()

    def write(self, data: bytes) -> None:
        if self.writer is not None:
            self.writer.write(data)
            self.after.update(data)
            return
        self.held.append(data)
        self.size += len(data)
        if self.size > HELD_BYTES:
            self.start()

    def seal(self) -> None:
        if self.writer is not None:
            seal(self.temp, self.writer)

    def discard(self) -> None:
        self.held.clear()
        if self.temp is not None:
            discard(self.temp)


class FileRewrite(Connector):
    """Base of the kinds that rewrite a file. Subclasses list "path" in `config_keys`, and
    "dir" and "glob" (`schema.sharding`) when the kind can be sharded."""

    batches = True
    file_roots = True
    reach_key = "path"
    # Whether the file is read and written as gzip (see `gzip_config`).
    gzip: bool = False
    # Told each group's count and the file's digests before and after, just before a rewrite
    # takes the original's place: whoever records the erase (a shard's task) keeps them first,
    # so a crash between the two loses no count (`content_digest` tells whether it took place).
    publishing: Callable[[dict[Hashable, int], str, str], None] | None = None
    # Whether reading needs to seek (a Parquet footer): an object store then spools the object
    # to a local file first instead of streaming it.
    random_access: bool = False

    def __init__(self, *, config: dict[str, Any]):
        super().__init__(config=config)
        self.directory = self.config.get("dir")
        if self.directory is not None:
            self.path = ""
            self.directory = checks.text(self.config, "dir", message="dir names a directory.")
            self.glob = checked_glob(self.config)
        else:
            self.path = checks.text(self.config, "path", message="path names the file.")

    def gzip_config(self) -> bool:
        """`gzip`: true or false; by default, true for a name ending in ".gz"."""
        return checks.flag(self.config, "gzip", default=self.path.endswith(".gz"))

    def confine(self) -> None:
        """Refuse a path (or directory) outside the roots as soon as the target is configured."""
        if self.sharded:
            confined_directory(self.directory)
        else:
            self.resolved()

    # --- sharding -------------------------------------------------------------------------------

    @property
    def sharded(self) -> bool:
        return self.directory is not None

    def shards(self) -> list[Shard]:
        if not self.sharded:
            raise self._not_sharded()
        directory = confined_directory(self.directory)
        if not directory.is_dir():
            raise TargetUnreachable(
                "The directory does not exist.", fields={"dir": "directory not found"}
            )
        with unavailable_on_os_error():
            return local_shards(directory, self.glob)

    def shard(self, key: str) -> "FileRewrite":
        """The same kind and settings for one file; `gzip`, unless set, by the shard's name."""
        if not self.sharded:
            raise self._not_sharded()
        path = shard_path(confined_directory(self.directory), key)
        config = {k: v for k, v in self.config.items() if k not in ("dir", "glob")}
        return type(self)(config={**config, "path": path})

    def locate(self, identifiers: Identifiers) -> Located:
        """A sharded target counts shard by shard (a held request's look, say)."""
        if not self.sharded:
            return super().locate(identifiers)
        return Located(
            count=sum(self.shard(s.key).locate(identifiers).count for s in self.shards())
        )

    def _reach(self) -> None:
        """The file exists under the roots and can be read; a kind looks further (`_header`).
        A sharded target: the directory exists, and its first shard is looked at."""
        if self.sharded:
            listed = self.shards()
            if listed:
                self.shard(listed[0].key)._reach()
            return
        path = self.resolved()
        if not path.is_file():
            raise TargetUnreachable(
                "The file does not exist (or is not a regular file).",
                fields={"path": "file not found"},
            )
        with unavailable_on_os_error(), self.open(path) as (source, _):
            self._look(source)

    def lineage_dataset(self) -> LineageName:
        """The file, or for `dir` and `glob` the directory (a job writes its part files
        there and names the folder)."""
        if self.sharded:
            return ("file", str(confined_directory(self.directory)))
        return ("file", str(self.resolved()))

    def _look(self, source: IO[bytes]) -> None:
        """Read what the config names in the opened file (a header's columns)."""

    def resolved(self) -> Path:
        """The target's real path, refused unless it lies under a configured root."""
        if self.sharded:  # the engine erases a sharded target through `shard(key)`
            raise ConnectorConfigError(
                "A sharded target is erased shard by shard.", fields={"dir": "sharded"}
            )
        return confined_path(self.path)

    def compressed(self, path: Path) -> bool:
        return self.gzip

    def open(self, path: Path) -> contextlib.AbstractContextManager[tuple[IO[bytes], Any]]:
        return open_regular(path, compressed=self.compressed(path))

    @contextlib.contextmanager
    def locked(self, path: Path, deadline: Deadline) -> Iterator[int]:
        """The file's lock (`locked_file`), I/O failures answered as `target_unavailable`."""
        with unavailable_on_os_error(), locked_file(path, deadline) as dir_fd:
            yield dir_fd

    def erase_reads_once(self) -> bool:
        return True

    def content_digest(self) -> str:
        """The digest an erase reports as `before` for the file as it is now: of its content,
        decompressed, as the rewrite reads it."""
        with unavailable_on_os_error(), self.open(self.resolved()) as (source, _):
            content = hashlib.sha256()
            while chunk := source.read(1 << 20):
                content.update(chunk)
        return digest(content)

    def rewrite(
        self,
        path: Path,
        dir_fd: int,
        edits: Callable[[IO[bytes]], Iterable[Edit]],
        counts: Mapping[Hashable, int] | None = None,
    ) -> Rewritten:
        """Rewrite `path` (locked by `locked`) with the records `edits` makes
        of it; the original is replaced only if some record erased something, and a file
        with nothing to erase is read once and not written at all (`Output`). `counts`: each
        group's count, filled in by `edits`, for `publishing`."""
        with self.open(path) as (source, st), ThreadPoolExecutor(1) as hashing:
            before = Digest(hashing)
            output = Output(partial(self._writer, path, st, source), Digest(hashing))
            count = skipped = 0
            try:
                for edit in edits(source):
                    before.update(edit.read)
                    skipped += edit.skipped
                    if edit.count:
                        count += edit.count
                        output.start()
                    if edit.written is not None:
                        output.write(edit.written)
                output.seal()
            except BaseException:
                output.discard()
                raise
            first = before.result()
            second = output.after.result() if count else first
        if not count:
            output.discard()
            return Rewritten(0, skipped, first, first)
        try:
            self.announce(counts or {}, first, second)
        except BaseException:
            output.discard()
            raise
        self.publish(output.temp.name, path, dir_fd)
        return Rewritten(count, skipped, first, second)

    def _writer(self, path: Any, st: Any, source: IO[bytes]) -> tuple[Any, IO[bytes]]:
        """The rewrite's temporary file (`spool`) and what writes into it: gzip over it when
        the file is compressed, at the level its own header asks for."""
        temp = self.spool(path, st)
        if not self.compressed(path):
            return temp, temp
        writer = gzip.GzipFile(
            filename=path.name,
            mode="wb",
            fileobj=temp,
            compresslevel=gzip_level(self.gzip_header(path, source)),
            mtime=int(st.st_mtime),
        )
        return temp, writer

    def announce(self, counts: Mapping[Hashable, int], before: str, after: str) -> None:
        """Hand `publishing` what a rewrite about to be published did."""
        if self.publishing is not None:
            self.publishing(dict(counts), before, after)

    # --- where a rewrite is spooled and how it is published: overridden for object stores ----

    def gzip_header(self, path: Any, source: IO[bytes]) -> bytes:
        """The gzip header of the file being rewritten (`path`, read through `source`)."""
        return local_gzip_header(source)

    def spool(self, path: Any, st: Any) -> Any:
        """A new, empty, named temporary file for the rewrite of `path` (`st` is what `open`
        gave with the source): beside the file, with its mode and owner."""
        return temporary_beside(path, st)

    def publish(self, temp: str, path: Any, dir_fd: int | None) -> None:
        """Put the finished temporary file (sealed) in the place of `path`: an atomic rename,
        made durable; the temporary file is gone afterwards, whatever happens."""
        replace_atomically(temp, path, dir_fd)

    def erased(
        self, op: str, count: int, started: datetime, before: str, after: str, skipped: int = 0
    ) -> Erased:
        return Erased(
            op=op if count else "none",  # type: ignore[arg-type]
            method=self.erase_method,
            count=count,
            started_at=started,
            completed_at=self._now(),
            before=before,
            after=after,
            skipped=skipped,
        )
