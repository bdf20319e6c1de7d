"""Reads of the ledger: roots, proofs, leaves, receipts and bundles."""

import base64
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from core.errors import ApplicationError, NotFound
from ledger import tree, verify
from ledger.models import AuditRun, Checkpoint, LogHead, LogLeaf, Receipt, SigningKey

PROOF_HEADER = "c2sp.org/tlog-proof@v1"
MAX_LEAVES = 1000


class InvalidRange(ApplicationError):
    code = "invalid_range"


class CheckpointPending(ApplicationError):
    """No signed checkpoint includes the receipt yet. Reads never sign one: Celery beat signs
    every `LUP_CHECKPOINT_SECONDS`, and so do the services that hand receipts out at once."""

    code = "checkpoint_pending"
    status_code = 409


def log_size() -> int:
    return LogHead.objects.filter(id=1).values_list("size", flat=True).first() or 0


def latest_checkpoint() -> Checkpoint | None:
    return Checkpoint.objects.order_by("-size").first()


def checkpoint_covering(index: int) -> Checkpoint | None:
    """The latest checkpoint if it includes leaf `index`, else None (never signs one)."""
    latest = latest_checkpoint()
    return latest if latest is not None and latest.size > index else None


def latest_audit_run() -> AuditRun | None:
    """The last `ledger_audit` outcome (None if the command never ran)."""
    return AuditRun.objects.order_by("-finished_at", "-id").first()


def b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def root_at(size: int) -> bytes:
    return tree.with_stored_nodes(lambda get: tree.mth(0, size, get))


def inclusion_proof(*, index: int, size: int) -> list[bytes]:
    if not 0 <= index < size <= log_size():
        raise InvalidRange("Need 0 <= index < size <= the log's size.")
    return tree.with_stored_nodes(lambda get: tree.inclusion(index, 0, size, get))


def consistency_proof(*, first: int, second: int) -> list[bytes]:
    if not 0 < first <= second <= log_size():
        raise InvalidRange("Need 0 < first <= second <= the log's size.")
    return tree.with_stored_nodes(lambda get: tree.consistency(first, second, get))


def leaves(*, start: int, end: int) -> list[bytes]:
    if not 0 <= start < end <= log_size() or end - start > MAX_LEAVES:
        raise InvalidRange(f"Need 0 <= start < end <= the log's size, at most {MAX_LEAVES}.")
    return [
        bytes(leaf)
        for leaf in LogLeaf.objects.filter(index__gte=start, index__lt=end)
        .order_by("index")
        .values_list("leaf", flat=True)
    ]


def receipt_get(*, receipt_id: uuid.UUID) -> Receipt:
    receipt = Receipt.objects.filter(receipt_id=receipt_id).first()
    if receipt is None:
        raise NotFound("No such receipt.", code="unknown_receipt")
    return receipt


def receipts_by_id(ids) -> dict[uuid.UUID, Receipt]:
    return Receipt.objects.in_bulk(list(ids), field_name="receipt_id")


def receipt_leaves(ids, *, known: Iterable[Receipt] = ()) -> dict[uuid.UUID, str]:
    """Each receipt's leaf hash in the log (base64), as a closing receipt lists its targets'.
    `known`: receipts the caller holds already (just issued), not read again."""
    wanted = set(ids)
    receipts = {receipt.receipt_id: receipt for receipt in known if receipt.receipt_id in wanted}
    if wanted - receipts.keys():
        receipts |= receipts_by_id(wanted - receipts.keys())
    return {
        receipt_id: b64(verify.leaf_hash(verify.leaf_input(bytes(receipt.payload))))
        for receipt_id, receipt in receipts.items()
    }


def receipts_in_log_order(ids) -> list[Receipt]:
    return list(Receipt.objects.filter(receipt_id__in=list(ids)).order_by("leaf_index"))


def envelope(receipt: Receipt) -> dict[str, str]:
    return {
        "payload": b64(bytes(receipt.payload)),
        "sig": b64(bytes(receipt.signature)),
        "kid": receipt.key_id,
    }


def proof_file(*, receipt: Receipt, checkpoint: Checkpoint) -> str:
    """The C2SP tlog-proof for a receipt against a checkpoint that includes it."""
    path = inclusion_proof(index=receipt.leaf_index, size=checkpoint.size)
    lines = [PROOF_HEADER, f"index {receipt.leaf_index}", *(b64(h) for h in path)]
    return "\n".join(lines) + "\n\n" + checkpoint.note


def receipt_document(receipt: Receipt, *, checkpoint: Checkpoint | None = None) -> dict[str, Any]:
    """A receipt's envelope and proof file, against `checkpoint` or the latest one, which must
    include it (`CheckpointPending` otherwise)."""
    checkpoint = checkpoint or checkpoint_covering(receipt.leaf_index)
    if checkpoint is None or checkpoint.size <= receipt.leaf_index:
        raise CheckpointPending(
            "The receipt is in the log, but no signed checkpoint includes it yet; try again in "
            "a few minutes."
        )
    return {
        "receipt_id": str(receipt.receipt_id),
        "type": receipt.type,
        "index": receipt.leaf_index,
        "envelope": envelope(receipt),
        "proof": proof_file(receipt=receipt, checkpoint=checkpoint),
    }


def published_keys() -> list[dict[str, Any]]:
    return [
        {
            "verifier_key": key.verifier_key,
            "key_id": key.key_id,
            "first_index": key.first_index,
            "last_index": key.last_index,
        }
        for key in SigningKey.objects.order_by("first_index")
    ]


def bundle(
    *,
    receipts: Sequence[Receipt],
    checkpoint: Checkpoint,
    verifier_key: str,
    opening: dict[str, str],
    manifests: dict[str, list[dict[str, str]]] | None = None,
) -> dict[str, Any]:
    """What a subject receives: receipts with proofs against one checkpoint, the opening of
    their commitment, and the manifest of each receipt with `shards` (by receipt id)."""
    delivered = {
        "format": "lup-bundle/1",
        "verifier_key": verifier_key,
        "receipts": [
            {"envelope": envelope(r), "proof": proof_file(receipt=r, checkpoint=checkpoint)}
            for r in receipts
        ],
        "opening": opening,
    }
    if manifests:
        delivered["manifests"] = manifests
    return delivered
