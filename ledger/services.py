"""Writes of the ledger: issuing receipts into the log, and signing checkpoints."""

import base64
import secrets
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import rfc8785
import structlog
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists
from django.utils import timezone

from core import bulk
from core.errors import ApplicationError, Conflict
from ledger import selectors, tree, verify
from ledger.audit import AuditReport, audit_log
from ledger.keys import Signer, signer
from ledger.models import (
    AuditRun,
    Checkpoint,
    LogHead,
    LogLeaf,
    LogNode,
    Receipt,
    SigningKey,
)
from ledger.receipts import VERSION, ReceiptInvalid, canonical, validate

log = structlog.get_logger(__name__)


class ReceiptRefused(ApplicationError):
    code = "receipt_invalid"


def utc_time(moment: datetime) -> str:
    """RFC 3339 in UTC with `Z` and at most microseconds, as receipts write times."""
    text = moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")
    return text.removesuffix(".000000") + "Z"


@dataclass(frozen=True)
class Opening:
    """What a subject needs to open their commitment: given to them, never kept."""

    nonce: bytes
    id_type: str

    def as_dict(self) -> dict[str, str]:
        return {"nonce": base64.b64encode(self.nonce).decode(), "id_type": self.id_type}


def subject_commitment(*, id_type: str, normalized: str) -> tuple[str, Opening]:
    """A hiding commitment to the subject's identifier, with a fresh nonce."""
    nonce = secrets.token_bytes(32)
    return verify.commitment(nonce, id_type, normalized), Opening(nonce=nonce, id_type=id_type)


# A receipt's columns in the model's order: `Receipt.from_db` builds it positionally.
RECEIPT_FIELDS = ["receipt_id", "type", "leaf_index", "payload", "signature", "key_id", "issued_at"]


def receipts_issue(
    *, bodies: Sequence[dict[str, Any]], now: datetime | None = None, checkpoint: bool = False
) -> list[Receipt]:
    """Sign receipts and append them to the log, in the caller's transaction.

    Each body is a receipt without the common header (`v`, `receipt_id`, `issuer`,
    `issued_at`), which is filled in here. A receipt exists if and only if the caller's
    transaction commits; appends are serialized by a row lock on the log head. `checkpoint`:
    also sign the log at its new size, as `checkpoint_for` would (for receipts handed to
    someone at once), from the nodes the append has in hand.
    """
    if not bodies:
        return []
    key = signer()
    issued_at = utc_time(now or datetime.now(UTC))
    payloads: list[tuple[dict[str, Any], bytes]] = []
    ids = [uuid.uuid4() for _ in bodies]
    for receipt_id, body in zip(ids, bodies, strict=True):
        payload = {
            **body,
            "v": VERSION,
            "receipt_id": str(receipt_id),
            "issuer": key.name,
            "issued_at": issued_at,
        }
        try:
            validate(payload)
        except ReceiptInvalid as exc:
            # The field is named; its value is not echoed, since it may be what was refused.
            raise ReceiptRefused(
                f"The receipt is refused: {exc.field} {exc.reason}.", fields={exc.field: exc.reason}
            ) from None
        payloads.append((payload, canonical(payload)))

    together = _together.get()
    if together is not None and together.depth != len(connection.savepoint_ids):
        # Inside a savepoint of its own (a nested service's): what the block holds so far is
        # written first, then this, now, so that it rolls back with its savepoint.
        together.write()
        together = None
    # No savepoint when nested (every receipt would pay two round trips for it): nothing in
    # the block is caught and carried on from.
    with transaction.atomic(savepoint=False):
        if together is not None and together.append is None:
            together.append = _Append.begin(key)
            together.check(together.append.head.size)
        append = together.append if together is not None else _Append.begin(key)
        start = append.add([signed for _, signed in payloads])
        append.checkpoint |= checkpoint
        issued = datetime.fromisoformat(issued_at.replace("Z", "+00:00"))
        key_id = key.key_id_hex
        rows: list[tuple] = []

        def signed_rows() -> Iterator[tuple]:
            # Signed as COPY sends them: the database stores the first receipts on its own
            # core while this one signs the rest.
            for i, (payload, signed) in enumerate(payloads):
                row = (ids[i], payload["type"], start + i, signed, key.sign(signed), key_id, issued)
                rows.append(row)
                yield row

        if together is None:
            append.write(signed_rows())
        else:
            append.receipts.extend(signed_rows())
        receipts = [Receipt.from_db("default", RECEIPT_FIELDS, row) for row in rows]
    log.info("ledger.receipts_issued", count=len(receipts), first_index=start)
    return receipts


