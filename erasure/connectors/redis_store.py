"""`redis`: a subject's keys, hash fields, set and sorted-set members and stream entries.

Config:

    {
        "url_env": "CACHE_REDIS_URL",           # env var holding the redis:// or rediss:// URL
        "keys": ["session:{user_id}", "chat:{user_id}:*"],
        "hash_fields": [{"key": "profiles", "field": "{email}"}],
        "set_members": [{"key": "newsletter", "member": "{email}"}],
        "zset_members": [{"key": "leaderboard", "member": "{user_id}"}],
        "stream_entries": [{"key": "events", "field": "user_id", "value": "{user_id}"}],
        "scan_count": 1000,                     # COUNT hint for SCAN, chunk size for XRANGE
        "timeout_seconds": 30,
    }

At least one of the five lists is given. Templates are text with `{id_type}` placeholders; the
placeholders name the identifier types the target is keyed by. Each entry uses exactly one
identifier type (possibly several times), so a subject's values are never combined with
another's. A key template needs a placeholder; the other entries need one in at least one of
their parts. Any other `{` or `}` is refused.

A key template containing `*` is a pattern: the substituted value has its glob metacharacters
(`* ? [ ] \\`) escaped before `SCAN MATCH`, so a value can never widen the match, and a `*` may
not touch a placeholder (`{user_id}*` would match every id starting with the value). Other glob
characters are refused in key templates. Keys are found with `SCAN` (never `KEYS`) and removed
with `UNLINK`; fields with `HDEL`, members with `SREM` / `ZREM`; stream entries are read with
`XRANGE` in chunks of `scan_count` and the ones whose field equals the value removed with
`XDEL`. Every command touches one key and commands are sent in non-transactional pipelines, so
the layout suits Redis Cluster slot rules (the client itself is a single-node client).

Values are compared exactly as given (normalized identifiers), with no case folding. A pattern
like `chat:{user_id}:*` also matches the keys of a user whose id is the value followed by `:`;
choose separators that cannot occur in the identifiers.

Not supported: masking (items are deleted). Logs carry counts only, never keys or values.
"""

import contextlib
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import redis
import structlog

from .base import (
    ID_TYPE,
    Capability,
    Connector,
    ConnectorConfigError,
    ConnectorTimeout,
    Deadline,
    Erased,
    Identifiers,
    Located,
    TargetUnavailable,
    Verified,
)

log = structlog.get_logger(__name__)

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")
MAX_TEMPLATE_LENGTH = 1024
MAX_ENTRIES = 256
DEFAULT_SCAN_COUNT = 1000
MAX_SCAN_COUNT = 100_000
# Commands per pipeline round trip.
PIPELINE_SIZE = 500

STRUCTURES = {
    # config key -> (the parts of each entry that are templates, the parts that are plain text)
    "hash_fields": (("key", "field"), ()),
    "set_members": (("key", "member"), ()),
    "zset_members": (("key", "member"), ()),
    "stream_entries": (("key", "value"), ("field",)),
}


@dataclass(frozen=True, slots=True)
class Template:
    """Text split into literal pieces and the placeholders between them."""

    pieces: tuple[str, ...]  # len(pieces) == len(names) + 1
    names: tuple[str, ...]

    @property
    def id_type(self) -> str | None:
        return self.names[0] if self.names else None

    def render(self, value: str, *, glob: bool = False) -> str:
        filled = GLOB_SPECIAL.sub(r"\\\1", value) if glob else value
        return filled.join(self.pieces)

    @property
    def is_pattern(self) -> bool:
        return any("*" in piece for piece in self.pieces)


@dataclass(frozen=True, slots=True)
class Entry:
    """One configured member-like item: `kind` is a STRUCTURES key."""

    kind: str
    id_type: str
    parts: dict[str, Template]
    plain: dict[str, str]


