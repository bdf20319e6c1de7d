"""Offline verifier for Lup's signed receipts and transparency log (format v1).

The format is fixed by `shared/RECEIPTS.md`: Ed25519 over RFC 8785 (JCS) payloads, an RFC 9162
Merkle tree of receipt leaves, C2SP signed-note checkpoints and `c2sp.org/tlog-proof@v1` proof
files. This one file needs only the Python standard library, `cryptography` and `rfc8785`, so an
auditor can copy it and run it without the rest of Lup:

    python verify.py bundle bundle.json --key 'lup.example.org/receipts+8286d481+AQOh...'
    python verify.py checkpoint checkpoint.txt --key @verifier-key.txt
    python verify.py consistency old.txt new.txt --proof consistency.json --key @verifier-key.txt

The server imports it too, so these functions are the single definition of leaf and node hashes,
commitments and proof checks. Every check that fails raises `VerificationError` naming the check.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import re
import sys
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

RECEIPT_VERSION = "lup-receipt/1"
BUNDLE_FORMAT = "lup-bundle/1"
PROOF_HEADER = "c2sp.org/tlog-proof@v1"
LEAF_PREFIX = b"lup-receipt-leaf/v1\n"
COMMITMENT_PREFIX = b"lup-subject/v1\x00"
HASH_SIZE = 32
NONCE_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

# C2SP signed-note constants: the Ed25519 algorithm byte, and the prefix of a signature line
# (U+2014 EM DASH and a space).
_ALG_ED25519 = 0x01
_SIG_PREFIX = "\u2014 "
# Limits that bound work on hostile input. A tree of fewer than 2**64 leaves has audit paths of
# at most 64 hashes; Go's `note` package accepts at most 100 signatures on a note.
_MAX_SIZE = 2**64 - 1
_MAX_PATH = 64
_MAX_SIGNATURES = 100

_DECIMAL = re.compile(r"0|[1-9][0-9]{0,19}", re.ASCII)
_B64 = re.compile(r"[A-Za-z0-9+/]*={0,2}", re.ASCII)
_KEY_ID_HEX = re.compile(r"[0-9a-f]{8}", re.ASCII)
_E164 = re.compile(r"\+[1-9][0-9]{1,14}", re.ASCII)


class VerificationError(Exception):
    """A check failed; `check` names it (for example "envelope.signature", "proof.inclusion")."""

    def __init__(self, check: str, reason: str) -> None:
        super().__init__(f"{check}: {reason}")
        self.check = check
        self.reason = reason


# --- Merkle tree (RFC 9162 §2.1) ----------------------------------------------------------------


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def leaf_input(payload: bytes) -> bytes:
    """The 52-byte log leaf of a receipt: LEAF_PREFIX followed by SHA-256 of its payload bytes."""
    return LEAF_PREFIX + _sha256(payload)


def leaf_hash(leaf: bytes) -> bytes:
    """RFC 9162 leaf hash: SHA-256(0x00 || leaf)."""
    return _sha256(b"\x00" + leaf)


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 interior node hash: SHA-256(0x01 || left || right)."""
    return _sha256(b"\x01" + left + right)


