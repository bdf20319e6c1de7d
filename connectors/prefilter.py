"""A byte-level prefilter for the line-based file kinds (`jsonl_file`, `text_log`, `csv_file`):
one Aho-Corasick scan (ahocorasick_rs) over blocks of about a MiB finds the few lines that
could hold one of the values; only those are parsed and matched exactly, every other line is
copied as the block it was read in. A pass then costs about one sequential read instead of
one parse per line.

The prefilter is conservative: a line is passed over only if no form the exact matcher accepts
can be in it. What is searched for is, per value, the longest piece of it that any matching
line must hold byte for byte:

- the value's UTF-8 bytes for exact types;
- for case-insensitive types (e-mail), the line's bytes are ASCII-lower-cased and the piece is
  the longest run of ASCII characters of the lower-cased value (a non-ASCII letter may have
  other spellings in the line); the few non-ASCII characters that fold to an ASCII letter
  (KELVIN SIGN, dotted and dotless I, LONG S) make their line a candidate whatever it holds;
- a kind adds `triggers`: bytes after which the raw line no longer shows a value as it is
  (a JSON backslash escape, a CSV quote), whose lines are candidates too.

A value with no usable piece (a phone number, which the exact matcher parses from any
spelling) turns the prefilter off for the call: every line is a candidate.
"""

from collections.abc import Iterable, Iterator
from typing import IO

import ahocorasick_rs

from .base import Deadline
from .files import DEADLINE_EVERY, lines

# Off only to compare with the plain parser (tests); not a setting.
ENABLED = True
BLOCK_BYTES = 1 << 20
# Non-ASCII characters that `str.lower()` or `re`'s case-insensitive matching turn into or
# match with an ASCII letter: dotted and dotless I, long S, Kelvin sign.
CASE_TRIGGERS = tuple(c.encode() for c in "\u0130\u0131\u017f\u212a")


def piece(value: str, *, fold: bool) -> bytes | None:
    """The longest part of `value` every line matching it holds as bytes; None if none."""
    if fold:
        runs = "".join(c if c.isascii() and c != "\n" else "\0" for c in value.lower())
        best = max(runs.split("\0"), key=len)
        return best.encode() if best else None
    try:
        encoded = value.encode()
    except UnicodeError:
        return None
    best = max(encoded.split(b"\n"), key=len)
    return best or None


class Prefilter:
    """Finds the lines of a block that could hold one of the pieces or a trigger."""

    def __init__(self, pieces: Iterable[bytes], *, fold: bool, triggers: Iterable[bytes] = ()):
        self.fold = fold
        # Triggers are looked for apart: in the pieces' automaton their first bytes would stop
        # it from skipping ahead to the pieces' few first bytes (several times slower). ASCII
        # ones one by one (memchr); the others with their own automaton, in blocks that are not
        # all ASCII.
        every = set(triggers) | (set(CASE_TRIGGERS) if fold else set())
        self.automaton = ahocorasick_rs.BytesAhoCorasick(sorted(set(pieces)))
        self.ascii_triggers = tuple(sorted(t for t in every if t.isascii()))
        others = sorted(t for t in every if not t.isascii())
        self.other_triggers = ahocorasick_rs.BytesAhoCorasick(others) if others else None

    @classmethod
    def for_values(
        cls, values: dict[str, list[str]], folded: Iterable[str], triggers: Iterable[bytes] = ()
    ) -> "Prefilter | None":
        """The prefilter for these values by type (`folded`: the case-insensitive types), or
        None when it is switched off or some value has no piece to look for."""
        if not ENABLED:
            return None
        pieces = []
        fold = False
        for id_type, given in values.items():
            for value in given:
                found = piece(value, fold=id_type in folded)
                if found is None:
                    return None
                pieces.append(found)
            fold = fold or id_type in folded
        if not pieces:
            return None
        return cls(pieces, fold=fold, triggers=triggers)

    def candidates(self, block: bytes) -> list[tuple[int, int]]:
        """(start, end) of the lines of `block` that hold a piece or a trigger, in order."""
        haystack = block.lower() if self.fold else block
        starts = [start for _, start, _ in self.automaton.find_matches_as_indexes(haystack)]
        if self.other_triggers is not None and not block.isascii():
            starts += [start for _, start, _ in self.other_triggers.find_matches_as_indexes(block)]
        for trigger in self.ascii_triggers:
            at = block.find(trigger)
            while at >= 0:
                starts.append(at)
                at = block.find(b"\n", at)  # the rest of this line is taken already
                at = -1 if at < 0 else block.find(trigger, at)
        if len(starts) > 1:
            starts.sort()
        found: list[tuple[int, int]] = []
        end = -1
        for start in starts:
            if start < end:
                continue  # in the line already taken (no piece holds a line break)
            first = block.rfind(b"\n", 0, start) + 1
            end = block.find(b"\n", start)
            end = len(block) if end < 0 else end + 1
            found.append((first, end))
        return found


def blocks(source: IO[bytes], deadline: Deadline) -> Iterator[bytes]:
    """The file in blocks of about BLOCK_BYTES that end at a line break (or the file's end)."""
    while block := source.read(BLOCK_BYTES):
        deadline.check()
        if not block.endswith(b"\n"):
            block += source.readline()
        yield block


def runs(
    source: IO[bytes], deadline: Deadline, prefilter: Prefilter | None
) -> Iterator[tuple[bytes, bool]]:
    """The file as (bytes, candidate): single lines that may hold a value (True), and runs of
    whole lines that cannot (False). Without a prefilter, every line is a candidate."""
    if prefilter is None:
        for line in lines(source, deadline):
            yield line, True
        return
    parsed = 0
    for block in blocks(source, deadline):
        at = 0
        for start, end in prefilter.candidates(block):
            if parsed % DEADLINE_EVERY == 0:
                deadline.check()  # candidates may be many lines of a block
            parsed += 1
            if start > at:
                yield block[at:start], False
            yield block[start:end], True
            at = end
        if at < len(block):
            yield block[at:], False
