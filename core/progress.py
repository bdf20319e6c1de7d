"""Progress lines for long management commands: how much is done, how fast, for how long.

A line says counts and rates only (`consent_import: 120,000 lines, 3.1 MB in 12 s (10,000
lines/s)`), never what was read: the lines of an import or an upload are identifiers.
"""

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from django.core.management.base import CommandError


def _count(value: int) -> str:
    return f"{value:,}"


_UNITS = ("bytes", "kB", "MB", "GB", "TB")


def _size(nbytes: int) -> str:
    value, exponent = float(nbytes), 0
    while value >= 1000 and exponent < len(_UNITS) - 1:
        value /= 1000
        exponent += 1
    return f"{nbytes} bytes" if exponent == 0 else f"{value:.1f} {_UNITS[exponent]}"


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, seconds = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class Progress:
    """Count units of work and write a line at most every `interval` seconds.

    `write` receives each line (a command passes its stderr; None keeps it quiet, as `-v 0`
    asks). `total`, when known, adds a percentage. The clock is a class attribute so tests
    can move it.
    """

    clock: Callable[[], float] = staticmethod(time.monotonic)

    def __init__(
        self,
        *,
        label: str,
        write: Callable[[str], None] | None,
        unit: str = "lines",
        total: int | None = None,
        interval: float = 5.0,
    ):
        self.label = label
        self.write = write
        self.unit = unit
        self.total = total
        self.interval = interval
        self.done = 0
        self.nbytes = 0
        self.started = self.clock()
        self._last = self.started

    def advance(self, count: int = 1, *, nbytes: int = 0) -> None:
        self.update(self.done + count, nbytes=self.nbytes + nbytes)

    def update(self, done: int, *, nbytes: int | None = None) -> None:
        """Set how many units are done so far; writes a line when one is due."""
        self.done = done
        if nbytes is not None:
            self.nbytes = nbytes
        if self.write is None:
            return
        now = self.clock()
        if now - self._last >= self.interval:
            self._last = now
            self.write(self.line(now))

    def note(self, text: str) -> None:
        """A line about the phase the job is in (e.g. "writing"), with the counts so far."""
        if self.write is not None:
            self.write(f"{self.line(self.clock())}; {text}")

    def finish(self) -> None:
        if self.write is not None:
            self.write(f"{self.line(self.clock())}, done")

    def line(self, now: float) -> str:
        elapsed = max(now - self.started, 0.0)
        text = f"{self.label}: {_count(self.done)}"
        if self.total is not None:
            text += f" of {_count(self.total)}"
        text += f" {self.unit}"
        if self.nbytes:
            text += f", {_size(self.nbytes)}"
        text += f" in {_duration(elapsed)}"
        extras = []
        if self.total:
            extras.append(f"{100 * self.done / self.total:.0f}%")
        if elapsed > 0:
            extras.append(f"{_count(round(self.done / elapsed))} {self.unit}/s")
        return f"{text} ({', '.join(extras)})" if extras else text


class CountingReader:
    """A binary stream that tells a `Progress` about each line read through `readline`.

    The import and upload services read their input with `readline(limit)`; a line longer than
    the limit arrives in pieces and counts once, when its newline (or the end) is read.
    """

    def __init__(
        self, stream: IO[bytes], progress: Progress, *, at_end: Callable[[], None] | None = None
    ):
        self._stream = stream
        self._progress = progress
        self._at_end = at_end
        self._partial = False

    def readline(self, size: int = -1) -> bytes:
        data = self._stream.readline(size)
        if not data:
            if self._partial:
                self._progress.advance(1)
                self._partial = False
            if self._at_end is not None:
                self._at_end()
                self._at_end = None
            return data
        if data.endswith(b"\n"):
            self._progress.advance(1, nbytes=len(data))
            self._partial = False
        else:
            self._progress.advance(0, nbytes=len(data))
            self._partial = True
        return data

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self._progress.advance(data.count(b"\n"), nbytes=len(data))
        return data


def command_progress(command, options: dict, *, label: str, **kwargs) -> Progress:
    """A `Progress` writing to a management command's stderr, or silent with `-v 0`.

    Takes the interval from the command's `--progress-every` option when it has one."""

    def write(line: str) -> None:
        # Plain text: stderr's default style is the error colour, and these lines are not errors.
        command.stderr.write(line, style_func=lambda text: text)

    kwargs.setdefault("interval", options.get("progress_every", 5.0))
    return Progress(
        label=label, write=None if options.get("verbosity", 1) == 0 else write, **kwargs
    )


def add_progress_argument(parser) -> None:
    parser.add_argument(
        "--progress-every",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="seconds between progress lines on stderr (default 5; -v 0 turns them off)",
    )


@contextmanager
def open_input(path: str) -> Iterator[IO[bytes]]:
    """The file at `path` (standard input for `-`) as bytes; a CommandError naming the file
    and the system's reason when it cannot be read."""
    if path == "-":
        yield sys.stdin.buffer
        return
    try:
        with Path(path).open("rb") as handle:
            yield handle
    except OSError as exc:
        raise CommandError(f"{path}: {exc.strerror}") from None