def _split(n: int) -> int:
    """The largest power of two smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _mth(hashes: Sequence[bytes], start: int, end: int) -> bytes:
    # Index bounds instead of slices, so an audit over a large log copies nothing.
    n = end - start
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return hashes[start]
    k = _split(n)
    return node_hash(_mth(hashes, start, start + k), _mth(hashes, start + k, end))


def root_hash(leaf_hashes: Sequence[bytes]) -> bytes:
    """RFC 9162 Merkle Tree Hash over already-hashed leaves (the empty tree is SHA-256 of "")."""
    return _mth(leaf_hashes, 0, len(leaf_hashes))


def inclusion_path(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """RFC 9162 §2.1.3.1 audit path PATH(index, D[n]), leaf end first."""
    if not 0 <= index < len(leaf_hashes):
        raise ValueError(f"index {index} is outside a tree of size {len(leaf_hashes)}")
    path: list[bytes] = []
    start, end, m = 0, len(leaf_hashes), index
    while end - start > 1:
        k = _split(end - start)
        if m < k:
            path.append(_mth(leaf_hashes, start + k, end))
            end = start + k
        else:
            path.append(_mth(leaf_hashes, start, start + k))
            start, m = start + k, m - k
    # Built from the root down; the RFC lists it from the leaf up.
    path.reverse()
    return path


def consistency_path(leaf_hashes: Sequence[bytes], first: int) -> list[bytes]:
    """RFC 9162 §2.1.4.1 consistency proof PROOF(first, D[n]) from the tree of size `first`.

    The RFC defines a proof for 0 < first < n only; for first == 0 or first == n the proof is empty.
    """
    n = len(leaf_hashes)
    if not 0 <= first <= n:
        raise ValueError(f"size {first} is outside 0..{n}")
    if first in (0, n):
        return []
    path: list[bytes] = []
    start, end, m, whole = 0, n, first, True
    while m != end - start:
        k = _split(end - start)
        if m <= k:
            path.append(_mth(leaf_hashes, start + k, end))
            end = start + k
        else:
            path.append(_mth(leaf_hashes, start, start + k))
            start, m, whole = start + k, m - k, False
    if not whole:
        # SUBPROOF(m, D[m], false) = {MTH(D[m])}: the old subtree's own hash is needed.
        path.append(_mth(leaf_hashes, start, end))
    path.reverse()
    return path


def _hashes_ok(*values: bytes) -> bool:
    return all(isinstance(v, bytes) and len(v) == HASH_SIZE for v in values)


def verify_inclusion(
    index: int, size: int, leaf_hash: bytes, path: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2: does `path` prove `leaf_hash` at `index` in the tree `root` of `size`?"""
    if not _hashes_ok(leaf_hash, root, *path) or index < 0:
        return False
    # Step 1.
    if index >= size:
        return False
    # Steps 2 and 3.
    fn, sn, r = index, size - 1, leaf_hash
    # Step 4.
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    # Step 5.
    return sn == 0 and r == root


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, path: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2: is the tree `first_root` of size `first` a prefix of `second_root`?

    The RFC's algorithm covers 0 < first < second. Outside it: equal sizes need an empty path and
    equal roots; the empty tree is a prefix of every tree, so first == 0 needs an empty path and
    the empty tree's root; first > second is never consistent.
    """
    if not _hashes_ok(first_root, second_root, *path) or first < 0 or first > second:
        return False
    if first == second:
        return not path and first_root == second_root
    if first == 0:
        return not path and first_root == EMPTY_ROOT
    # Step 1.
    if not path:
        return False
    # Step 2.
    hashes = list(path)
    if first & (first - 1) == 0:
        hashes.insert(0, first_root)
    # Steps 3 and 4.
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # Step 5.
    fr = sr = hashes[0]
    # Step 6.
    for c in hashes[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    # Step 7.
    return fr == first_root and sr == second_root and sn == 0


# --- Encodings ------------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64decode(text: object, check: str, what: str, size: int | None = None) -> bytes:
    """Standard padded base64 in its one canonical form, else VerificationError(check)."""
    if not isinstance(text, str) or not _B64.fullmatch(text):
        raise VerificationError(check, f"{what} is not base64")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise VerificationError(check, f"{what} is not base64") from None
    # Re-encoding catches set padding bits: a decoder would ignore them, so without this check
    # several texts would stand for one signature or hash, and an edit to one would go unseen.
    if _b64(data) != text:
        raise VerificationError(check, f"{what} is not in canonical base64")
    if size is not None and len(data) != size:
        raise VerificationError(check, f"{what} is {len(data)} bytes, not {size}")
    return data


def _decimal(text: str, check: str, what: str) -> int:
    if not _DECIMAL.fullmatch(text) or int(text) > _MAX_SIZE:
        raise VerificationError(check, f"{what} {_show(text)} is not a plain decimal number")
    return int(text)


def _show(value: object, limit: int = 80) -> str:
    """A value from a signed payload or a file, made safe to print on a terminal."""
    # Signed does not mean harmless: escape control characters so a payload cannot drive the
    # auditor's terminal (escape sequences, carriage returns overwriting earlier lines).
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = "".join(c if unicodedata.category(c)[0] != "C" else f"\\u{ord(c):04x}" for c in text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _text_ok(text: str) -> bool:
    """Encodable as UTF-8, with no control character other than newline."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return not any(c != "\n" and unicodedata.category(c) == "Cc" for c in text)


# --- Keys (C2SP signed-note verifier keys) --------------------------------------------------------


def key_id(name: str, public_key: bytes) -> bytes:
    """C2SP key ID: the first 4 bytes of SHA-256(name || 0x0A || 0x01 || public key)."""
    return _sha256(name.encode("utf-8") + b"\n" + bytes([_ALG_ED25519]) + public_key)[:4]


def verifier_key_text(name: str, public_key: bytes) -> str:
    """The published verifier key: `<name>+<key ID, 8 hex>+<base64(0x01 || public key)>`."""
    if not _name_ok(name) or len(public_key) != 32:
        raise ValueError("a key name has no spaces or '+', and an Ed25519 public key is 32 bytes")
    encoded = _b64(bytes([_ALG_ED25519]) + public_key)
    return f"{name}+{key_id(name, public_key).hex()}+{encoded}"


def _name_ok(name: object) -> bool:
    # Go's note.isValidName: non-empty, no whitespace, no "+".
    return (
        isinstance(name, str)
        and name != ""
        and "+" not in name
        and not any(c.isspace() for c in name)
        and _text_ok(name)
    )


