"""`hf_dataset`: rows of a Hugging Face `datasets` folder written by `save_to_disk`, and the
cache files derived from it.

Config:

    {
        "path": "datasets/support-qa",          # the save_to_disk folder, under LUP_FILE_ROOTS
        "match": {"email": "email", "user_id": "meta.user_id"},  # id_type -> column or path
        "mask_columns": ["email", "meta.user_id"],  # optional, default: the match columns
        "mask_value": "[erased]",               # optional, for text columns
        "cache_dir": "hf-cache",                # optional: an HF_DATASETS_CACHE folder
        "history": {"policy": "purged"},        # optional (`connectors.history`)
        "timeout_seconds": 30,
    }

The folder holds one dataset (`state.json` listing its Arrow shards) or a `DatasetDict`
(`dataset_dict.json` naming its splits, a folder each). Columns are found and compared as
`parquet_file` does (a top-level column, else a dotted path into struct columns; e-mail trimmed
and lower-cased, phone numbers to E.164).

Erasing, one pass however many requests are batched, under an exclusive lock on the folder:
every shard is read batch by batch (memory-mapped, as `datasets` reads it), and each shard
holding a match is written anew beside itself, with its schema (features metadata included),
matching rows dropped ("delete") or their `mask_columns` set to `mask_value` in text columns and
null in others ("mask"), fsynced and renamed over the original. Then each changed split's
`state.json` gets a new `_fingerprint` (so no `map` or `filter` reuses a cache computed from the
old rows) and, when `dataset_info.json` counts the split's examples, the new count; both files
are replaced the same way. Readers that opened the old shards keep reading them until they
reopen the folder (the old files are unlinked, not overwritten).

History: the cache files made from a dataset (`cache-*.arrow` beside its shards, written by
`map` and `filter`, and every `*.arrow` under `cache_dir`) are copies of it. With `purged`,
every cache file holding a subject's row is removed during the erasure, and the post-check
reads every cache file that is left; with `retained` they are left for `retain_days` (the
operator's cache clean-up removes them) and the receipt says until when.

Post-check: the folder is loaded with `datasets.load_from_disk` and every split's rows read
through it, then the cache files as the policy says; the receipt's `history` counts the dataset
and the cache files read. A cache file whose schema lacks a match column cannot be matched and
is not counted as read.

Scanning (`scan`, for the subject index) reads the match columns of every split's shards one
batch of rows at a time and yields each row's values as `parquet_file` does (an integer as its
decimal text; nulls left out).

Not supported: datasets saved with `save_to_disk` to a remote file system, datasets being
written while they are erased, and masking part of a list column.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Hashable, Iterator
from pathlib import Path
from typing import Any

import structlog

from core.errors import ApplicationError
from core.lazy import lazy_module

from . import config as checks
from . import schema
from .arrow_rows import ArrowColumns
from .base import (
    Capability,
    Connector,
    Deadline,
    Erased,
    Found,
    Groups,
    Identifiers,
    LineageName,
    Located,
    Verified,
)
from .csv_file import DEFAULT_MASK_VALUE, MAX_COLUMN_NAME, MAX_MASK_VALUE
from .errors import TargetUnreachable
from .files import (
    confined_path,
    discard,
    locked_directory,
    replace_atomically,
    temporary_beside,
    unavailable_on_os_error,
)
from .history import HistoryPolicy, history_config
from .parquet_file import _valid_column

# Loaded by the first dataset a process opens (see core.lazy).
pa = lazy_module("pyarrow")
pc = lazy_module("pyarrow.compute")

log = structlog.get_logger(__name__)

STATE = "state.json"
INFO = "dataset_info.json"
SPLITS = "dataset_dict.json"
COLUMN = {"type": "string", "minLength": 1, "maxLength": MAX_COLUMN_NAME}


class HfDataset(ArrowColumns, Connector):
    kind = "hf_dataset"
    config_schema = schema.config(
        description="Rows of a Hugging Face `datasets` folder written by `save_to_disk` (one "
        "dataset or a DatasetDict): shards rewritten atomically, fingerprints renewed; the "
        "cache files derived from it are its `history`.",
        properties={
            "path": schema.path("The save_to_disk folder."),
            "match": schema.match(
                COLUMN,
                "Identifier type -> the column holding it (text or integers): a top-level "
                "column's name, else a dotted path into struct columns (`meta.user_id`).",
            ),
            "mask_columns": {
                "type": "array",
                "items": COLUMN,
                "minItems": 1,
                "uniqueItems": True,
                "description": "The columns a masked row has set to `mask_value` (text) or "
                "null (any other type); they must include every match column. By default, "
                "the match columns.",
            },
            "mask_value": {
                "type": "string",
                "maxLength": MAX_MASK_VALUE,
                "default": DEFAULT_MASK_VALUE,
                "description": "What masked text cells are set to.",
            },
            "cache_dir": schema.path(
                "Optional: a `datasets` cache folder (what `HF_DATASETS_CACHE` names) whose "
                "`.arrow` files may hold copies of the rows."
            ),
            "history": schema.history(
                "the cache files made from the dataset (beside its shards and in `cache_dir`)"
            ),
        },
        required=["path", "match"],
        example={
            "path": "datasets/support-qa",
            "match": {"email": "email"},
            "cache_dir": "hf-cache",
            "history": {"policy": "purged"},
        },
    )
    capabilities = frozenset(
        {Capability.LOCATE, Capability.DELETE, Capability.MASK, Capability.VERIFY, Capability.SCAN}
    )
    batches = True
    file_roots = True
    reach_key = "path"
    erase_method = "hf_shard_rewrite"
    verify_method = "hf_load_from_disk"

    def __init__(self, *, config: dict[str, Any]):
        super().__init__(config=config)
        self.path = self.config["path"]
        self.match = self._match_config(self.config, _valid_column, "column name")
        self.id_types = frozenset(self.match)
        self.columns_config(self.config, _valid_column)
        self.cache_dir = checks.text(
            self.config, "cache_dir", message="cache_dir names a folder.", default=None
        )
        self.history: HistoryPolicy = history_config(self.config)
        confined_path(self.path)  # refuse paths outside the roots as soon as they are configured
        if self.cache_dir is not None:
            confined_path(self.cache_dir)

    def _reach(self) -> None:
        with _unreadable_on_arrow_error(), unavailable_on_os_error():
            for folder in self._splits():
                for shard in _shards(folder):
                    with _stream(shard) as reader:
                        self._plan(reader.schema, {}, "none")

    # --- abilities ------------------------------------------------------------------------------

    def locate(self, identifiers: Identifiers) -> Located:
        self.require(Capability.LOCATE)
        union, owners = self.owners({None: identifiers})
        counts: dict[Hashable, int] = {None: 0}
        deadline = self.deadline()
        with _unreadable_on_arrow_error(), unavailable_on_os_error():
            for folder in self._splits():
                for shard in _shards(folder):
                    self._read(shard, union, owners, counts, deadline)
        log.info("connector.locate", kind=self.kind, count=counts[None])
        return Located(count=counts[None])

    def erase(self, identifiers: Identifiers, *, op: str = "delete") -> Erased:
        return self.erase_groups({None: identifiers}, op=op)[None]

    def erase_groups(self, groups: Groups, *, op: str = "delete") -> dict[Hashable, Erased]:
        """Rewrite the shards holding several requests' rows, renew the fingerprints, and
        (purged) remove the cache files holding them; each group gets its own count."""
        self.require(Capability.for_op(op))
        union, owners = self.owners(groups)
        counts: dict[Hashable, int] = dict.fromkeys(groups, 0)
        deadline = self.deadline()
        started = self._now()
        root = confined_path(self.path)
        count = 0
        with (
            _unreadable_on_arrow_error(),
            unavailable_on_os_error(),
            locked_directory(root, deadline),
        ):
            # Every changed shard is written, and every cache file to remove found, before
            # anything is replaced or removed: a deadline or a failure on the way leaves the
            # folder as it was, and once changes start no deadline interrupts them.
            prepared: list[tuple[Path, list[tuple[str, Path, str]], int]] = []
            stale: list[Path] = []
            try:
                for folder in self._splits():
                    dropped, changed = 0, []
                    for shard in _shards(folder):
                        done = self._rewrite(shard, union, owners, counts, op, deadline)
                        if done is None:
                            continue
                        rows, digest, temp = done
                        count += rows
                        dropped += rows if op == "delete" else 0
                        changed.append((temp, shard, digest))
                    if changed:
                        prepared.append((folder, changed, dropped))
                if self.history.purged:
                    for cache in self._caches():
                        found: dict[Hashable, int] = dict.fromkeys(groups, 0)
                        if self._read(cache, union, owners, found, deadline, cache=True) and any(
                            found.values()
                        ):
                            stale.append(cache)
            except BaseException:
                for _, changed, _ in prepared:
                    for temp, _, _ in changed:
                        with contextlib.suppress(FileNotFoundError):
                            os.unlink(temp)
                raise
            for folder, changed, dropped in prepared:
                for temp, shard, _ in changed:
                    _replace(temp, shard)
                _renew_state(folder, [digest for _, _, digest in changed], dropped)
            for cache in stale:
                cache.unlink(missing_ok=True)
            removed = len(stale)
        log.info("connector.erase", kind=self.kind, op=op, count=count, caches_removed=removed)
        shared = Erased(
            op=op if count else "none",  # type: ignore[arg-type]
            method=self.erase_method,
            count=count,
            started_at=started,
            completed_at=self._now(),
        )
        return self.split(shared, counts)

    def scan(self) -> Iterator[Found]:
        """Every split's match values, read from its shards a record batch at a time."""
        with _unreadable_on_arrow_error(), unavailable_on_os_error():
            for folder in self._splits():
                for shard in _shards(folder):
                    with _stream(shard) as reader:
                        plan = self._plan(reader.schema, {key: [] for key in self.match}, "none")
                        yield from self.scanned(reader, plan)

    def lineage_dataset(self) -> LineageName:
        """The folder the dataset was saved to."""
        return ("file", str(confined_path(self.path)))

    def verify(self, identifiers: Identifiers) -> Verified:
        return self.verify_groups({None: identifiers})[None]

    def verify_groups(self, groups: Groups) -> dict[Hashable, Verified]:
        """Load the folder with `load_from_disk` and read every split's rows; with `purged`,
        every cache file left too."""
        self.require(Capability.VERIFY)
        union, owners = self.owners(groups)
        remaining: dict[Hashable, int] = dict.fromkeys(groups, 0)
        deadline = self.deadline()
        with _unreadable_on_arrow_error(), unavailable_on_os_error():
            for table in self._loaded():
                plan = self._plan(table.schema, union, "none")
                for batch in table.to_batches():
                    deadline.check()
                    self.tally(self.matched(batch, plan, owners)[1], remaining)
            read = 1
            if self.history.purged:
                for cache in self._caches():
                    deadline.check()
                    read += self._read(cache, union, owners, remaining, deadline, cache=True)
        at = self._now()
        history = self.history.checked(read, at=at)
        log.info("connector.verify", kind=self.kind, groups=len(groups), versions=read)
        return {
            key: Verified(method=self.verify_method, remaining=n, at=at, history=history)
            for key, n in remaining.items()
        }

    # --- the folder -----------------------------------------------------------------------------

    def _splits(self) -> list[Path]:
        """The folders holding a `state.json`: the dataset's, or each split's."""
        root = confined_path(self.path)
        if (root / SPLITS).is_file():
            names = _json(root / SPLITS).get("splits")
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise _unreadable()
            return [_inside(root, name) for name in names]
        if not (root / STATE).is_file():
            raise TargetUnreachable(
                "The folder holds no dataset saved with save_to_disk.",
                fields={"path": "not a saved dataset"},
            )
        return [root]

    def _caches(self) -> list[Path]:
        """Cache files: `cache-*.arrow` beside each split's shards, and every `.arrow` file
        under `cache_dir`, in a stable order."""
        found = [cache for folder in self._splits() for cache in folder.glob("cache-*.arrow")]
        if self.cache_dir is not None:
            folder = confined_path(self.cache_dir)
            if folder.is_dir():
                found += [p for p in folder.rglob("*.arrow") if p.is_file() and not p.is_symlink()]
        return sorted(set(found))

    def _loaded(self) -> list[pa.Table]:
        """Every split's rows, as `datasets.load_from_disk` gives them."""
        import datasets  # slow to import: only where a post-check runs

        loaded = datasets.load_from_disk(str(confined_path(self.path)))
        splits = loaded.values() if isinstance(loaded, datasets.DatasetDict) else [loaded]
        return [split.data.table for split in splits]

    def _read(
        self, path: Path, union, owners, counts, deadline: Deadline, *, cache: bool = False
    ) -> int:
        """Count one Arrow file's matching rows into `counts`: 1 if it was read, 0 if it is a
        cache file whose schema lacks a match column (nothing in it can be matched)."""
        with _stream(path) as reader:
            try:
                plan = self._plan(reader.schema, union, "none")
            except ApplicationError:
                if not cache:
                    raise
                return 0
            for batch in reader:
                deadline.check()
                self.tally(self.matched(batch, plan, owners)[1], counts)
        return 1

    def _rewrite(self, shard: Path, union, owners, counts, op: str, deadline: Deadline):
        """The shard without (or with masked) matching rows, in a temporary file beside it:
        (rows erased, the new shard's digest, its path), or None when nothing matched."""
        with _stream(shard) as reader:
            plan = self._plan(reader.schema, union, op)
            batches, rows = [], 0
            for batch in reader:
                deadline.check()
                matched, hits = self.matched(batch, plan, owners)
                if hits:
                    rows += len(hits)
                    self.tally(hits, counts)
                    batch = (
                        batch.filter(pc.invert(matched))
                        if op == "delete"
                        else self._masked(pa.Table.from_batches([batch]), matched, plan.mask)
                    )
                batches.append(batch)
            if not rows:
                return None
            temp = temporary_beside(shard, shard.stat())
            try:
                hashed = hashlib.sha256()
                with pa.ipc.new_stream(temp, reader.schema) as writer:
                    for batch in batches:
                        deadline.check()
                        if isinstance(batch, pa.Table):
                            writer.write_table(batch)
                        else:
                            writer.write_batch(batch)
                temp.flush()
                os.fsync(temp.fileno())
                temp.seek(0)
                for chunk in iter(lambda: temp.read(1 << 20), b""):
                    hashed.update(chunk)
                temp.close()
            except BaseException:
                discard(temp)
                raise
        return rows, hashed.hexdigest(), temp.name


