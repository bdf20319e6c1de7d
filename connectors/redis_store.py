"""`redis`: a subject's keys, hash fields, set and sorted-set members and stream entries.

Config:

    {
        "url_env": "CACHE_REDIS_URL",           # env var holding the redis:// or rediss:// URL
                                                # (or "url_file": a file under the secret roots)
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

Batches (`erase_groups`, `verify_groups`): the requests of a batch share one look at the
server. A pattern template is scanned once for the whole batch, with its placeholder replaced by
`*` (`chat:{user_id}:*` becomes `chat:*:*`), and each key found is given to the values whose own
escaped pattern it matches; with a single value the server filters with that pattern instead.
Exact keys, fields and members are sent once each in pipelines and every answer is counted for
the groups naming the item; each stream key is read with one XRANGE pass for all values. A group's
count is what a call with its identifiers alone would find; an item two groups name (they share
a value) is removed once and counts for both. `erase`, `locate` and `verify` are batches of one.

Values are compared exactly as given (normalized identifiers), with no case folding. A pattern
like `chat:{user_id}:*` also matches the keys of a user whose id is the value followed by `:`;
choose separators that cannot occur in the identifiers.

Not supported: masking (items are deleted). Logs carry counts only, never keys or values.
"""

import contextlib
import re
from collections.abc import Hashable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import redis
import structlog

from . import config as checks
from . import schema, secrets
from .base import (
    ID_TYPE,
    Capability,
    Connector,
    ConnectorConfigError,
    ConnectorTimeout,
    Deadline,
    Erased,
    Groups,
    Identifiers,
    Located,
    TargetUnavailable,
    Verified,
)

log = structlog.get_logger(__name__)

PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")
MAX_TEMPLATE_LENGTH = 1024
MAX_ENTRIES = 256
DEFAULT_SCAN_COUNT = 1000
MAX_SCAN_COUNT = 100_000
# Commands per pipeline round trip.
PIPELINE_SIZE = 500

# Per (identifier type, value), the groups of a batch that hold it (see `Connector.owners`).
Owners = dict[tuple[str, str], list[Hashable]]

STRUCTURES = {
    # config key -> (the parts of each entry that are templates, the parts that are plain text)
    "hash_fields": (("key", "field"), ()),
    "set_members": (("key", "member"), ()),
    "zset_members": (("key", "member"), ()),
    "stream_entries": (("key", "value"), ("field",)),
}

# What removes an item of each member-like kind, and what looks for it.
REMOVE = {"hash_fields": "hdel", "set_members": "srem", "zset_members": "zrem"}
CHECK = {"hash_fields": "hexists", "set_members": "sismember", "zset_members": "zscore"}


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


class _KeyOwners:
    """Which of a batch's values a key belongs to, for a key found with the template's wide
    pattern (the placeholder replaced by `*`).

    The placeholder's text is cut out at every place the literal text around it allows: with a
    `*` after the placeholder, `chat:a:b:c` could hold the value `a` or `a:b`. Each cut that is a
    wanted value is confirmed against that value's own pattern, so a key belongs to exactly the
    values whose single-value `SCAN MATCH` would have returned it."""

    def __init__(self, template: Template, values: list[str]):
        self.template = template
        self.wanted = {value.encode(): value for value in values}
        self.longest = max(len(raw) for raw in self.wanted)
        first, after = template.pieces[0], template.pieces[1]
        # A `*` never touches a placeholder, so the text on each side of it starts literal.
        self.anchored = "*" not in first
        self.before = first.rsplit("*", 1)[-1].encode()
        self.after = after.split("*", 1)[0].encode()
        self.at_end = len(template.pieces) == 2 and not after
        self.patterns: dict[str, re.Pattern[bytes]] = {}

    def __call__(self, key: bytes) -> list[str]:
        values = []
        for start in self._starts(key):
            for end in self._ends(key, start):
                value = self.wanted.get(key[start:end])
                if value is not None and value not in values and self._matches(value, key):
                    values.append(value)
        return values

    def _starts(self, key: bytes) -> Iterator[int]:
        if self.anchored:
            if key.startswith(self.before):
                yield len(self.before)
            return
        at = key.find(self.before)
        while at != -1:
            yield at + len(self.before)
            at = key.find(self.before, at + 1)

    def _ends(self, key: bytes, start: int) -> Iterator[int]:
        # Values are never empty, and none is longer than the longest wanted one.
        last = min(len(key), start + self.longest)
        if self.at_end:
            if len(key) - start <= self.longest:
                yield len(key)
        elif not self.after:  # another placeholder follows at once: any cut may be the value
            yield from range(start + 1, last + 1)
        else:
            at = key.find(self.after, start + 1, last + len(self.after))
            while at != -1:
                yield at
                at = key.find(self.after, at + 1, last + len(self.after))

    def _matches(self, value: str, key: bytes) -> bool:
        pattern = self.patterns.get(value)
        if pattern is None:
            literal = [
                b".*".join(re.escape(part.encode()) for part in piece.split("*"))
                for piece in self.template.pieces
            ]
            # DOTALL: a glob `*` also matches newlines, which keys may hold.
            pattern = re.compile(re.escape(value.encode()).join(literal), re.DOTALL)
            self.patterns[value] = pattern
        return pattern.fullmatch(key) is not None