@dataclass(frozen=True)
class VerifierKey:
    """A pinned Ed25519 verifier key: its name (the log origin), 4-byte key ID and public key."""

    name: str
    key_id: bytes
    public_key: bytes

    def verify(self, signature: bytes, message: bytes) -> bool:
        """Whether `signature` is this key's Ed25519 signature of `message`."""
        if len(signature) != 64:
            return False
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True

    @property
    def text(self) -> str:
        """The verifier key text this key was parsed from."""
        return verifier_key_text(self.name, self.public_key)


def parse_verifier_key(text: str) -> VerifierKey:
    """Parse verifier key text `<name>+<8 hex>+<base64(0x01 || key)>`, checking its key ID."""
    if not isinstance(text, str):
        raise VerificationError("key", "the verifier key is not text")
    # The name cannot hold "+" but base64 can, so split on the first two only (as Go's note does).
    parts = text.split("+", 2)
    if len(parts) != 3:
        raise VerificationError("key", "a verifier key reads <name>+<key ID>+<base64 key>")
    name, hex_id, encoded = parts
    if not _name_ok(name):
        raise VerificationError("key", "the key name is empty or holds spaces or controls")
    if not _KEY_ID_HEX.fullmatch(hex_id):
        raise VerificationError("key", "the key ID is not 8 lower-case hex digits")
    raw = _b64decode(encoded, "key", "the public key", 33)
    if raw[0] != _ALG_ED25519:
        raise VerificationError("key", f"algorithm byte {raw[0]:#04x} is not Ed25519 (0x01)")
    public_key = raw[1:]
    if key_id(name, public_key) != bytes.fromhex(hex_id):
        raise VerificationError("key", "the key ID does not match the name and public key")
    try:
        Ed25519PublicKey.from_public_bytes(public_key)
    except ValueError:
        raise VerificationError("key", "not an Ed25519 public key") from None
    return VerifierKey(name=name, key_id=bytes.fromhex(hex_id), public_key=public_key)


# --- Checkpoints (C2SP tlog-checkpoint signed notes) ----------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """A verified checkpoint: the log's origin, tree size and root hash."""

    origin: str
    size: int
    root: bytes


def checkpoint_body(origin: str, size: int, root: bytes) -> bytes:
    """The signed part of a checkpoint: origin, size and base64 root, each ending in a newline."""
    return f"{origin}\n{size}\n{_b64(root)}\n".encode()


def parse_checkpoint(text: str, keys: Sequence[VerifierKey]) -> Checkpoint:
    """Parse a checkpoint note and verify it with `keys`; lines of unknown keys are ignored."""
    if not isinstance(text, str) or not _text_ok(text):
        raise VerificationError("checkpoint.format", "the note is not text without controls")
    split = text.find("\n\n")
    if split < 0:
        raise VerificationError("checkpoint.format", "no blank line before the signatures")
    body, signatures = text[: split + 1], text[split + 2 :]
    lines = body[:-1].split("\n")
    if len(lines) != 3:
        raise VerificationError(
            "checkpoint.format", "the body is not exactly three lines (origin, size, root)"
        )
    origin, size_text, root_text = lines
    if not origin:
        raise VerificationError("checkpoint.format", "the origin line is empty")
    size = _decimal(size_text, "checkpoint.format", "tree size")
    root = _b64decode(root_text, "checkpoint.format", "the root hash", HASH_SIZE)

    if not signatures or not signatures.endswith("\n"):
        raise VerificationError("checkpoint.format", "signature lines must each end in a newline")
    message = body.encode("utf-8")
    verified: list[VerifierKey] = []
    sig_lines = signatures[:-1].split("\n")
    if len(sig_lines) > _MAX_SIGNATURES:
        raise VerificationError("checkpoint.format", "too many signature lines")
    for line in sig_lines:
        if not line.startswith(_SIG_PREFIX):
            raise VerificationError(
                "checkpoint.format", "a line after the blank line is not a signature"
            )
        name, space, encoded = line[len(_SIG_PREFIX) :].partition(" ")
        if not space or not _name_ok(name):
            raise VerificationError("checkpoint.format", "a signature line has no valid key name")
        blob = _b64decode(encoded, "checkpoint.format", "a signature")
        if len(blob) < 5:
            raise VerificationError("checkpoint.format", "a signature is too short")
        for key in keys:
            if key.name == name and key.key_id == blob[:4]:
                # A known key whose signature fails is an error, not something to skip: the
                # note was altered or the log misbehaved (Go's note.Open does the same).
                if not key.verify(blob[4:], message):
                    raise VerificationError(
                        "checkpoint.signature",
                        f"the signature of key {name} ({key.key_id.hex()}) is not valid",
                    )
                verified.append(key)
    if not verified:
        raise VerificationError(
            "checkpoint.signature", "no signature by the pinned key is on this checkpoint"
        )
    # tlog-checkpoint: the origin line names the log, and the log's key carries that name.
    if not any(key.name == origin for key in verified):
        raise VerificationError(
            "checkpoint.origin", f"origin {_show(origin)} is not the name of the key that signed"
        )
    return Checkpoint(origin=origin, size=size, root=root)


