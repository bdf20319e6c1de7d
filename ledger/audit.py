"""Recompute the log from its stored leaves and check everything stored against it.

Reads leaves, level-0 nodes and receipts in index order, in chunks, so memory stays flat
whatever the log's size.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from ledger import selectors, verify
from ledger.models import Checkpoint, LogLeaf, LogNode, Receipt, SigningKey

CHUNK = 10_000
# Leaves between calls of an audit's `progress` callback.
PROGRESS_EVERY = 1000


@dataclass
class AuditReport:
    size: int = 0
    checkpoints: int = 0
    receipts: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _chunks(queryset, *fields) -> Iterator[tuple]:
    last = -1
    while True:
        rows = list(queryset.filter(index__gt=last).order_by("index").values_list(*fields)[:CHUNK])
        if not rows:
            return
        yield from rows
        last = rows[-1][0]


def _fold(stack: list[tuple[int, bytes]]) -> bytes:
    """The RFC 9162 root of the complete subtrees on the stack (largest first)."""
    if not stack:
        return verify.root_hash([])
    root = stack[-1][1]
    for _, left in reversed(stack[:-1]):
        root = verify.node_hash(left, root)
    return root


def audit_log(*, progress: Callable[[int], None] | None = None) -> AuditReport:
    """Audit the whole log. `progress`, if given, is called with the number of leaves checked
    so far, every PROGRESS_EVERY leaves and once at the end of the leaves."""
    report = AuditReport(size=selectors.log_size())
    keys = {k.key_id: verify.parse_verifier_key(k.verifier_key) for k in SigningKey.objects.all()}
    checkpoints = list(Checkpoint.objects.order_by("size"))
    due = iter(checkpoints)
    next_checkpoint = next(due, None)
    roots: dict[int, bytes] = {}
    inner: dict[tuple[int, int], bytes] = {}  # recomputed, not yet compared with the stored

    stack: list[tuple[int, bytes]] = []
    expected = 0
    level0 = _chunks(LogNode.objects.filter(level=0), "index", "hash")
    receipts = Receipt.objects.order_by("leaf_index").iterator(chunk_size=CHUNK)
    receipt = next(receipts, None)
    for index, leaf in _chunks(LogLeaf.objects.all(), "index", "leaf"):
        if index != expected:
            report.problems.append(f"index {expected}: missing leaf (next stored is {index})")
            break
        expected += 1
        value = verify.leaf_hash(bytes(leaf))
        node = next(level0, None)
        if node is None or node[0] != index or bytes(node[1]) != value:
            report.problems.append(f"index {index}: leaf does not match its stored hash")
        while receipt is not None and receipt.leaf_index <= index:
            report.receipts += 1
            _audit_receipt(
                receipt, bytes(leaf) if receipt.leaf_index == index else None, keys, report
            )
            receipt = next(receipts, None)
        stack.append((1, value))
        while len(stack) > 1 and stack[-1][0] == stack[-2][0]:
            (size, right), (_, left) = stack.pop(), stack.pop()
            stack.append((size * 2, verify.node_hash(left, right)))
            level = (size * 2).bit_length() - 1
            inner[(level, (index + 1) // (size * 2) - 1)] = stack[-1][1]
        if len(inner) >= CHUNK:
            _audit_inner_nodes(inner, report)
        while next_checkpoint is not None and next_checkpoint.size == expected:
            roots[expected] = _fold(stack)
            next_checkpoint = next(due, None)
        if progress is not None and expected % PROGRESS_EVERY == 0:
            progress(expected)
    if progress is not None:
        progress(expected)
    _audit_inner_nodes(inner, report)
    if expected != report.size:
        report.problems.append(f"index {expected}: the log head says {report.size} leaves")
    if report.size and report.problems == []:
        stored = selectors.root_at(report.size)
        if stored != _fold(stack):
            report.problems.append(f"size {report.size}: stored subtree hashes give another root")

    latest = checkpoints[-1] if checkpoints else None
    for checkpoint in checkpoints:
        report.checkpoints += 1
        _audit_checkpoint(checkpoint, roots, keys, latest, report)
    while receipt is not None:  # receipts beyond the last leaf
        report.receipts += 1
        _audit_receipt(receipt, None, keys, report)
        receipt = next(receipts, None)
    return report


def _audit_inner_nodes(inner: dict[tuple[int, int], bytes], report: AuditReport) -> None:
    """Compare recomputed subtree hashes with the stored ones, a level at a time."""
    by_level: dict[int, list[int]] = {}
    for level, index in inner:
        by_level.setdefault(level, []).append(index)
    for level, indexes in by_level.items():
        stored = dict(
            LogNode.objects.filter(
                level=level, index__gte=min(indexes), index__lte=max(indexes)
            ).values_list("index", "hash")
        )
        for index in sorted(indexes):
            if bytes(stored.get(index, b"")) != inner[(level, index)]:
                first = index << level
                report.problems.append(
                    f"index {first}: stored subtree hash {level}/{index} differs from the "
                    "recomputed one"
                )
    inner.clear()


def _audit_checkpoint(checkpoint, roots, keys, latest, report: AuditReport) -> None:
    where = f"checkpoint {checkpoint.size}"
    try:
        note = verify.parse_checkpoint(checkpoint.note, list(keys.values()))
    except verify.VerificationError as exc:
        report.problems.append(f"{where}: signature does not verify ({exc.check})")
        return
    if note.size != checkpoint.size or note.root != bytes(checkpoint.root):
        report.problems.append(f"{where}: the note does not match the stored root")
    if checkpoint.size not in roots:
        report.problems.append(f"{where}: beyond the log's leaves")
    elif roots[checkpoint.size] != bytes(checkpoint.root):
        report.problems.append(f"{where}: root differs from the recomputed tree")
    if latest is not None and checkpoint.size < latest.size and checkpoint.size in roots:
        path = selectors.consistency_proof(first=checkpoint.size, second=latest.size)
        if not verify.verify_consistency(
            checkpoint.size, latest.size, bytes(checkpoint.root), bytes(latest.root), path
        ):
            report.problems.append(f"{where}: not consistent with checkpoint {latest.size}")


def _audit_receipt(receipt: Receipt, leaf: bytes | None, keys, report: AuditReport) -> None:
    where = f"index {receipt.leaf_index}"
    key = keys.get(receipt.key_id)
    if key is None:
        report.problems.append(f"{where}: receipt signed by an unpublished key")
        return
    try:
        verify.open_envelope(selectors.envelope(receipt), key)
    except verify.VerificationError as exc:
        report.problems.append(f"{where}: receipt does not verify ({exc.check})")
        return
    if leaf is None or leaf != verify.leaf_input(bytes(receipt.payload)):
        report.problems.append(f"{where}: receipt is not the leaf stored at its index")