@dataclass
class _Append:
    """An append to the log under the head's lock: the size it has reached, the nodes it knows
    (the frontier it read and every node it made) and the rows it has yet to write."""

    key: Signer
    head: LogHead
    size: int
    known: dict[tuple[int, int], bytes]
    leaves: list[tuple] = field(default_factory=list)
    nodes: list[tuple[int, int, bytes]] = field(default_factory=list)
    receipts: list[tuple] = field(default_factory=list)
    checkpoint: bool = False

    @classmethod
    def begin(cls, key: Signer) -> "_Append":
        head = _head_locked(key)
        if not head.key_known:
            _register_key(key, head.size)
        known = tree.fetch_nodes(tree.frontier(head.size))
        return cls(key=key, head=head, size=head.size, known=known)

    def add(self, signed: list[bytes]) -> int:
        """Place these signed payloads next in the log; returns the first one's index."""
        start = self.size
        leaves = [verify.leaf_input(payload) for payload in signed]
        nodes = tree.new_nodes(
            start, [verify.leaf_hash(leaf) for leaf in leaves], lambda *at: self.known[at]
        )
        self.known.update(((level, index), value) for level, index, value in nodes)
        appended = timezone.now()
        self.leaves += [(start + i, leaf, appended) for i, leaf in enumerate(leaves)]
        self.nodes += nodes
        self.size += len(signed)
        return start

    def write(self, receipts: Iterable[tuple]) -> None:
        """Its leaves, nodes and `receipts`, the head's new size and, if asked for, the
        checkpoint at that size, signed from the nodes in hand."""
        bulk.insert_rows(LogLeaf, ["index", "leaf", "appended_at"], self.leaves)
        bulk.insert_rows(LogNode, ["level", "index", "hash"], self.nodes)
        bulk.insert_rows(Receipt, RECEIPT_FIELDS, receipts)
        self.head.size = self.size
        self.head.save(update_fields=["size"])
        if self.checkpoint:
            root = tree.mth(0, self.size, lambda *at: self.known[at])
            # No checkpoint of this size can exist: the size is new, and the head is locked.
            note = checkpoint_note(size=self.size, root=root, key=self.key)
            Checkpoint.objects.create(
                size=self.size, root=root, note=note, key_id=self.key.key_id_hex
            )


class LogRolledBack(Exception):
    """Receipts a block wrote ahead, inside a savepoint, went when the savepoint rolled back:
    their callers hold receipts the log no longer has, so the transaction must not commit."""


@dataclass
class _Together:
    """The append that `receipts_appended_together` holds open, the savepoint depth it was
    opened at, and the log's size after what it wrote ahead (inside a deeper savepoint)."""

    depth: int
    append: _Append | None = None
    written: int = 0

    def write(self) -> None:
        if self.append is not None:
            self.append.write(self.append.receipts)
            self.written = self.append.size
            self.append = None

    def check(self, size: int) -> None:
        if size < self.written:
            raise LogRolledBack("Receipts written ahead in a savepoint were rolled back.")


_together: ContextVar[_Together | None] = ContextVar("ledger_receipts_together", default=None)


@contextmanager
def receipts_appended_together() -> Iterator[None]:
    """Inside the block (in the caller's transaction), `receipts_issue` signs receipts and gives
    them their places in the log at once, but they are written when the block ends: one append
    for all (a checkpoint at its end if any call asked for one), not one a call. A block inside
    another is part of it; one left by an exception writes nothing, as its transaction rolls
    back. What reads the log back from the database does so after the block.

    A call inside a savepoint opened in the block (a nested service's) writes what the block
    holds and then its own receipts at once, so that they roll back with that savepoint; if it
    does roll back, the block's next append or its end raises `LogRolledBack` rather than let
    the transaction commit with receipts the log no longer has."""
    if _together.get() is not None:
        yield
        return
    together = _Together(depth=len(connection.savepoint_ids))
    token = _together.set(together)
    try:
        yield
    finally:
        _together.reset(token)
    if together.append is None and together.written:
        together.check(selectors.log_size())
    together.write()


def _head_locked(key: Signer) -> LogHead:
    """The log head under its row lock, with whether `key` is registered (`key_known`): one
    round trip for both on every append but the log's first."""
    known = Exists(SigningKey.objects.filter(key_id=key.key_id_hex))
    head = LogHead.objects.select_for_update().annotate(key_known=known).filter(id=1).first()
    if head is None:  # an empty log's first append
        head = LogHead.objects.select_for_update().get_or_create(id=1)[0]
        head.key_known = SigningKey.objects.filter(key_id=key.key_id_hex).exists()
    return head


