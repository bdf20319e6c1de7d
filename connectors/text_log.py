"""`text_log`: identifiers inside the lines of a plain-text log, plain or gzip, with its rotations.

Config:

    {
        "path": "logs/app.log",                 # absolute, or relative to the first root
        "id_types": ["email", "phone", "user_id"],
        "rotated": true,                        # optional, default false: with app.log.1, ...
        "mode": "redact",                       # optional, default "redact"; or "drop_line"
        "timeout_seconds": 30,
    }

The target is the file, and with `rotated` also its rotated siblings: files in the same
directory named like it plus a numeric suffix and an optional ".gz" (`app.log.1`,
`app.log.2.gz`, ...), taken in the order main file, then by increasing number. A name ending in
".gz" is read and written as gzip.

Matching: the values are already normalized by the caller. One regular expression is compiled per
call for all the values of all the subjects given, each value `re.escape`d, so one pass over each
file serves a whole batch. Boundaries are lookarounds over ASCII characters only, so that an
identifier written directly against Khmer, Thai or Vietnamese text (scripts often written without
spaces) is still found:

- email: case-insensitive; not preceded by `[A-Za-z0-9_.+-]`, not followed by `[A-Za-z0-9_+-]`
  nor by a "." that continues the domain (`a@example.org` matches neither inside
  `ba@example.org` nor `a@example.org.kh`, but does match before a full stop ending a sentence);
- phone: exact; the E.164 form (`+85512345678`) and the same digits without the "+"
  (`85512345678`), not preceded or followed by an ASCII digit. Other spellings (spaces, dashes,
  the national form with a trunk prefix such as `012 345 678`) are NOT matched;
- any other type (user_id, ...): exact; not preceded or followed by `[A-Za-z0-9_]`.

Modes: "redact" replaces each occurrence with `[erased]` and keeps the line; "drop_line" removes
every line holding an occurrence. `locate` and `verify` count occurrences in "redact" mode and
matching lines in "drop_line" mode; `erase` returns the same count. In "drop_line" mode the
connector can only delete; in "redact" mode it accepts both "delete" and "mask" (the identifier
itself is removed from the text, the rest of the line is kept) and reports `op="mask"`.

Lines are handled as bytes. A byte prefilter (`connectors.prefilter`) picks the lines that may
hold a value; only those are decoded as UTF-8 with "surrogateescape" and matched: lines
without a match are copied byte for byte, and non-UTF-8 bytes in a redacted line survive
unchanged.

Each file that changes is rewritten atomically, like `jsonl_file`: a temporary file in the same
directory (same mode), fsynced, renamed over the original, then the directory fsynced, each under
an exclusive lock on that file. Files are rewritten one after another: a crash between two
files leaves some rewritten and others not, and a retry finishes the rest (erased values no
longer match).

`Erased.before` / `after`: without `rotated`, "sha256:<hex>" of the main file's decompressed
content (as for `jsonl_file`). With `rotated`, a combined digest of all the files in order:
"sha256:<hex>" of the text made of one line `<file name> sha256:<hex of its decompressed
content>\\n` per file.

Paths: the main file and every sibling are resolved (symlinks followed) and must lie under
`settings.LUP_FILE_ROOTS` (`confined_path`); siblings must also resolve into the main file's
directory. Files are opened with O_NOFOLLOW.

Scanning (`scan`, for the subject index), for a log whose `id_types` are only `email` and
`phone` (no pattern finds an arbitrary id in free text, and an index missing some subjects
would drop the target from their plans): every line of every file is searched for ASCII e-mail
addresses and for E.164 numbers with or without "+" (given the "+"), with the boundaries above.
An address in another script is not found.

Not supported: files another process keeps appending to (lines appended during the rewrite would
be lost); an identifier that is itself the text "erased" next to brackets would match the
redaction marker again.
"""

import functools
import hashlib
import os
import re
from collections.abc import Callable, Hashable, Iterator
from pathlib import Path
from typing import Any

import structlog

from . import config as checks
from . import schema
from .base import (
    Capability,
    ConnectorConfigError,
    Erased,
    Found,
    Groups,
    Identifiers,
    Located,
    Verified,
)
from .errors import PathOutsideRoots
from .files import confined_path, digest, unavailable_on_os_error
from .prefilter import Prefilter, runs
from .rewrite import Edit, FileRewrite

log = structlog.get_logger(__name__)

MODES = ("redact", "drop_line")
REDACTED = "[erased]"
ROTATED_SUFFIX = re.compile(r"\.([0-9]+)(\.gz)?")