class RedisStore(Connector):
    kind = "redis"
    capabilities = frozenset({Capability.LOCATE, Capability.DELETE, Capability.VERIFY})
    erase_method = "redis_unlink_and_member_removal"
    verify_method = "redis_rescan"

    def __init__(self, *, config: dict[str, Any]):
        super().__init__(config=config)
        url_env = self.config.get("url_env")
        if not isinstance(url_env, str) or not ENV_NAME.fullmatch(url_env):
            raise ConnectorConfigError(
                "url_env names the environment variable holding the Redis URL.",
                fields={"url_env": "required"},
            )
        self.url_env = url_env
        self.scan_count = self._scan_count(self.config.get("scan_count"))
        self.keys = self._key_templates(self.config.get("keys"))
        self.entries: list[Entry] = []
        for name, (templated, plain) in STRUCTURES.items():
            self.entries.extend(self._entries(name, templated, plain))
        if not self.keys and not self.entries:
            raise ConnectorConfigError(
                "Give at least one of keys, hash_fields, set_members, zset_members, "
                "stream_entries.",
                fields={"keys": "required"},
            )
        self.id_types = frozenset(
            [t.id_type for t in self.keys] + [e.id_type for e in self.entries]  # type: ignore[misc]
        )

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
        values = self.usable(identifiers)
        deadline = self.deadline()
        started = self._now()
        removed = 0
        with self._client(deadline) as client:
            # Members first: removing a whole key afterwards would hide them from the count.
            for entry in self.entries:
                if entry.kind == "stream_entries":
                    for key, ids in self._stream_matches(client, entry, values, deadline):
                        removed += self._xdel(client, key, ids, deadline)
                    continue
                command = {"hash_fields": "hdel", "set_members": "srem", "zset_members": "zrem"}
                removed += sum(
                    self._pipelined(
                        client,
                        ((command[entry.kind], key, member)
                         for key, member in self._members(entry, values)),
                        deadline,
                    )
                )
            keys = self._found_keys(client, values, deadline)
            removed += sum(self._pipelined(client, (("unlink", k) for k in keys), deadline))
        log.info("connector.erase", kind=self.kind, op=op, count=removed)
        return Erased(
            op=op if removed else "none",
            method=self.erase_method,
            count=removed,
            started_at=started,
            completed_at=self._now(),
        )

    # --- counting -------------------------------------------------------------------------------

    def _count(self, identifiers: Identifiers) -> int:
        values = self.usable(identifiers)
        deadline = self.deadline()
        total = 0
        with self._client(deadline) as client:
            total += len(self._found_keys(client, values, deadline))
            for entry in self.entries:
                if entry.kind == "stream_entries":
                    total += sum(
                        len(ids) for _, ids in self._stream_matches(client, entry, values, deadline)
                    )
                    continue
                command = {"hash_fields": "hexists", "set_members": "sismember",
                           "zset_members": "zscore"}[entry.kind]
                answers = self._pipelined(
                    client,
                    ((command, key, member) for key, member in self._members(entry, values)),
                    deadline,
                )
                # ZSCORE answers a score (maybe 0.0) or None; the others answer a truth value.
                total += sum(
                    1 for answer in answers
                    if (answer is not None if entry.kind == "zset_members" else bool(answer))
                )
        return total

    def _found_keys(self, client: redis.Redis, values: dict[str, list[str]],
                    deadline: Deadline) -> list[bytes]:
        """Every existing key named by the key templates, each once."""
        found: dict[bytes, None] = {}
        exact: list[bytes] = []
        for template in self.keys:
            for value in values.get(template.id_type or "", []):
                if template.is_pattern:
                    pattern = template.render(value, glob=True).encode()
                    cursor = 0
                    while True:
                        deadline.check()
                        cursor, page = client.scan(cursor, match=pattern, count=self.scan_count)
                        found.update(dict.fromkeys(page))
                        if not cursor:
                            break
                else:
                    exact.append(template.render(value).encode())
        exact = [k for k in dict.fromkeys(exact) if k not in found]
        answers = self._pipelined(client, (("exists", k) for k in exact), deadline)
        found.update(dict.fromkeys(k for k, n in zip(exact, answers, strict=True) if n))
        return list(found)

    def _members(self, entry: Entry, values: dict[str, list[str]]) -> list[tuple[bytes, bytes]]:
        """(key, field or member) pairs for an entry, each once."""
        second = "field" if entry.kind == "hash_fields" else "member"
        pairs = (
            (entry.parts["key"].render(v).encode(), entry.parts[second].render(v).encode())
            for v in values.get(entry.id_type, [])
        )
        return list(dict.fromkeys(pairs))

    def _stream_matches(self, client: redis.Redis, entry: Entry, values: dict[str, list[str]],
                        deadline: Deadline) -> Iterator[tuple[bytes, list[bytes]]]:
        """For each stream key, the ids of the entries whose field holds one of the values."""
        field = entry.plain["field"].encode()
        wanted: dict[bytes, set[bytes]] = {}
        for value in values.get(entry.id_type, []):
            key = entry.parts["key"].render(value).encode()
            wanted.setdefault(key, set()).add(entry.parts["value"].render(value).encode())
        for key, accepted in wanted.items():
            ids: list[bytes] = []
            start: bytes = b"-"
            while True:
                deadline.check()
                chunk = client.xrange(key, min=start, max=b"+", count=self.scan_count)
                for entry_id, fields in chunk:
                    if fields.get(field) in accepted:
                        ids.append(entry_id)
                if len(chunk) < self.scan_count:
                    break
                start = b"(" + chunk[-1][0]
            if ids:
                yield key, ids

    # --- commands -------------------------------------------------------------------------------

    def _xdel(self, client: redis.Redis, key: bytes, ids: list[bytes], deadline: Deadline) -> int:
        removed = 0
        for start in range(0, len(ids), PIPELINE_SIZE):
            deadline.check()
            removed += client.xdel(key, *ids[start : start + PIPELINE_SIZE])
        return removed

    def _pipelined(self, client: redis.Redis, commands: Iterable[tuple],
                   deadline: Deadline) -> list[Any]:
        """Answers to single-key commands, sent PIPELINE_SIZE at a time without MULTI."""
        answers: list[Any] = []
        batch: list[tuple] = []

        def flush() -> None:
            deadline.check()
            pipe = client.pipeline(transaction=False)
            for name, *args in batch:
                getattr(pipe, name)(*args)
            answers.extend(pipe.execute())
            batch.clear()

        for command in commands:
            batch.append(command)
            if len(batch) >= PIPELINE_SIZE:
                flush()
        if batch:
            flush()
        return answers

    @contextlib.contextmanager
    def _client(self, deadline: Deadline) -> Iterator[redis.Redis]:
        url = os.environ.get(self.url_env)
        if not url:
            raise ConnectorConfigError(
                "The environment variable named by url_env is not set.",
                fields={"url_env": "not set"},
            )
        seconds = max(min(deadline.remaining(), self.timeout_seconds), 0.001)
        try:
            client = redis.Redis.from_url(
                url, socket_timeout=seconds, socket_connect_timeout=seconds
            )
        except ValueError:
            # The message could repeat the URL, which may hold a password.
            raise ConnectorConfigError(
                "The Redis URL in url_env is not valid.", fields={"url_env": "invalid URL"}
            ) from None
        try:
            yield client
        except redis.exceptions.TimeoutError:
            raise ConnectorTimeout(
                f"Redis did not answer within {self.timeout_seconds:g} s."
            ) from None
        except redis.exceptions.ConnectionError:
            raise TargetUnavailable("Could not reach the Redis server.") from None
        except redis.exceptions.RedisError as error:
            # e.g. WRONGTYPE: a configured key holds another structure. The class name only;
            # the server's message may quote a key.
            raise TargetUnavailable(
                f"Redis answered with an error ({type(error).__name__})."
            ) from None
        finally:
            with contextlib.suppress(redis.exceptions.RedisError, OSError):
                client.close()

    # --- config ---------------------------------------------------------------------------------

    @staticmethod
    def _scan_count(value: Any) -> int:
        if value is None:
            return DEFAULT_SCAN_COUNT
        if isinstance(value, bool) or not isinstance(value, int) or not (
            1 <= value <= MAX_SCAN_COUNT
        ):
            raise ConnectorConfigError(
                f"scan_count is a whole number from 1 to {MAX_SCAN_COUNT}.",
                fields={"scan_count": "out of range"},
            )
        return value

    def _key_templates(self, given: Any) -> list[Template]:
        if given is None:
            return []
        if not isinstance(given, list) or len(given) > MAX_ENTRIES:
            raise ConnectorConfigError(
                f"keys is a list of at most {MAX_ENTRIES} key templates.",
                fields={"keys": "not a list"},
            )
        templates = []
        for index, text in enumerate(given):
            where = f"keys[{index}]"
            template = _parse(text, where, glob=True)
            if template.id_type is None:
                raise ConnectorConfigError(
                    f"{where} needs an {{id_type}} placeholder.", fields={where: "no placeholder"}
                )
            templates.append(template)
        return templates

    def _entries(self, name: str, templated: tuple[str, ...],
                 plain: tuple[str, ...]) -> list[Entry]:
        given = self.config.get(name)
        if given is None:
            return []
        if not isinstance(given, list) or len(given) > MAX_ENTRIES:
            raise ConnectorConfigError(
                f"{name} is a list of at most {MAX_ENTRIES} objects.", fields={name: "not a list"}
            )
        entries = []
        for index, item in enumerate(given):
            where = f"{name}[{index}]"
            if not isinstance(item, dict) or set(item) != set(templated) | set(plain):
                wanted = ", ".join(sorted(set(templated) | set(plain)))
                raise ConnectorConfigError(
                    f"{where} is an object with exactly: {wanted}.", fields={where: "bad shape"}
                )
            parts = {part: _parse(item[part], f"{where}.{part}") for part in templated}
            for part in plain:
                text = item[part]
                if not isinstance(text, str) or not text or len(text) > MAX_TEMPLATE_LENGTH:
                    raise ConnectorConfigError(
                        f"{where}.{part} is a non-empty string.",
                        fields={f"{where}.{part}": "required"},
                    )
            id_types = {n for t in parts.values() for n in t.names}
            if len(id_types) != 1:
                raise ConnectorConfigError(
                    f"{where} uses exactly one identifier type in its placeholders.",
                    fields={where: "no placeholder" if not id_types else "several id types"},
                )
            entries.append(Entry(name, id_types.pop(), parts, {p: item[p] for p in plain}))
        return entries