def _shards(folder: Path) -> list[Path]:
    files = _json(folder / STATE).get("_data_files")
    if not isinstance(files, list):
        raise _unreadable()
    names = [entry.get("filename") if isinstance(entry, dict) else None for entry in files]
    if not all(isinstance(name, str) for name in names):
        raise _unreadable()
    return [_inside(folder, name) for name in names]


def _inside(folder: Path, name: str) -> Path:
    """A file or folder the dataset's own JSON names: refused unless directly inside."""
    path = (folder / name).resolve()
    if path.parent != folder.resolve():
        raise _unreadable()
    return path


def _replace(temp: str, path: Path) -> None:
    """Rename `temp` over `path` and make the rename durable (its folder fsynced)."""
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        replace_atomically(temp, path, fd)
    finally:
        os.close(fd)


def _renew_state(folder: Path, digests: list[str], dropped: int) -> None:
    """A new `_fingerprint` in `state.json` (from the old one and the new shards), and the new
    example count in `dataset_info.json` where it counts the split's examples."""
    state = _json(folder / STATE)
    seed = json.dumps([state.get("_fingerprint"), digests]).encode()
    state["_fingerprint"] = hashlib.sha256(seed).hexdigest()[:16]
    _write_json(folder / STATE, state)
    info_path = folder / INFO
    if dropped and info_path.is_file():
        info = _json(info_path)
        split = (info.get("splits") or {}).get(state.get("_split") or "")
        if isinstance(split, dict) and isinstance(split.get("num_examples"), int):
            split["num_examples"] = max(split["num_examples"] - dropped, 0)
            _write_json(info_path, info)


def _json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _unreadable() from None
    except ValueError:
        raise _unreadable() from None
    if not isinstance(value, dict):
        raise _unreadable()
    return value


def _write_json(path: Path, value: dict) -> None:
    temp = temporary_beside(path, path.stat())
    try:
        temp.write(json.dumps(value, indent=2, sort_keys=True).encode())
        temp.flush()
        os.fsync(temp.fileno())
        temp.close()
    except BaseException:
        discard(temp)
        raise
    _replace(temp.name, path)


@contextlib.contextmanager
def _stream(path: Path) -> Iterator[pa.ipc.RecordBatchStreamReader]:
    """An Arrow file as `datasets` writes it (the IPC stream format), memory-mapped."""
    with pa.memory_map(str(path)) as source:
        yield pa.ipc.open_stream(source)


def _unreadable() -> ApplicationError:
    return ApplicationError(
        "The dataset folder could not be read as a saved dataset.", code="file_unreadable"
    )


@contextlib.contextmanager
def _unreadable_on_arrow_error() -> Iterator[None]:
    try:
        yield
    except pa.ArrowException as error:
        if isinstance(error, OSError):
            raise
        raise _unreadable() from None