# --- Proof files (c2sp.org/tlog-proof@v1) ---------------------------------------------------------


@dataclass(frozen=True)
class ProofFile:
    """A parsed proof file: leaf index, audit path (leaf end first) and checkpoint note text."""

    index: int
    path: list[bytes]
    checkpoint_text: str


def parse_proof_file(text: str) -> ProofFile:
    """Parse a proof file strictly (RECEIPTS.md §6); the checkpoint is not verified here."""
    if not isinstance(text, str):
        raise VerificationError("proof.format", "the proof file is not text")
    head, blank, checkpoint_text = text.partition("\n\n")
    lines = head.split("\n")
    if not blank or len(lines) < 2 or not checkpoint_text:
        raise VerificationError(
            "proof.format", "expected a header, an index, hashes, a blank line and a checkpoint"
        )
    if lines[0] != PROOF_HEADER:
        raise VerificationError("proof.format", f"the first line is not {PROOF_HEADER}")
    if not lines[1].startswith("index "):
        raise VerificationError("proof.format", "the second line is not 'index <n>'")
    index = _decimal(lines[1][len("index ") :], "proof.format", "leaf index")
    hashes = lines[2:]
    if len(hashes) > _MAX_PATH:
        raise VerificationError("proof.format", f"more than {_MAX_PATH} hashes in the audit path")
    path = [_b64decode(h, "proof.format", "an audit path hash", HASH_SIZE) for h in hashes]
    return ProofFile(index=index, path=path, checkpoint_text=checkpoint_text)


# --- Receipts -------------------------------------------------------------------------------------


def _open(envelope: object, key: VerifierKey) -> tuple[bytes, dict[str, Any]]:
    """The payload bytes and object of a verified envelope."""
    if not isinstance(envelope, dict) or set(envelope) != {"payload", "sig", "kid"}:
        raise VerificationError(
            "envelope.format", "an envelope has exactly the fields payload, sig and kid"
        )
    if envelope["kid"] != key.key_id.hex():
        raise VerificationError(
            "envelope.kid", f"signed by key {_show(envelope['kid'])}, not {key.key_id.hex()}"
        )
    payload = _b64decode(envelope["payload"], "envelope.format", "the payload")
    signature = _b64decode(envelope["sig"], "envelope.format", "the signature", 64)
    # The signature covers the bytes exactly as given; canonical form is checked after, so a
    # verifier never re-serializes before checking what was signed.
    if not key.verify(signature, payload):
        raise VerificationError("envelope.signature", "the Ed25519 signature is not valid")
    try:
        data = json.loads(payload)
        canonical = rfc8785.dumps(data)
    except (ValueError, TypeError, RecursionError):
        raise VerificationError("envelope.canonical", "the payload is not JCS JSON") from None
    if canonical != payload:
        raise VerificationError("envelope.canonical", "the payload is not in JCS (RFC 8785) form")
    if not isinstance(data, dict):
        raise VerificationError("envelope.canonical", "the payload is not a JSON object")
    if data.get("v") != RECEIPT_VERSION:
        raise VerificationError(
            "envelope.version", f"v is {_show(data.get('v'))}, not {RECEIPT_VERSION}"
        )
    return payload, data


def open_envelope(envelope: dict, key: VerifierKey) -> dict:
    """Verify an envelope's key ID, signature, JCS form and version; return its payload."""
    return _open(envelope, key)[1]


@dataclass(frozen=True)
class VerifiedReceipt:
    """A receipt whose signature, log inclusion and checkpoint all verified."""

    payload: dict
    index: int
    checkpoint: Checkpoint
    leaf_hash: bytes


def verify_receipt(envelope: dict, proof_text: str, key: VerifierKey) -> VerifiedReceipt:
    """Verify one receipt and its proof file (RECEIPTS.md §7 steps 2-4)."""
    payload_bytes, payload = _open(envelope, key)
    proof = parse_proof_file(proof_text)
    checkpoint = parse_checkpoint(proof.checkpoint_text, [key])
    issuer = payload.get("issuer")
    if issuer != checkpoint.origin or issuer != key.name:
        raise VerificationError(
            "checkpoint.origin",
            f"the receipt's issuer {_show(issuer)} is not the log {_show(checkpoint.origin)}",
        )
    hashed = leaf_hash(leaf_input(payload_bytes))
    if not verify_inclusion(proof.index, checkpoint.size, hashed, proof.path, checkpoint.root):
        raise VerificationError(
            "proof.inclusion",
            f"the receipt is not at index {proof.index} of the tree of size {checkpoint.size}",
        )
    return VerifiedReceipt(
        payload=payload, index=proof.index, checkpoint=checkpoint, leaf_hash=hashed
    )