def _tally(counts: dict[Hashable, int], holders: Iterable[set], hits: Iterable[bool]) -> int:
    """Count every hit for each group holding the item; the number of hits."""
    total = 0
    for groups, hit in zip(holders, hits, strict=True):
        if hit:
            total += 1
            for group in groups:
                counts[group] += 1
    return total


def _templates(description: str, parts: tuple[str, ...]) -> dict[str, Any]:
    """A list of templates (`parts` == ("",)) or of objects of exactly these template parts."""
    text = {"type": "string", "minLength": 1, "maxLength": MAX_TEMPLATE_LENGTH}
    items = (
        text
        if parts == ("",)
        else {
            "type": "object",
            "properties": dict.fromkeys(parts, text),
            "required": list(parts),
            "additionalProperties": False,
        }
    )
    return {"type": "array", "items": items, "maxItems": MAX_ENTRIES, "description": description}


class RedisStore(Connector):
    kind = "redis"
    config_schema = schema.config(
        description="A subject's keys, hash fields, set and sorted-set members and stream "
        "entries on a Redis server (SCAN, never KEYS). At least one of keys, hash_fields, "
        "set_members, zset_members, stream_entries is given.",
        properties={
            **secrets.properties("url", "the redis:// or rediss:// URL (password included)"),
            "keys": _templates(
                "Key templates: text with one {id_type} placeholder (several times at most); "
                "* is a wildcard that may not touch a placeholder.",
                ("",),
            ),
            "hash_fields": _templates("Hash fields: {key, field}.", ("key", "field")),
            "set_members": _templates("Set members: {key, member}.", ("key", "member")),
            "zset_members": _templates("Sorted-set members: {key, member}.", ("key", "member")),
            "stream_entries": _templates(
                "Stream entries whose `field` equals `value`: {key, field, value}.",
                ("key", "field", "value"),
            ),
            "scan_count": schema.integer(
                1,
                MAX_SCAN_COUNT,
                DEFAULT_SCAN_COUNT,
                "The COUNT hint of each SCAN, and the chunk size of XRANGE.",
            ),
        },
        required=[],
        one_of=secrets.alternatives("url"),
        example={
            "url_env": "CACHE_REDIS_URL",
            "keys": ["session:{user_id}", "chat:{user_id}:*"],
            "hash_fields": [{"key": "profiles", "field": "{email}"}],
        },
    )
    batches = True
    capabilities = frozenset({Capability.LOCATE, Capability.DELETE, Capability.VERIFY})
    erase_method = "redis_unlink_and_member_removal"
    verify_method = "redis_rescan"

    def __init__(self, *, config: dict[str, Any]):
        super().__init__(config=config)
        self.url = secrets.secret_of(self.config, "url")
        self.reach_key = self.url.key
        self.scan_count = checks.integer(
            self.config,
            "scan_count",
            low=1,
            high=MAX_SCAN_COUNT,
            default=DEFAULT_SCAN_COUNT,
            message=f"scan_count is a whole number from 1 to {MAX_SCAN_COUNT}.",
        )
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

    def _reach(self) -> None:
        """The server answers a PING at the URL the variable holds."""
        with self._client(self.deadline()) as client:
            client.ping()

    # --- abilities ------------------------------------------------------------------------------

    # A single request is a batch of one, so the counts of both always agree.

    def locate(self, identifiers: Identifiers) -> Located:
        self.require(Capability.LOCATE)
        count = self._present({None: identifiers})[None]
        log.info("connector.locate", kind=self.kind, count=count)
        return Located(count=count)

    def verify(self, identifiers: Identifiers) -> Verified:
        self.require(Capability.VERIFY)
        remaining = self._present({None: identifiers})[None]
        log.info("connector.verify", kind=self.kind, remaining=remaining)
        return Verified(method=self.verify_method, remaining=remaining, at=self._now())

    def erase(self, identifiers: Identifiers, *, op: str = "delete") -> Erased:
        return self.erase_groups({None: identifiers}, op=op)[None]

    def erase_groups(self, groups: Groups, *, op: str = "delete") -> dict[Hashable, Erased]:
        """Erase several requests' items in one pass; each group gets the count of the items
        named by its own identifiers. An item two groups name (they share a value) is removed
        once and counts for both."""
        self.require(Capability.for_op(op))
        if not groups:
            return {}
        union, owners = self.owners(groups)
        deadline = self.deadline()
        started = self._now()
        counts: dict[Hashable, int] = dict.fromkeys(groups, 0)
        removed = 0
        with self._client(deadline) as client:
            # Members first: removing a whole key afterwards would hide them from the count.
            members = self._members(union, owners)
            answers = self._pipelined(
                client, ((REMOVE[kind], key, member) for kind, key, member in members), deadline
            )
            removed += _tally(counts, members.values(), (bool(a) for a in answers))
            for key, entries in self._stream_matches(client, union, owners, deadline):
                answers = self._pipelined(
                    client, (("xdel", key, entry_id) for entry_id in entries), deadline
                )
                removed += _tally(counts, entries.values(), (bool(a) for a in answers))
            found, exact = self._named_keys(client, union, owners, deadline)
            keys = {**exact, **found}
            # UNLINK answers 0 for a key that is not there, so exact keys need no EXISTS first.
            answers = self._pipelined(client, (("unlink", k) for k in keys), deadline)
            removed += _tally(counts, keys.values(), (bool(a) for a in answers))
        log.info("connector.erase", kind=self.kind, op=op, count=removed, groups=len(counts))
        shared = Erased(
            op=op,
            method=self.erase_method,
            count=removed,
            started_at=started,
            completed_at=self._now(),
        )
        return self.split(shared, counts)

    def verify_groups(self, groups: Groups) -> dict[Hashable, Verified]:
        """The post-check of a batch: the same single look as `erase_groups`, a count per
        group."""
        self.require(Capability.VERIFY)
        counts = self._present(groups)
        log.info(
            "connector.verify", kind=self.kind, groups=len(counts), remaining=sum(counts.values())
        )
        return self.checked(self.verify_method, counts)

    # --- counting -------------------------------------------------------------------------------

    def _present(self, groups: Groups) -> dict[Hashable, int]:
        """Per group, how many of its items exist, looked up once for the whole batch."""
        counts: dict[Hashable, int] = dict.fromkeys(groups, 0)
        if not groups:
            return counts
        union, owners = self.owners(groups)
        deadline = self.deadline()
        with self._client(deadline) as client:
            found, exact = self._named_keys(client, union, owners, deadline)
            _tally(counts, found.values(), (True for _ in found))
            answers = self._pipelined(client, (("exists", k) for k in exact), deadline)
            _tally(counts, exact.values(), (bool(a) for a in answers))
            members = self._members(union, owners)
            answers = self._pipelined(
                client, ((CHECK[kind], key, member) for kind, key, member in members), deadline
            )
            # ZSCORE answers a score (maybe 0.0) or None; the others answer a truth value.
            present = (
                answer is not None if kind == "zset_members" else bool(answer)
                for (kind, _, _), answer in zip(members, answers, strict=True)
            )
            _tally(counts, members.values(), present)
            for _, entries in self._stream_matches(client, union, owners, deadline):
                _tally(counts, entries.values(), (True for _ in entries))
        return counts

    def _named_keys(
        self, client: redis.Redis, union: dict[str, list[str]], owners: Owners, deadline: Deadline
    ) -> tuple[dict[bytes, set], dict[bytes, set]]:
        """The keys the key templates name, each once with its groups: those a SCAN found
        (so they existed), and the exact keys it did not find (which may not exist)."""
        found: dict[bytes, set] = {}
        exact: dict[bytes, set] = {}
        for template in self.keys:
            id_type = template.id_type or ""
            values = union.get(id_type, [])
            if not values:
                continue
            if template.is_pattern:
                for key, value in self._scan(client, template, values, deadline):
                    found.setdefault(key, set()).update(owners[(id_type, value)])
            else:
                for value in values:
                    key = template.render(value).encode()
                    exact.setdefault(key, set()).update(owners[(id_type, value)])
        for key in [k for k in exact if k in found]:
            found[key].update(exact.pop(key))
        return found, exact

    def _scan(
        self, client: redis.Redis, template: Template, values: list[str], deadline: Deadline
    ) -> Iterator[tuple[bytes, str]]:
        """(key, value) for every existing key the template names for one of the values, in one
        SCAN pass whatever the number of values."""
        if len(values) == 1:
            # One value: the server can filter with the value's own (escaped) pattern.
            pattern = template.render(values[0], glob=True).encode()
        else:
            pattern = "*".join(template.pieces).encode()
        belongs = _KeyOwners(template, values)
        cursor = 0
        while True:
            deadline.check()
            cursor, page = client.scan(cursor, match=pattern, count=self.scan_count)
            for key in page:
                for value in belongs(key):
                    yield key, value
            if not cursor:
                break

    def _members(
        self, union: dict[str, list[str]], owners: Owners
    ) -> dict[tuple[str, bytes, bytes], set]:
        """(kind, key, field or member) of the hash, set and sorted-set entries, each once with
        its groups."""
        pairs: dict[tuple[str, bytes, bytes], set] = {}
        for entry in self.entries:
            if entry.kind == "stream_entries":
                continue
            second = entry.parts["field" if entry.kind == "hash_fields" else "member"]
            for value in union.get(entry.id_type, []):
                item = (
                    entry.kind,
                    entry.parts["key"].render(value).encode(),
                    second.render(value).encode(),
                )
                pairs.setdefault(item, set()).update(owners[(entry.id_type, value)])
        return pairs

    def _stream_matches(
        self, client: redis.Redis, union: dict[str, list[str]], owners: Owners, deadline: Deadline
    ) -> Iterator[tuple[bytes, dict[bytes, set]]]:
        """For each stream key, the ids of the entries holding one of the wanted values, with
        their groups: one XRANGE pass per key for the whole batch and every entry naming it."""
        # stream key -> field -> the field's wanted value -> its groups
        wanted: dict[bytes, dict[bytes, dict[bytes, set]]] = {}
        for entry in self.entries:
            if entry.kind != "stream_entries":
                continue
            field = entry.plain["field"].encode()
            for value in union.get(entry.id_type, []):
                key = entry.parts["key"].render(value).encode()
                accepted = wanted.setdefault(key, {}).setdefault(field, {})
                accepted.setdefault(entry.parts["value"].render(value).encode(), set()).update(
                    owners[(entry.id_type, value)]
                )
        for key, fields in wanted.items():
            ids: dict[bytes, set] = {}
            start: bytes = b"-"
            while True:
                deadline.check()
                chunk = client.xrange(key, min=start, max=b"+", count=self.scan_count)
                for entry_id, held in chunk:
                    groups = set()
                    for field, accepted in fields.items():
                        groups.update(accepted.get(held.get(field), ()))
                    if groups:
                        ids[entry_id] = groups
                if len(chunk) < self.scan_count:
                    break
                start = b"(" + chunk[-1][0]
            if ids:
                yield key, ids

    # --- commands -------------------------------------------------------------------------------

    def _pipelined(
        self, client: redis.Redis, commands: Iterable[tuple], deadline: Deadline
    ) -> list[Any]:
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
        url = self.url.read()
        seconds = max(min(deadline.remaining(), self.timeout_seconds), 0.001)
        try:
            client = redis.Redis.from_url(
                url, socket_timeout=seconds, socket_connect_timeout=seconds
            )
        except ValueError:
            # The message could repeat the URL, which may hold a password.
            raise ConnectorConfigError(
                f"The Redis URL in {self.url.key} is not valid.",
                fields={self.url.key: "invalid URL"},
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

    def _entries(
        self, name: str, templated: tuple[str, ...], plain: tuple[str, ...]
    ) -> list[Entry]:
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