# Boundaries per identifier type (ASCII only, see the module docstring).
_EMAIL_BEFORE = r"(?<![A-Za-z0-9_.+\-])"
_EMAIL_AFTER = r"(?![A-Za-z0-9_+\-]|\.[A-Za-z0-9_\-])"
_DIGIT_BEFORE = r"(?<![0-9])"
_DIGIT_AFTER = r"(?![0-9])"
_WORD_BEFORE = r"(?<![A-Za-z0-9_])"
_WORD_AFTER = r"(?![A-Za-z0-9_])"
# What `scan` finds in free text: the types it can find, and how (bytes, ASCII only).
SCANNABLE = frozenset({"email", "phone"})
_FIND = {
    "email": re.compile(
        rb"(?<![A-Za-z0-9_.+\-])[A-Za-z0-9_.+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+"
        rb"(?![A-Za-z0-9_+\-]|\.[A-Za-z0-9_\-])"
    ),
    "phone": re.compile(rb"(?<![0-9])\+?[1-9][0-9]{7,14}(?![0-9])"),
}


class TextLog(FileRewrite):
    kind = "text_log"
    config_schema = schema.config(
        description="Identifiers inside the lines of a plain-text log, plain or gzip, with "
        "its rotated siblings: redacted to `[erased]`, or their lines dropped.",
        properties={
            "path": schema.path("The log file (a name ending in .gz is gzip)."),
            **schema.sharding("the log files"),
            "id_types": schema.id_types(
                "The identifier types looked for in the text (email, phone: E.164 with or "
                "without +; any other: the exact value)."
            ),
            "rotated": {
                "type": "boolean",
                "default": False,
                "description": "Also the rotated siblings in the same folder "
                "(app.log.1, app.log.2.gz, ...).",
            },
            "mode": {
                "type": "string",
                "enum": list(MODES),
                "default": "redact",
                "description": '"redact" replaces each identifier with [erased] and keeps '
                'the line; "drop_line" removes every line holding one (delete only).',
            },
        },
        required=["id_types"],
        one_of=[["path"], ["dir"]],
        together=[["dir", "glob"]],
        example={"path": "logs/app.log", "id_types": ["email", "user_id"], "rotated": True},
    )
    capabilities = frozenset(
        {Capability.LOCATE, Capability.DELETE, Capability.MASK, Capability.VERIFY, Capability.SCAN}
    )
    verify_method = "text_log_rescan"
    mask_needs = 'mode "redact"'

    def __init__(self, *, config: dict[str, Any]):
        super().__init__(config=config)
        self.id_types = frozenset(
            checks.names(
                self.config,
                "id_types",
                message="id_types lists the identifier types found in the log.",
            )
        )
        self.rotated = checks.flag(self.config, "rotated", default=False)
        mode = self.config.get("mode", "redact")
        if mode not in MODES:
            raise ConnectorConfigError(
                "mode is 'redact' or 'drop_line'.", fields={"mode": "unknown"}
            )
        self.mode = mode
        if mode == "drop_line":
            self.capabilities = self.capabilities - {Capability.MASK}
        if not self.id_types <= SCANNABLE:
            self.capabilities = self.capabilities - {Capability.SCAN}
        self.erase_method = f"text_log_{mode}_atomic_rewrite"
        if self.sharded and self.rotated:
            # The glob names every file; rotations would be read again by their neighbours.
            raise ConnectorConfigError(
                "rotated is for one log's path; with dir, the glob names the rotations too.",
                fields={"rotated": "not with dir"},
            )
        if self.sharded:
            self.confine()
        else:
            self.files()  # refuse a path outside the roots as soon as the target is configured

    # --- abilities ------------------------------------------------------------------------------

    def locate(self, identifiers: Identifiers) -> Located:
        if self.sharded:
            return super().locate(identifiers)
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
        return self._erase(self.usable(identifiers))

    def erase_groups(self, groups: Groups, *, op: str = "delete") -> dict[Hashable, Erased]:
        """Erase several requests' identifiers in one pass over the files; each group gets the
        count of its own occurrences (or lines) and the shared digests."""
        self.require(Capability.for_op(op))
        union, owners = self.owners(groups)
        tally = _Tally(groups, owners, per_line=self.mode == "drop_line")
        return self.split(self._erase(union, tally), tally.counts)

    def verify_groups(self, groups: Groups) -> dict[Hashable, Verified]:
        self.require(Capability.VERIFY)
        union, owners = self.owners(groups)
        tally = _Tally(groups, owners, per_line=self.mode == "drop_line")
        self._scan(union, tally)
        log.info("connector.verify", kind=self.kind, groups=len(tally.counts))
        return self.checked(self.verify_method, tally.counts)

    def scan(self) -> Iterator[Found]:
        """Each line's e-mail addresses and phone numbers (see the module docstring)."""
        self.require(Capability.SCAN)
        finders = [(id_type, _FIND[id_type]) for id_type in sorted(self.id_types)]
        with unavailable_on_os_error():
            for path in self.files():
                with self.open(path) as (source, _):
                    for line in source:
                        yield tuple(
                            (id_type, _found(id_type, match.group()))
                            for id_type, finder in finders
                            for match in finder.finditer(line)
                        )

    def _erase(self, values: dict[str, list[str]], tally: "_Tally | None" = None) -> Erased:
        pattern, sieve = _lazy(self.pattern, values), self.sieve(values)
        deadline = self.deadline()
        started = self._now()
        done = "delete" if self.mode == "drop_line" else "mask"

        def edits(source) -> Iterator[Edit]:
            for line, candidate in runs(source, deadline, sieve):
                if not candidate:
                    yield Edit(line, 0, line)
                    continue
                count, new = self._apply(pattern(), line, tally)
                yield Edit(line, count, new)

        total = 0
        befores: list[tuple[str, str]] = []
        afters: list[tuple[str, str]] = []
        with unavailable_on_os_error():
            files = self.files()
            for path in files:
                deadline.check()
                with self.locked(path, deadline) as dir_fd:
                    rewritten = self.rewrite(path, dir_fd, edits, tally and tally.counts)
                total += rewritten.count
                befores.append((path.name, rewritten.before))
                afters.append((path.name, rewritten.after))
        log.info("connector.erase", kind=self.kind, op=done, count=total, files=len(files))
        return self.erased(done, total, started, self._combined(befores), self._combined(afters))

    # --- paths ----------------------------------------------------------------------------------

    def files(self) -> list[Path]:
        """The main file, then (with `rotated`) its siblings by increasing number; every one
        resolved and refused unless under a root and in the main file's directory."""
        main = confined_path(self.path)
        if not self.rotated:
            return [main]
        numbered = []
        try:
            names = os.listdir(main.parent)
        except FileNotFoundError:
            names = []
        for name in names:
            if not name.startswith(main.name):
                continue
            suffix = ROTATED_SUFFIX.fullmatch(name[len(main.name) :])
            if suffix is None:
                continue
            sibling = confined_path(str(main.parent / name))
            if sibling.parent != main.parent:
                raise PathOutsideRoots(
                    "A rotated file resolves outside the log's directory.",
                    fields={"path": "outside roots"},
                )
            numbered.append((int(suffix.group(1)), name, sibling))
        numbered.sort(key=lambda item: (item[0], item[1]))
        files = [main]
        for _, _, sibling in numbered:
            if sibling not in files:  # a sibling linked to another one is handled once
                files.append(sibling)
        return files

    # --- matching -------------------------------------------------------------------------------

    @staticmethod
    def pattern(values: dict[str, list[str]]) -> "re.Pattern[str]":
        """One expression for every value of every type given (see the module docstring)."""
        parts = []
        for id_type, given in values.items():
            if id_type == "email":
                body = _alternation(given)
                parts.append(f"{_EMAIL_BEFORE}(?i:{body}){_EMAIL_AFTER}")
            elif id_type == "phone":
                forms = []
                for value in given:
                    forms.append(value)
                    if value.startswith("+") and len(value) > 1:
                        forms.append(value[1:])
                parts.append(f"{_DIGIT_BEFORE}(?:{_alternation(forms)}){_DIGIT_AFTER}")
            else:
                parts.append(f"{_WORD_BEFORE}(?:{_alternation(given)}){_WORD_AFTER}")
        return re.compile("|".join(parts))

    @staticmethod
    def sieve(values: dict[str, list[str]]) -> Prefilter | None:
        """The byte prefilter for `pattern`'s values: e-mail addresses case-insensitively,
        phone numbers by their digits (found in both forms), anything else as it is."""
        forms = {
            id_type: [v[1:] if id_type == "phone" and v[:1] == "+" and v[1:] else v for v in given]
            for id_type, given in values.items()
        }
        return Prefilter.for_values(forms, folded={"email"})

    def _apply(
        self, pattern: "re.Pattern[str]", line: bytes, tally: "_Tally | None" = None
    ) -> tuple[int, bytes | None]:
        """(count, new line or None to drop it); the line object itself when unchanged. With a
        tally, every occurrence is also counted for the groups whose value it is."""
        text = line.decode("utf-8", "surrogateescape")
        if self.mode == "drop_line":
            if not pattern.search(text):
                return 0, line
            if tally is not None:
                tally.add([m.group() for m in pattern.finditer(text)])
            return 1, None
        if tally is None:
            replaced, count = pattern.subn(REDACTED, text)
        else:
            hits: list[str] = []
            replaced, count = pattern.subn(lambda m: hits.append(m.group()) or REDACTED, text)
            tally.add(hits)
        if not count:
            return 0, line
        return count, replaced.encode("utf-8", "surrogateescape")

    # --- scanning -------------------------------------------------------------------------------

    def _count(self, identifiers: Identifiers) -> int:
        return self._scan(self.usable(identifiers))

    def _scan(self, values: dict[str, list[str]], tally: "_Tally | None" = None) -> int:
        """Read every file once; the number of occurrences (or matching lines)."""
        pattern, sieve = _lazy(self.pattern, values), self.sieve(values)
        deadline = self.deadline()
        count = 0
        with unavailable_on_os_error():
            for path in self.files():
                with self.open(path) as (source, _):
                    for line, candidate in runs(source, deadline, sieve):
                        if candidate:
                            count += self._apply(pattern(), line, tally)[0]
        return count

    def compressed(self, path: Path) -> bool:
        """A name ending in ".gz" is read and written as gzip."""
        return path.name.endswith(".gz")

    def _combined(self, digests: list[tuple[str, str]]) -> str:
        if not self.rotated:
            return digests[0][1]
        combined = hashlib.sha256()
        for name, value in digests:
            combined.update(f"{name} {value}\n".encode("utf-8", "surrogateescape"))
        return digest(combined)