# --- Subject commitments --------------------------------------------------------------------------


def normalize_identifier(id_type: str, value: str) -> str:
    """Normalize an identifier as the service does: email trimmed and lower-cased, phone E.164.

    A phone number must already be in E.164 form (`+855…`; spaces and dashes are dropped): this
    verifier has no phone-number library to guess a country. Raises ValueError otherwise.
    """
    value = value.strip()
    if id_type == "email":
        value = value.lower()
    elif id_type == "phone":
        value = re.sub(r"[\s-]", "", value)
        if not _E164.fullmatch(value):
            raise ValueError("write the phone number in E.164 form, with its country code: +855…")
    if not value:
        raise ValueError("the identifier is empty")
    return value


def commitment(nonce: bytes, id_type: str, normalized_identifier: str) -> str:
    """Subject commitment C (RECEIPTS.md §5): base64 SHA-256 of prefix, nonce and identifier."""
    opened = f"{id_type}:{normalized_identifier}".encode()
    return _b64(_sha256(COMMITMENT_PREFIX + nonce + opened))


# --- Bundles --------------------------------------------------------------------------------------


def _get(payload: dict, *names: str) -> Any:
    value: Any = payload
    for name in names:
        if not isinstance(value, dict):
            return None
        value = value.get(name)
    return value


def _describe(payload: dict) -> list[str]:
    """Plain-English lines stating what a verified receipt attests."""
    kind = payload.get("type")
    if kind == "erasure.target":
        lines = [
            f"Target {_show(_get(payload, 'target', 'id'))} "
            f"({_show(_get(payload, 'target', 'kind'))} {_show(_get(payload, 'target', 'name'))},"
            f" data in {_show(_get(payload, 'target', 'location'))}) of request "
            f"{_show(_get(payload, 'request', 'id'))}: outcome {_show(payload.get('outcome'))}.",
            f"Action {_show(_get(payload, 'action', 'op'))} by "
            f"{_show(_get(payload, 'action', 'method'))} changed "
            f"{_show(_get(payload, 'action', 'count'))} item(s) between "
            f"{_show(_get(payload, 'action', 'started_at'))} and "
            f"{_show(_get(payload, 'action', 'completed_at'))}.",
            f"Post-check {_show(_get(payload, 'postcheck', 'method'))} at "
            f"{_show(_get(payload, 'postcheck', 'at'))} found "
            f"{_show(_get(payload, 'postcheck', 'remaining'))} item(s) remaining.",
        ]
        if "before" in payload or "after" in payload:
            lines.append(
                f"File contents before {_show(payload.get('before'))}, "
                f"after {_show(payload.get('after'))}."
            )
        if isinstance(payload.get("shards"), dict):
            lines.append(
                f"Shards: {_show(_get(payload, 'shards', 'total'))} examined, "
                f"{_show(_get(payload, 'shards', 'changed'))} changed (manifest "
                f"{_show(_get(payload, 'shards', 'manifest'))})."
            )
        if "exception" in payload:
            lines.append(
                f"Held under {_show(_get(payload, 'exception', 'basis'))} until "
                f"{_show(_get(payload, 'exception', 'until'))}."
            )
        return lines
    if kind == "erasure.request":
        targets = payload.get("targets")
        models = payload.get("affected_models")
        return [
            f"Request {_show(_get(payload, 'request', 'id'))} received "
            f"{_show(_get(payload, 'request', 'received_at'))}, deadline "
            f"{_show(_get(payload, 'request', 'deadline'))}: outcome "
            f"{_show(payload.get('outcome'))}.",
            f"It lists {len(targets) if isinstance(targets, list) else '?'} target receipt(s) and "
            f"{len(models) if isinstance(models, list) else '?'} affected model(s).",
        ]
    if kind == "consent":
        return [
            f"Consent for purpose {_show(_get(payload, 'consent', 'purpose'))}: "
            f"{_show(_get(payload, 'consent', 'status'))} on "
            f"{_show(_get(payload, 'consent', 'event_time'))} "
            f"(basis {_show(_get(payload, 'consent', 'legal_basis'))}, "
            f"jurisdiction {_show(_get(payload, 'consent', 'jurisdiction'))}, "
            f"notice {_show(_get(payload, 'consent', 'notice', 'id'))} version "
            f"{_show(_get(payload, 'consent', 'notice', 'version'))})."
        ]
    return [f"Receipt of type {_show(kind)}."]


