"""The Merkle tree (RFC 9162 §2.1) over stored complete-subtree hashes.

Every range the RFC's root and proof recursions visit splits into aligned complete subtrees,
so any root or proof at size n reads O(log n) stored nodes: first a dry run records which
nodes the computation touches, then one query fetches them all.
"""

from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from django.db import connection

from ledger import verify
from ledger.models import LogNode

T = TypeVar("T")
Getter = Callable[[int, int], bytes]  # (level, index) -> hash of that complete subtree


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def mth(start: int, end: int, get: Getter) -> bytes:
    """MTH of leaves [start, end), from complete subtrees."""
    n = end - start
    if n == 0:
        return verify.root_hash([])
    if n & (n - 1) == 0 and start % n == 0:
        return get(n.bit_length() - 1, start // n)
    k = _split(n)
    return verify.node_hash(mth(start, start + k, get), mth(start + k, end, get))


def inclusion(index: int, start: int, end: int, get: Getter) -> list[bytes]:
    """RFC 9162 §2.1.3.1 PATH(index, D[start:end]), index absolute."""
    n = end - start
    if n <= 1:
        return []
    k = _split(n)
    if index - start < k:
        return [*inclusion(index, start, start + k, get), mth(start + k, end, get)]
    return [*inclusion(index, start + k, end, get), mth(start, start + k, get)]


def consistency(first: int, second: int, get: Getter) -> list[bytes]:
    """RFC 9162 §2.1.4.1 PROOF(first, D[second])."""
    if first <= 0 or first >= second:
        return []
    return _subproof(first, 0, second, True, get)


def _subproof(m: int, start: int, end: int, whole: bool, get: Getter) -> list[bytes]:
    n = end - start
    if m == n:
        return [] if whole else [mth(start, end, get)]
    k = _split(n)
    if m <= k:
        return [*_subproof(m, start, start + k, whole, get), mth(start + k, end, get)]
    return [*_subproof(m - k, start + k, end, False, get), mth(start, start + k, get)]


def with_stored_nodes(compute: Callable[[Getter], T]) -> T:
    """Run `compute` against the stored nodes, fetching all it needs in one query."""
    wanted: set[tuple[int, int]] = set()

    def record(level: int, index: int) -> bytes:
        wanted.add((level, index))
        return bytes(32)

    compute(record)
    nodes = fetch_nodes(wanted)
    return compute(lambda level, index: nodes[(level, index)])


def fetch_nodes(wanted: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    wanted = sorted(set(wanted))
    if not wanted:
        return {}
    # One statement, `(level, index) IN (VALUES …)` (row values: PostgreSQL and SQLite alike):
    # an OR of a filter a node cost the ORM more to build than the database to answer.
    quote = connection.ops.quote_name
    table = quote(LogNode._meta.db_table)
    level, index, value = (
        quote(LogNode._meta.get_field(f).column) for f in ("level", "index", "hash")
    )
    pairs = ", ".join(["(CAST(%s AS BIGINT), CAST(%s AS BIGINT))"] * len(wanted))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {level}, {index}, {value} FROM {table} "  # noqa: S608 (names, not values)
            f"WHERE ({level}, {index}) IN (VALUES {pairs})",
            [number for node in wanted for number in node],
        )
        found = {(node_level, node_index): bytes(h) for node_level, node_index, h in cursor}
    missing = set(wanted) - set(found)
    if missing:
        raise LookupError(f"the log is missing {len(missing)} subtree node(s)")
    return found


def frontier(size: int) -> list[tuple[int, int]]:
    """The complete subtrees along the right edge of a tree of `size` leaves."""
    return [(level, (size >> level) - 1) for level in range(size.bit_length()) if size >> level & 1]


def new_nodes(size: int, leaf_hashes: Sequence[bytes], get: Getter) -> list[tuple[int, int, bytes]]:
    """The nodes completed by appending `leaf_hashes` to a tree of `size` leaves.

    Older nodes are read through `get`; only the frontier of `size` is ever asked for.
    """
    made: dict[tuple[int, int], bytes] = {}

    def node(level: int, index: int) -> bytes:
        return made[(level, index)] if (level, index) in made else get(level, index)

    for offset, value in enumerate(leaf_hashes):
        position = size + offset
        made[(0, position)] = value
        level, count = 0, position + 1
        while count % (1 << (level + 1)) == 0:
            level += 1
            index = (count >> level) - 1
            made[(level, index)] = verify.node_hash(
                node(level - 1, 2 * index), node(level - 1, 2 * index + 1)
            )
    return [(level, index, value) for (level, index), value in made.items()]
