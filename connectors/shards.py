"""Sharded targets: one target made of many files (or objects) under a prefix, erased shard by
shard so that the work spreads over every worker.

A kind that can be sharded answers three questions on its connector (see `Connector`):

- `sharded`: whether this config names a prefix and a glob rather than one item;
- `shards() -> list[Shard]`: the shards under the prefix that match the glob, sorted by key,
  each with its size in bytes (so small shards can share a task);
- `shard(key) -> Connector`: a connector of the same kind and settings for that one shard,
  which erases, post-checks and digests it as a target of one item would.

The engine lists once, then fans out; it never needs to know where shards live. Local file kinds
implement it here with `dir` + `glob`; an object store implements the same three with a bucket,
a prefix and its own listing.

Why the glob checks: a glob is a pattern relative to the directory, never absolute and never
holding `..`, and every file it matches is resolved (symbolic links followed) and kept only if
it lies under the directory, itself confined to `LUP_FILE_ROOTS`; so no pattern or link reaches
a file outside them. Hidden files (a name starting with ".") are never shards: a rewrite's
temporary file is one.
"""

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConnectorConfigError, PathOutsideRoots
from .files import confined_path

# Shards a listing may return at most: a target past it is split into several targets (or its
# glob narrowed), rather than one erasure holding a million rows of shard state.
MAX_SHARDS = 100_000
MAX_GLOB_LENGTH = 512


@dataclass(frozen=True, slots=True)
class Shard:
    """One shard: its key (relative to the prefix, "/"-separated) and its size in bytes."""

    key: str
    size: int


def checked_glob(config: dict[str, Any], *, under: str = "dir") -> str:
    """`glob`: a relative pattern under `dir` (or an object store's `prefix`) that cannot climb
    out of it."""
    glob = config.get("glob")
    if not isinstance(glob, str) or not glob or len(glob) > MAX_GLOB_LENGTH:
        raise ConnectorConfigError(
            f"glob is a pattern of names under {under} (e.g. `part-*.jsonl.gz`).",
            fields={"glob": "required"},
        )
    parts = glob.split("/")
    if glob.startswith("/") or "\\" in glob or any(part in ("..", ".") for part in parts):
        raise PathOutsideRoots(
            f"glob is relative to {under} and may not hold `..`, `.` or a leading /.",
            fields={"glob": f"outside {under}"},
        )
    return glob


def glob_pattern(glob: str) -> re.Pattern[str]:
    """A glob as a regular expression over "/"-separated keys, as `Path.glob` reads it: `*`,
    `?` and `[...]` stay within one segment, a `**` segment spans any number of them."""
    parts: list[str] = []
    segments = glob.split("/")
    for position, segment in enumerate(segments):
        last = position == len(segments) - 1
        if segment == "**":
            parts.append(".*" if last else "(?:[^/]+/)*")
            continue
        parts.append(_segment(segment) + ("" if last else "/"))
    return re.compile("".join(parts), re.DOTALL)


def _segment(segment: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(segment):
        char = segment[i]
        end = segment.find("]", i + 2) if char == "[" else -1
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif end != -1:  # a class: `[abc]`, `[0-9]`, `[!x]`
            inner = segment[i + 1 : end]
            negated = inner.startswith("!")
            body = re.escape(inner[1:] if negated else inner).replace("\\-", "-")
            out.append(f"[^/{body}]" if negated else f"[{body}]")
            i = end
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


def confined_directory(directory: str) -> Path:
    """`dir`, resolved and confined to the roots like a file's path."""
    try:
        return confined_path(directory)
    except PathOutsideRoots:
        raise PathOutsideRoots(
            "dir is not under a configured file root once resolved.",
            fields={"dir": "outside roots"},
        ) from None


def local_shards(directory: Path, glob: str) -> list[Shard]:
    """The regular, non-hidden files under `directory` matching `glob`, sorted by key; a match
    that resolves outside `directory` is skipped."""
    found: dict[str, Shard] = {}
    for candidate in directory.glob(glob):
        relative = candidate.relative_to(directory)
        if any(part.startswith(".") for part in relative.parts):
            continue
        resolved = candidate.resolve()
        if not resolved.is_relative_to(directory) or not resolved.is_file():
            continue
        key = relative.as_posix()
        found[key] = Shard(key=key, size=resolved.stat().st_size)
        if len(found) > MAX_SHARDS:
            raise ConnectorConfigError(
                f"glob matches more than {MAX_SHARDS} files: narrow it or split the target.",
                fields={"glob": "too many shards"},
            )
    return [found[key] for key in sorted(found)]


def shard_path(directory: Path, key: str) -> str:
    """The path of shard `key`, refused unless it lies under `directory` once resolved."""
    candidate = directory / key
    resolved = confined_path(str(candidate))
    if not resolved.is_relative_to(directory) or resolved == directory:
        raise PathOutsideRoots(
            "A shard resolves outside the target's directory.", fields={"dir": "outside dir"}
        )
    return str(candidate)