def _check_targets(request: VerifiedReceipt, by_leaf: dict[bytes, VerifiedReceipt]) -> int:
    """§7 step 5: each target an erasure.request lists is a receipt of this bundle."""
    targets = request.payload.get("targets")
    request_id = _get(request.payload, "request", "id")
    if not isinstance(targets, list):
        raise VerificationError("bundle.targets", "the erasure.request has no list of targets")
    ids = []
    for entry in targets:
        if not isinstance(entry, dict) or not isinstance(entry.get("target_id"), str):
            raise VerificationError("bundle.targets", "a listed target has no target_id")
        target_id = entry["target_id"]
        ids.append(target_id)
        leaf = _b64decode(entry.get("leaf"), "bundle.targets", "a listed leaf hash", HASH_SIZE)
        found = by_leaf.get(leaf)
        if found is None:
            raise VerificationError(
                "bundle.targets",
                f"the receipt of target {_show(target_id)} (leaf {_b64(leaf)}) is not included",
            )
        payload = found.payload
        if (
            payload.get("type") != "erasure.target"
            or _get(payload, "target", "id") != target_id
            or _get(payload, "request", "id") != request_id
        ):
            raise VerificationError(
                "bundle.targets",
                f"leaf {_b64(leaf)} is not the receipt of target {_show(target_id)} "
                f"of request {_show(request_id)}",
            )
    if ids != sorted(ids) or len(set(ids)) != len(ids):
        raise VerificationError("bundle.targets", "targets are not unique and sorted by target_id")
    return len(ids)


def _check_manifest(payload: dict, manifests: dict) -> int:
    """§7 step 8: the bundle's manifest of a receipt with `shards` is sorted by key, unique, has
    `shards.changed` entries, and its JCS bytes hash to `shards.manifest`."""
    shards = payload.get("shards")
    if not isinstance(shards, dict):
        raise VerificationError("bundle.manifest", "shards is not an object")
    manifest = manifests.get(payload.get("receipt_id"))
    if not isinstance(manifest, list):
        raise VerificationError("bundle.manifest", "the bundle holds no manifest for its shards")
    keys = []
    for entry in manifest:
        if (
            not isinstance(entry, dict)
            or set(entry) != {"key", "before", "after"}
            or not all(isinstance(value, str) for value in entry.values())
        ):
            raise VerificationError(
                "bundle.manifest", "a manifest entry is not {key, before, after} of strings"
            )
        keys.append(entry["key"])
    if keys != sorted(keys) or len(set(keys)) != len(keys):
        raise VerificationError("bundle.manifest", "the manifest is not unique and sorted by key")
    changed = shards.get("changed")
    if not isinstance(changed, str) or _decimal(changed, "bundle.manifest", "changed") != len(keys):
        raise VerificationError(
            "bundle.manifest",
            f"the manifest has {len(keys)} entries, but shards.changed is {_show(changed)}",
        )
    digest = "sha256:" + hashlib.sha256(rfc8785.dumps(manifest)).hexdigest()
    if digest != shards.get("manifest"):
        raise VerificationError(
            "bundle.manifest", f"the manifest hashes to {digest}, not to shards.manifest"
        )
    return len(keys)