class _Tally:
    """Counts, per group of a batch, the occurrences (or, per line, the lines) of its values.
    A matched text is mapped back to its groups the way `pattern` matched it: e-mail addresses
    case-insensitively, phone numbers with or without the "+", anything else exactly."""

    def __init__(self, groups: Groups, owners: dict[tuple[str, str], list], *, per_line: bool):
        self.counts: dict[Hashable, int] = dict.fromkeys(groups, 0)
        self.per_line = per_line
        self.by_text: dict[tuple[str, str], set] = {}
        for (id_type, value), keys in owners.items():
            if id_type == "email":
                forms = [("email", value.lower())]
            elif id_type == "phone":
                forms = [("text", value)] + ([("text", value[1:])] if value[:1] == "+" else [])
            else:
                forms = [("text", value)]
            for form in forms:
                self.by_text.setdefault(form, set()).update(keys)

    def owners_of(self, text: str) -> set:
        return self.by_text.get(("email", text.lower()), set()) | self.by_text.get(
            ("text", text), set()
        )

    def add(self, texts: list[str]) -> None:
        if self.per_line:
            for key in set().union(*(self.owners_of(t) for t in texts)):
                self.counts[key] += 1
            return
        for text in texts:
            for key in self.owners_of(text):
                self.counts[key] += 1


def _lazy(pattern: Callable[[dict], "re.Pattern[str]"], values: dict) -> Callable:
    """`pattern(values)`, compiled at the first line the prefilter lets through (a post-check
    that finds nothing never builds the expression of a thousand values)."""
    return functools.cache(lambda: pattern(values))


def _alternation(values: list[str]) -> str:
    """The values as one expression, factored into a trie (`a@x.org|a@y.org` becomes
    `a@(?:x|y)\\.org`): the engine then follows one branch per character instead of trying
    every value at every position, which keeps a batch of a thousand values fast. Where one
    value is a prefix of another, the longer is tried first (a greedy optional suffix), so a
    value is never cut short."""
    trie: dict = {}
    for value in values:
        node = trie
        for char in value:
            node = node.setdefault(char, {})
        node[""] = {}  # a value ends here
    return _branch(trie)


def _branch(node: dict) -> str:
    branches = [re.escape(char) + _branch(child) for char, child in sorted(node.items()) if char]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else f"(?:{'|'.join(branches)})"
    return f"(?:{body})?" if "" in node else body


def _found(id_type: str, value: bytes) -> str:
    text = value.decode("ascii")
    return f"+{text}" if id_type == "phone" and not text.startswith("+") else text
