"""What every file-backed connector shares: paths confined to the configured roots, files
opened without following a swapped-in symlink, and rewrites that are atomic and durable (a
temporary file beside the original with its mode and owner, fsynced, renamed over it, then the
directory fsynced, all under an exclusive lock on the file)."""

import contextlib
import errno
import fcntl
import gzip
import hashlib
import os
import stat
import tempfile
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from django.conf import settings

from core.errors import ApplicationError, NotFound

from .base import ConnectorConfigError, Deadline, TargetUnavailable
from .errors import PathOutsideRoots

# Lines between two looks at the clock.
DEADLINE_EVERY = 1024
LOCK_POLL_SECONDS = 0.05


def digest(h: "hashlib._Hash") -> str:
    return f"sha256:{h.hexdigest()}"


@contextlib.contextmanager
def locked_directory(directory: Path, deadline: Deadline) -> Iterator[int]:
    """An exclusive lock on a directory, for a rewrite of many of its files at once (a
    dataset's shards): yields the directory's descriptor."""
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        _lock(dir_fd, deadline)
        yield dir_fd
    finally:
        os.close(dir_fd)  # releases the lock


@contextlib.contextmanager
def locked_file(path: Path, deadline: Deadline) -> Iterator[int]:
    """An exclusive lock on the file for its rewrite, so two erasures of one file cannot both
    start from the old content (the later rename would undo the earlier one), while the other
    files of its directory (a dataset's shards) are rewritten side by side. A rewrite replaces
    the file by a rename: a lock that was waited for on the file it replaced is let go and
    taken on the file now in its place. Yields the directory's descriptor (for the rename)."""
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        while True:
            fd = _open_no_follow(path.name, dir_fd)
            try:
                _lock(fd, deadline)
                held, now = os.fstat(fd), os.stat(path.name, dir_fd=dir_fd, follow_symlinks=False)
            except BaseException:
                os.close(fd)
                raise
            if (held.st_dev, held.st_ino) == (now.st_dev, now.st_ino):
                break
            os.close(fd)
        try:
            yield dir_fd
        finally:
            os.close(fd)  # releases the lock
    finally:
        os.close(dir_fd)


def _lock(fd: int, deadline: Deadline) -> None:
    """flock(fd) exclusively, polling until the deadline (a blocking flock could not time out)."""
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            deadline.check()
            time.sleep(LOCK_POLL_SECONDS)


@contextlib.contextmanager
def unavailable_on_os_error() -> Iterator[None]:
    try:
        yield
    except (gzip.BadGzipFile, EOFError, zlib.error):
        raise ApplicationError(
            "The target file is not valid gzip.", code="file_unreadable"
        ) from None
    except OSError as error:
        reason = errno.errorcode.get(error.errno or 0, "error")
        raise TargetUnavailable(
            f"The target file could not be read or rewritten ({reason})."
        ) from None


def confined_path(path: str) -> Path:
    """`path` resolved (symlinks followed), refused unless it lies under a configured root;
    a relative path is taken from the first root. Shared by every file-backed connector."""
    roots = [Path(root).resolve() for root in settings.LUP_FILE_ROOTS]
    if not roots:
        raise PathOutsideRoots(
            "No file roots are configured (LUP_FILE_ROOTS).", fields={"path": "outside roots"}
        )
    candidate = Path(path)
    if not candidate.is_absolute():
        candidate = roots[0] / candidate
    resolved = candidate.resolve()
    if not any(resolved != root and resolved.is_relative_to(root) for root in roots):
        raise PathOutsideRoots(
            "The path is not under a configured file root once resolved.",
            fields={"path": "outside roots"},
        )
    return resolved


def _open_no_follow(path: Path | str, dir_fd: int | None = None) -> int:
    """The file opened for reading, refused if it is (now) a symbolic link."""
    try:
        return os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    except FileNotFoundError:
        raise NotFound("The target file does not exist.", code="file_not_found") from None
    except OSError as error:
        if error.errno != errno.ELOOP:
            raise
        raise PathOutsideRoots(
            "The path became a symbolic link.", fields={"path": "outside roots"}
        ) from None


@contextlib.contextmanager
def open_regular(path: Path, *, compressed: bool = False) -> Iterator[tuple[IO[bytes], Any]]:
    """The file for reading, decompressed if `compressed`. O_NOFOLLOW: a symlink swapped in
    after the path was resolved is refused rather than followed."""
    fd = _open_no_follow(path)
    with open(fd, "rb") as raw:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ConnectorConfigError(
                "The path is not a regular file.", fields={"path": "not a file"}
            )
        if not compressed:
            yield raw, st
            return
        with gzip.GzipFile(fileobj=raw, mode="rb") as reader:
            yield reader, st


def temporary_beside(path: Path, st: os.stat_result) -> Any:
    """A new temporary file in `path`'s directory with the original's mode (and owner, when
    allowed), so the renamed file is readable by the same people and no one else."""
    temp = tempfile.NamedTemporaryFile(  # noqa: SIM115 - the caller closes it; kept on success
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False
    )
    try:
        os.fchmod(temp.fileno(), stat.S_IMODE(st.st_mode))
        if (st.st_uid, st.st_gid) != (os.geteuid(), os.getegid()):
            with contextlib.suppress(PermissionError):
                os.fchown(temp.fileno(), st.st_uid, st.st_gid)
    except BaseException:
        temp.close()
        os.unlink(temp.name)
        raise
    return temp


def replace_atomically(temp: str, path: Path, dir_fd: int) -> None:
    """Rename the finished temporary file over `path`, then make the rename durable. If the
    rename fails the temporary file is removed and the original is left as it was."""
    try:
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    os.fsync(dir_fd)


def seal(temp: Any, writer: Any) -> None:
    """Finish a rewrite's temporary file: the gzip trailer when `writer` wraps it, then flush,
    fsync and close, so the rename that follows publishes complete, durable content."""
    if writer is not temp:
        writer.close()  # writes the gzip trailer; the temporary file stays open
    temp.flush()
    os.fsync(temp.fileno())
    temp.close()


def discard(temp: Any) -> None:
    """Close and remove a temporary file that will not replace anything."""
    temp.close()
    with contextlib.suppress(FileNotFoundError):
        os.unlink(temp.name)


def lines(source: IO[bytes], deadline: Deadline) -> Iterator[bytes]:
    """The file's lines, the clock looked at every DEADLINE_EVERY lines."""
    for number, line in enumerate(source):
        if number % DEADLINE_EVERY == 0:
            deadline.check()
        yield line