def verify_bundle(bundle: dict, key: VerifierKey, identifier: str | None = None) -> list[str]:
    """Verify a subject's bundle (RECEIPTS.md §7 steps 1-5, 7 and 8); return what was verified.

    With `identifier`, every receipt's subject commitment must open with the bundle's nonce and
    that identifier. Raises VerificationError naming the first check that fails, and ValueError
    when `identifier` cannot be normalized (see `normalize_identifier`).
    """
    if not isinstance(bundle, dict) or bundle.get("format") != BUNDLE_FORMAT:
        raise VerificationError("bundle.format", f"not a {BUNDLE_FORMAT} bundle")
    # Step 1: the key comes from the caller, pinned out of band; the bundle's copy must agree.
    if bundle.get("verifier_key") != key.text:
        raise VerificationError(
            "bundle.key", "the bundle names a different verifier key from the pinned one"
        )
    items = bundle.get("receipts")
    if not isinstance(items, list) or not items:
        raise VerificationError("bundle.format", "the bundle holds no receipts")
    out = [f"Verifier key {key.name} ({key.key_id.hex()}) is the pinned key."]

    verified: list[VerifiedReceipt] = []
    for number, item in enumerate(items, 1):
        if not isinstance(item, dict) or set(item) != {"envelope", "proof"}:
            raise VerificationError("bundle.format", f"receipt {number} is not {{envelope, proof}}")
        try:
            receipt = verify_receipt(item["envelope"], item["proof"], key)
        except VerificationError as error:
            raise VerificationError(error.check, f"receipt {number}: {error.reason}") from None
        verified.append(receipt)
        payload, checkpoint = receipt.payload, receipt.checkpoint
        out.append(
            f"Receipt {number}: {_show(payload.get('type'))} "
            f"{_show(payload.get('receipt_id'))}, issued {_show(payload.get('issued_at'))}."
        )
        out.append(
            f"  Signed by {key.name}; the payload is canonical JSON (RFC 8785), {RECEIPT_VERSION}."
        )
        out.extend(f"  {line}" for line in _describe(payload))
        out.append(
            f"  In the log at index {receipt.index} of a tree of size {checkpoint.size}, root "
            f"{_b64(checkpoint.root)}, in a checkpoint signed by {checkpoint.origin}."
        )

    by_leaf = {receipt.leaf_hash: receipt for receipt in verified}
    for number, receipt in enumerate(verified, 1):
        if receipt.payload.get("type") == "erasure.request":
            try:
                count = _check_targets(receipt, by_leaf)
            except VerificationError as error:
                raise VerificationError(error.check, f"receipt {number}: {error.reason}") from None
            out.append(
                f"Receipt {number} (erasure.request) lists {count} target receipt(s), "
                "all of them in this bundle."
            )

    manifests = bundle.get("manifests", {})
    if not isinstance(manifests, dict):
        raise VerificationError("bundle.format", "manifests is not an object")
    for number, receipt in enumerate(verified, 1):
        if "shards" not in receipt.payload:
            continue
        try:
            changed = _check_manifest(receipt.payload, manifests)
        except VerificationError as error:
            raise VerificationError(error.check, f"receipt {number}: {error.reason}") from None
        out.append(
            f"Receipt {number}: the bundle's manifest of its {changed} changed shard(s) hashes "
            "to its shards.manifest."
        )

    opening = bundle.get("opening")
    if identifier is None:
        out.append("Subject commitment not checked: no identifier was given.")
    else:
        if not isinstance(opening, dict) or not isinstance(opening.get("id_type"), str):
            raise VerificationError("bundle.opening", "the bundle has no opening for commitments")
        nonce = _b64decode(opening.get("nonce"), "bundle.opening", "the nonce", NONCE_SIZE)
        id_type = opening["id_type"]
        expected = commitment(nonce, id_type, normalize_identifier(id_type, identifier))
        for number, receipt in enumerate(verified, 1):
            if _get(receipt.payload, "subject", "commit") != expected:
                raise VerificationError(
                    "commitment",
                    f"receipt {number}: its subject commitment does not open with the bundle's "
                    f"nonce and the {_show(id_type)} identifier given",
                )
        out.append(
            f"Subject commitment of all {len(verified)} receipt(s) opens with the bundle's nonce "
            f"and the {_show(id_type)} identifier given."
        )
    out.append(
        f"All checks passed for {len(verified)} receipt(s). Each is a signed, logged attestation "
        "of the actions and checks it names; none claims that data no longer exists anywhere."
    )
    return out


def verify_consistency_proof(
    old_checkpoint_text: str, new_checkpoint_text: str, path: Sequence[bytes], key: VerifierKey
) -> list[str]:
    """Verify two checkpoints and that the older tree is a prefix of the newer (§7 step 6)."""
    old = parse_checkpoint(old_checkpoint_text, [key])
    new = parse_checkpoint(new_checkpoint_text, [key])
    if old.origin != new.origin:
        raise VerificationError("checkpoint.origin", "the checkpoints are of different logs")
    if old.size > new.size:
        raise VerificationError(
            "consistency", f"the old checkpoint's size {old.size} exceeds the new one's {new.size}"
        )
    if old.size == new.size and old.root != new.root:
        raise VerificationError(
            "consistency", f"the log signed two different roots for tree size {old.size}"
        )
    if not verify_consistency(old.size, new.size, old.root, new.root, path):
        raise VerificationError(
            "consistency",
            f"the proof does not show the tree of size {old.size} is a prefix of size {new.size}",
        )
    return [
        f"Old checkpoint: {old.origin}, size {old.size}, root {_b64(old.root)}, signed by "
        f"{key.name} ({key.key_id.hex()}).",
        f"New checkpoint: {new.origin}, size {new.size}, root {_b64(new.root)}, signed by "
        f"{key.name} ({key.key_id.hex()}).",
        f"Consistent: the first {old.size} entries of the new tree are exactly the old tree, "
        "so nothing logged before was rewritten or dropped.",
    ]


# --- Command line ---------------------------------------------------------------------------------


class _UsageError(Exception):
    pass


def _read_text(path: str, check: str) -> str:
    try:
        raw = Path(path).read_bytes()
    except OSError as error:
        raise _UsageError(f"cannot read {path}: {error.strerror}") from None
    # Bytes decoded as-is: text mode would turn "\r\n" into "\n" and alter what was signed.
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise VerificationError(check, f"{path} is not UTF-8 text") from None


def _read_json(path: str, check: str) -> Any:
    try:
        return json.loads(_read_text(path, check))
    except (ValueError, RecursionError):
        raise VerificationError(check, f"{path} is not JSON") from None


def _load_key(value: str) -> VerifierKey:
    text = _read_text(value[1:], "key") if value.startswith("@") else value
    return parse_verifier_key(text.strip())