def document_sign(
    *, type: str, body: dict[str, Any], now: datetime | None = None
) -> dict[str, str]:
    """A signed document that attests no action, such as a report: the receipt envelope
    (RECEIPTS.md §2) over `{"v", "type", "document_id", "issuer", "issued_at", **body}` in JCS,
    signed with the log's key but not appended to the log. `ledger.verify report` checks it."""
    key = signer()
    payload = {
        **body,
        "v": VERSION,
        "type": type,
        "document_id": str(uuid.uuid4()),
        "issuer": key.name,
        "issued_at": utc_time(now or datetime.now(UTC)),
    }
    signed = rfc8785.dumps(payload)
    return {
        "payload": base64.b64encode(signed).decode(),
        "sig": base64.b64encode(key.sign(signed)).decode(),
        "kid": key.key_id_hex,
    }


def _register_key(key: Signer, first_index: int) -> None:
    """Publish the signing key the first time it signs (the caller found it unregistered);
    close the previous key's range."""
    previous = SigningKey.objects.filter(last_index__isnull=True).first()
    if previous is not None:
        previous.last_index = first_index - 1
        previous.save(update_fields=["last_index"])
    SigningKey.objects.create(
        key_id=key.key_id_hex,
        name=key.name,
        public_key=key.public_key,
        verifier_key=key.verifier_key,
        first_index=first_index,
    )
    log.info("ledger.key_registered", key_id=key.key_id_hex, first_index=first_index)


def checkpoint_note(*, size: int, root: bytes, key: Signer) -> str:
    body = verify.checkpoint_body(key.name, size, root)
    signature = base64.b64encode(key.key_id + key.sign(body)).decode()
    return body.decode() + f"\n\u2014 {key.name} {signature}\n"


def checkpoint_store(*, size: int, root: bytes, note: str, key_id: str) -> Checkpoint:
    """Keep a checkpoint; one of the same size with another root is refused."""
    try:
        with transaction.atomic():
            return Checkpoint.objects.create(size=size, root=root, note=note, key_id=key_id)
    except IntegrityError:  # one of this size is kept already (or was, a moment ago)
        pass
    existing = Checkpoint.objects.get(size=size)
    if bytes(existing.root) != root:
        log.error("ledger.checkpoint_fork_refused", size=size)
        raise Conflict(
            "A checkpoint of this size with another root exists.", code="checkpoint_fork"
        )
    return existing


def checkpoint_create(*, latest: Checkpoint | None = None) -> Checkpoint | None:
    """Sign the log at its current size (None while it is empty). `latest`: the latest
    checkpoint, when the caller has just read it."""
    size = LogHead.objects.filter(id=1).values_list("size", flat=True).first() or 0
    if size == 0:
        return None
    latest = latest or selectors.latest_checkpoint()
    if latest is not None and latest.size == size:
        return latest
    root = tree.with_stored_nodes(lambda get: tree.mth(0, size, get))
    key = signer()
    note = checkpoint_note(size=size, root=root, key=key)
    return checkpoint_store(size=size, root=root, note=note, key_id=key.key_id_hex)


def checkpoint_for(*, index: int) -> Checkpoint:
    """A checkpoint that includes leaf `index`: the latest if it does, else one signed now.

    A write: the services that hand a receipt to someone at once (an erasure request's closing,
    a consent event answered with its receipt) call it, so the proof is ready; reads never sign.
    """
    latest = selectors.latest_checkpoint()
    if latest is None or latest.size <= index:
        latest = checkpoint_create(latest=latest)
    if latest is None or latest.size <= index:
        raise ApplicationError("That leaf is not in the log yet.", code="not_in_log")
    return latest


def log_audit_run(
    *, clock: Callable[[], datetime] = timezone.now, progress: Callable[[int], None] | None = None
) -> tuple[AuditReport, AuditRun]:
    """Audit the log and record the outcome, so staff see when it last passed. `progress` is
    handed to `audit_log` (leaves checked so far).

    An audit that fails with an exception is recorded as failed before the exception goes on:
    a monitor must never read a crash as "no news".
    """
    started_at = clock()
    try:
        # Passed only when given, so a stand-in audit_log (tests) need not take it.
        report = audit_log() if progress is None else audit_log(progress=progress)
    except Exception as exc:
        AuditRun.objects.create(
            started_at=started_at,
            finished_at=clock(),
            ok=False,
            problems=1,
            problem=f"error: {type(exc).__name__}",
        )
        raise
    run = AuditRun.objects.create(
        started_at=started_at,
        finished_at=clock(),
        ok=report.ok,
        leaves=report.size,
        checkpoints=report.checkpoints,
        receipts=report.receipts,
        problems=len(report.problems),
        problem=report.problems[0][:300] if report.problems else "",
    )
    return report, run