def _parse(text: Any, where: str, *, glob: bool = False) -> Template:
    """A template: literal text and `{id_type}` placeholders, all of one identifier type.

    In key templates (`glob`), `*` is a wildcard that may not touch a placeholder, and the other
    glob characters are refused."""
    if not isinstance(text, str) or not text or len(text) > MAX_TEMPLATE_LENGTH:
        raise ConnectorConfigError(
            f"{where} is a non-empty string of at most {MAX_TEMPLATE_LENGTH} characters.",
            fields={where: "required"},
        )
    pieces: list[str] = []
    names: list[str] = []
    position = 0
    for found in PLACEHOLDER.finditer(text):
        pieces.append(text[position : found.start()])
        names.append(found.group(1))
        position = found.end()
    pieces.append(text[position:])
    for name in names:
        if not ID_TYPE.fullmatch(name):
            raise ConnectorConfigError(
                f"{where} has a malformed placeholder; use {{id_type}}.",
                fields={where: "bad placeholder"},
            )
    if any("{" in piece or "}" in piece for piece in pieces):
        raise ConnectorConfigError(
            f"{where} has a stray brace; only {{id_type}} placeholders are allowed.",
            fields={where: "bad placeholder"},
        )
    if len(set(names)) > 1:
        raise ConnectorConfigError(
            f"{where} mixes identifier types; use one per template.",
            fields={where: "several id types"},
        )
    if glob:
        if any(c in piece for piece in pieces for c in "?[]\\"):
            raise ConnectorConfigError(
                f"{where} may use * as a wildcard but no other glob characters (? [ ] \\).",
                fields={where: "bad glob"},
            )
        touching = any(
            pieces[i].endswith("*") or pieces[i + 1].startswith("*") for i in range(len(names))
        )
        if touching:
            raise ConnectorConfigError(
                f"{where} has a * next to a placeholder, which would match other values.",
                fields={where: "wildcard next to placeholder"},
            )
    return Template(tuple(pieces), tuple(names))