def _parse_path(document: Any) -> list[bytes]:
    if not isinstance(document, dict) or not isinstance(document.get("path"), list):
        raise VerificationError("proof.format", 'a consistency proof is {"path": [base64, ...]}')
    if len(document["path"]) > _MAX_PATH:
        raise VerificationError("proof.format", f"more than {_MAX_PATH} hashes in the proof")
    return [_b64decode(h, "proof.format", "a proof hash", HASH_SIZE) for h in document["path"]]


def verify_document(envelope: object, key: VerifierKey, type: str) -> dict[str, Any]:
    """A signed document of `type` (a report): its envelope verified as a receipt's is
    (§2), outside the log. Its payload is returned."""
    payload = _open(envelope, key)[1]
    if payload.get("type") != type:
        raise VerificationError(
            "document.type", f"type is {_show(payload.get('type'))}, not {type}"
        )
    if payload.get("issuer") != key.name:
        raise VerificationError(
            "document.issuer", f"issued by {_show(payload.get('issuer'))}, not {key.name}"
        )
    return payload


def _report_lines(payload: dict[str, Any]) -> list[str]:
    report = payload.get("report") if isinstance(payload.get("report"), dict) else {}
    period = report.get("period") if isinstance(report.get("period"), dict) else {}
    lines = [
        f"Report {_show(payload.get('document_id'))} issued at {_show(payload.get('issued_at'))} "
        f"by {_show(payload.get('issuer'))}: signature and canonical form verified.",
        f"Markets: {_show(', '.join(map(str, report.get('markets') or [])))}; period "
        f"{_show(period.get('start'))} to {_show(period.get('end'))}.",
    ]
    sections = report.get("sections") if isinstance(report.get("sections"), dict) else {}
    for name, section in sections.items():
        missing = section.get("missing") if isinstance(section, dict) else None
        count = len(missing) if isinstance(missing, list) else 0
        lines.append(f"  {_show(name)}: {count} gap{'s' if count != 1 else ''} listed")
    return lines


def _run(args: argparse.Namespace) -> list[str]:
    key = _load_key(args.key)
    if args.command == "report":
        return _report_lines(
            verify_document(_read_json(args.file, "document.format"), key, "report")
        )
    if args.command == "bundle":
        bundle = _read_json(args.file, "bundle.format")
        identifier = args.identifier
        if identifier is not None and isinstance(bundle, dict):
            id_type = _get(bundle, "opening", "id_type")
            try:
                normalize_identifier(id_type if isinstance(id_type, str) else "", identifier)
            except ValueError as error:
                raise _UsageError(f"--identifier: {error}") from None
        return verify_bundle(bundle, key, identifier)
    if args.command == "checkpoint":
        checkpoint = parse_checkpoint(_read_text(args.file, "checkpoint.format"), [key])
        return [
            f"Checkpoint of {checkpoint.origin}: tree size {checkpoint.size}, root "
            f"{_b64(checkpoint.root)}.",
            f"Signed by the pinned key {key.name} ({key.key_id.hex()}).",
        ]
    old_text = _read_text(args.old, "checkpoint.format")
    new_text = _read_text(args.new, "checkpoint.format")
    path = _parse_path(_read_json(args.proof, "proof.format"))
    return verify_consistency_proof(old_text, new_text, path, key)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="verify",
        description="Verify Lup receipts, checkpoints and consistency proofs offline.",
    )
    key_help = "the pinned verifier key text, or @FILE holding it"
    commands = parser.add_subparsers(dest="command", required=True)
    bundle = commands.add_parser("bundle", help="verify a receipt bundle (JSON)")
    bundle.add_argument("file", help="the bundle file")
    bundle.add_argument("--key", required=True, help=key_help)
    bundle.add_argument("--identifier", help="your identifier, to open the subject commitments")
    checkpoint = commands.add_parser("checkpoint", help="verify a checkpoint note")
    checkpoint.add_argument("file", help="the checkpoint file")
    checkpoint.add_argument("--key", required=True, help=key_help)
    report = commands.add_parser("report", help="verify a signed report (its envelope, JSON)")
    report.add_argument("file", help="the signed report file")
    report.add_argument("--key", required=True, help=key_help)
    consistency = commands.add_parser(
        "consistency", help="verify that an older checkpoint's tree is a prefix of a newer one's"
    )
    consistency.add_argument("old", help="the older checkpoint file")
    consistency.add_argument("new", help="the newer checkpoint file")
    consistency.add_argument("--proof", required=True, help='the API\'s {"path": [...]} JSON')
    consistency.add_argument("--key", required=True, help=key_help)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; 0 when verified, 1 when a check fails, 2 on a usage error."""
    args = _parser().parse_args(argv)
    try:
        lines = _run(args)
    except _UsageError as error:
        print(f"verify: {error}", file=sys.stderr)
        return 2
    except VerificationError as error:
        print(f"FAILED {error.check}: {error.reason}", file=sys.stderr)
        return 1
    for line in lines:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
