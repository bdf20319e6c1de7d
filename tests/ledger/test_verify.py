"""The offline verifier against the contract's test vectors, tampering, and its command line.

No database: everything here is pure computation over `shared/receipts-vectors.json` and receipts
signed with the vectors' key (Ed25519 is deterministic, so re-signing reproduces the vectors).
"""

import ast
import base64
import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger import verify
from ledger.verify import VerificationError

ROOT = Path(__file__).resolve().parents[2]
# A copy of the vectors published with the receipt format (RECEIPTS.md).
VECTORS = json.loads((Path(__file__).parent / "receipts-vectors.json").read_text("utf-8"))

NAME = VECTORS["key"]["name"]
PRIVATE = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(VECTORS["key"]["private_seed_hex"]))
PUBLIC = PRIVATE.public_key().public_bytes_raw()
KEY_TEXT = VECTORS["key"]["verifier_key"]
KEY = verify.parse_verifier_key(KEY_TEXT)
RECEIPTS = VECTORS["receipts"]
LEAF_HASHES = [base64.b64decode(r["leaf_hash_b64"]) for r in RECEIPTS]
NONCE = base64.b64decode(VECTORS["commitment"]["nonce_b64"])
IDENTIFIER = VECTORS["commitment"]["normalized_identifier"]
COMMIT = VECTORS["commitment"]["commit"]
REQUEST_ID = "11111111-1111-4111-8111-111111111111"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text)


def sign_envelope(payload: dict, *, raw: bytes | None = None) -> tuple[dict, bytes]:
    """An envelope over `payload` in JCS form (or over `raw` bytes exactly), by the vector key."""
    data = rfc8785.dumps(payload) if raw is None else raw
    envelope = {"payload": b64(data), "sig": b64(PRIVATE.sign(data)), "kid": KEY.key_id.hex()}
    return envelope, data


def sign_checkpoint(
    size: int, root: bytes, *, origin: str = NAME, private=PRIVATE, name: str = NAME
) -> str:
    body = verify.checkpoint_body(origin, size, root)
    public = private.public_key().public_bytes_raw()
    blob = verify.key_id(name, public) + private.sign(body)
    return body.decode() + f"\n\u2014 {name} {b64(blob)}\n"


def proof_text(index: int, path: list[bytes], checkpoint: str) -> str:
    hashes = "".join(f"{b64(h)}\n" for h in path)
    return f"c2sp.org/tlog-proof@v1\nindex {index}\n{hashes}\n{checkpoint}"


def envelope_with_payload(envelope: dict, payload: bytes) -> dict:
    return {**envelope, "payload": b64(payload)}


def rejected(check, *args) -> bool:
    """Whether a verifying call refuses: returns False or raises VerificationError."""
    try:
        return check(*args) is False
    except VerificationError:
        return True


def replacements(c: str) -> set[str]:
    """Characters to put in place of `c`: neighbours, a base64 letter, a digit, whitespace."""
    return {chr(ord(c) ^ 1), chr(ord(c) ^ 2), "A", "0", " ", "\n", "+"} - {c}


# --- The vectors, byte for byte --------------------------------------------------------------


def test_key_vector():
    assert PUBLIC.hex() == VECTORS["key"]["public_hex"]
    assert verify.key_id(NAME, PUBLIC).hex() == VECTORS["key"]["key_id_hex"]
    assert verify.verifier_key_text(NAME, PUBLIC) == KEY_TEXT
    expected = verify.VerifierKey(
        name=NAME, key_id=bytes.fromhex(VECTORS["key"]["key_id_hex"]), public_key=PUBLIC
    )
    assert expected == KEY
    assert KEY.verify(PRIVATE.sign(b"message"), b"message")
    assert not KEY.verify(PRIVATE.sign(b"message"), b"messagE")


@pytest.mark.parametrize(
    "text",
    [
        "",
        NAME,
        f"{NAME}+8286d481",
        KEY_TEXT + "\n",
        " " + KEY_TEXT,
        KEY_TEXT.replace("8286d481", "8286d482"),
        KEY_TEXT.replace("8286d481", "8286D481"),
        KEY_TEXT.replace(NAME, "lup.example.org/other"),
        KEY_TEXT.replace(NAME, "lup example"),
        KEY_TEXT[:-1] + "5",  # padding bits set: not the canonical base64 of any key
        KEY_TEXT.rsplit("+", 1)[0] + "+" + b64(b"\x02" + PUBLIC),
        KEY_TEXT.rsplit("+", 1)[0] + "+" + b64(PUBLIC),
        KEY_TEXT.rsplit("+", 1)[0] + "+!!!",
    ],
)
def test_parse_verifier_key_rejects_malformed_text(text):
    with pytest.raises(VerificationError) as error:
        verify.parse_verifier_key(text)
    assert error.value.check == "key"


@pytest.mark.parametrize("number", range(len(RECEIPTS)))
def test_receipt_vector(number):
    vector = RECEIPTS[number]
    payload = vector["payload_jcs"].encode()
    envelope = vector["envelope"]
    assert rfc8785.dumps(json.loads(payload)) == payload
    assert envelope["payload"] == b64(payload)
    assert envelope["sig"] == b64(PRIVATE.sign(payload))
    assert envelope["kid"] == VECTORS["key"]["key_id_hex"]
    assert sign_envelope(json.loads(payload))[0] == envelope
    leaf = verify.leaf_input(payload)
    assert len(leaf) == 52
    assert leaf == unb64(vector["leaf_b64"])
    assert verify.leaf_hash(leaf) == unb64(vector["leaf_hash_b64"])
    assert verify.open_envelope(envelope, KEY) == json.loads(payload)


def test_roots_for_every_size():
    roots = VECTORS["tree"]["roots_by_size"]
    assert set(roots) == {str(n) for n in range(len(LEAF_HASHES) + 1)}
    for size, root in roots.items():
        assert verify.root_hash(LEAF_HASHES[: int(size)]) == unb64(root)
    assert verify.root_hash([]) == verify.EMPTY_ROOT


@pytest.mark.parametrize(
    "vector", VECTORS["tree"]["inclusion"], ids=lambda v: f"{v['index']}-of-{v['size']}"
)
def test_inclusion_vector(vector):
    leaves, index = LEAF_HASHES[: vector["size"]], vector["index"]
    path = [unb64(h) for h in vector["path"]]
    assert verify.inclusion_path(leaves, index) == path
    assert verify.verify_inclusion(
        index, vector["size"], leaves[index], path, verify.root_hash(leaves)
    )


@pytest.mark.parametrize(
    "vector", VECTORS["tree"]["consistency"], ids=lambda v: f"{v['first']}-to-{v['second']}"
)
def test_consistency_vector(vector):
    first, second = vector["first"], vector["second"]
    path = [unb64(h) for h in vector["path"]]
    assert verify.consistency_path(LEAF_HASHES[:second], first) == path
    assert verify.verify_consistency(
        first,
        second,
        verify.root_hash(LEAF_HASHES[:first]),
        verify.root_hash(LEAF_HASHES[:second]),
        path,
    )


def test_checkpoint_vector():
    root = unb64(VECTORS["tree"]["roots_by_size"]["7"])
    body = verify.checkpoint_body(NAME, 7, root)
    assert body == f"{NAME}\n7\n{b64(root)}\n".encode()
    assert sign_checkpoint(7, root) == VECTORS["checkpoint"]
    assert verify.parse_checkpoint(VECTORS["checkpoint"], [KEY]) == verify.Checkpoint(
        origin=NAME, size=7, root=root
    )


def test_proof_file_vector():
    text = VECTORS["proof_file_for_index_3"]
    assert proof_text(3, verify.inclusion_path(LEAF_HASHES, 3), VECTORS["checkpoint"]) == text
    proof = verify.parse_proof_file(text)
    assert proof == verify.ProofFile(
        index=3, path=verify.inclusion_path(LEAF_HASHES, 3), checkpoint_text=VECTORS["checkpoint"]
    )
    receipt = verify.verify_receipt(RECEIPTS[3]["envelope"], text, KEY)
    assert receipt.index == 3
    assert receipt.leaf_hash == LEAF_HASHES[3]
    assert receipt.checkpoint.size == 7
    assert receipt.payload == json.loads(RECEIPTS[3]["payload_jcs"])


def test_commitment_vector():
    assert VECTORS["commitment"]["id_type"] == "email"
    assert verify.commitment(NONCE, "email", IDENTIFIER) == COMMIT
    assert verify.normalize_identifier("email", " SOKHA@example.com ") == IDENTIFIER
    for vector in RECEIPTS:
        assert json.loads(vector["payload_jcs"])["subject"]["commit"] == COMMIT


@pytest.mark.parametrize("identifier", [None, IDENTIFIER, " SOKHA@example.com "])
def test_bundle_vector_verifies(identifier):
    lines = verify.verify_bundle(VECTORS["bundle"], KEY, identifier)
    text = "\n".join(lines)
    assert "index 3 of a tree of size 7" in text
    assert "erasure.target 00000000-0000-4000-8000-000000000003" in text
    assert "found 0 item(s) remaining" in text
    if identifier is None:
        assert "not checked" in text
    else:
        assert "opens with the bundle's nonce" in text
        assert "sokha" not in text.lower()


def test_wrong_identifier_fails_the_commitment_check():
    with pytest.raises(VerificationError) as error:
        verify.verify_bundle(VECTORS["bundle"], KEY, "sokha@example.org")
    assert error.value.check == "commitment"
    other_nonce = {**VECTORS["bundle"], "opening": {"nonce": b64(bytes(32)), "id_type": "email"}}
    with pytest.raises(VerificationError) as error:
        verify.verify_bundle(other_nonce, KEY, IDENTIFIER)
    assert error.value.check == "commitment"


def test_normalize_identifier():
    assert verify.normalize_identifier("phone", " +855 12-345 678 ") == "+85512345678"
    assert verify.normalize_identifier("user_id", "  Abc ") == "Abc"
    for bad in ("012 345 678", "+0855123", "+85512345678901234", "855123456"):
        with pytest.raises(ValueError):
            verify.normalize_identifier("phone", bad)
    with pytest.raises(ValueError):
        verify.normalize_identifier("email", "   ")


# --- The tree beyond the vectors -------------------------------------------------------------

SYNTHETIC = [verify.leaf_hash(verify.leaf_input(str(i).encode())) for i in range(17)]


def test_reference_paths_verify_for_every_small_tree():
    for n in range(1, len(SYNTHETIC) + 1):
        leaves = SYNTHETIC[:n]
        root = verify.root_hash(leaves)
        for i in range(n):
            path = verify.inclusion_path(leaves, i)
            assert verify.verify_inclusion(i, n, leaves[i], path, root)
            assert not verify.verify_inclusion(i, i, leaves[i], path, root)
            other_leaf = verify.leaf_hash(b"not in the tree")
            assert not verify.verify_inclusion(i, n, other_leaf, path, root)
            assert not verify.verify_inclusion(i, n, leaves[i], [*path, root], root)
            # Hashes past the top of the tree (step 4a) fail even against a root built from them.
            extended = verify.node_hash(root, root)
            assert not verify.verify_inclusion(i, n, leaves[i], [*path, root], extended)
            if path:
                assert not verify.verify_inclusion(i, n, leaves[i], path[:-1], root)
        for m in range(1, n):
            path = verify.consistency_path(leaves, m)
            old = verify.root_hash(leaves[:m])
            assert verify.verify_consistency(m, n, old, root, path)
            assert not verify.verify_consistency(m, n, root, root, path)
            assert not verify.verify_consistency(m, n, old, root, path[:-1])
            assert not verify.verify_consistency(m, n, old, root, [*path, root])


def test_inclusion_and_consistency_edge_cases():
    root = verify.root_hash(SYNTHETIC[:4])
    path = verify.inclusion_path(SYNTHETIC[:4], 2)
    assert not verify.verify_inclusion(4, 4, SYNTHETIC[2], path, root)
    assert not verify.verify_inclusion(-1, 4, SYNTHETIC[2], path, root)
    assert not verify.verify_inclusion(0, 0, verify.EMPTY_ROOT, [], verify.EMPTY_ROOT)
    assert not verify.verify_inclusion(2, 4, SYNTHETIC[2][:31], path, root)
    # A path that reaches the root before the claimed size is used up proves nothing (RFC 9162
    # §2.1.3.2 step 5 and §2.1.4.2 step 7: sn must end at 0).
    h0, h1 = SYNTHETIC[:2]
    two = verify.node_hash(h0, h1)
    assert verify.verify_inclusion(0, 2, h0, [h1], two)
    assert not verify.verify_inclusion(0, 3, h0, [h1], two)
    assert verify.verify_consistency(1, 2, h0, two, [h1])
    assert not verify.verify_consistency(1, 3, h0, two, [h1])
    assert verify.verify_consistency(4, 4, root, root, [])
    assert not verify.verify_consistency(4, 4, root, root, [root])
    assert not verify.verify_consistency(4, 4, root, SYNTHETIC[0], [])
    assert verify.verify_consistency(0, 4, verify.EMPTY_ROOT, root, [])
    assert not verify.verify_consistency(0, 4, root, root, [])
    assert not verify.verify_consistency(0, 4, verify.EMPTY_ROOT, root, [root])
    assert not verify.verify_consistency(5, 4, root, root, [])
    assert not verify.verify_consistency(2, 4, verify.root_hash(SYNTHETIC[:2]), root, [])
    assert verify.consistency_path(SYNTHETIC[:4], 0) == []
    assert verify.consistency_path(SYNTHETIC[:4], 4) == []
    with pytest.raises(ValueError):
        verify.inclusion_path(SYNTHETIC[:4], 4)
    with pytest.raises(ValueError):
        verify.consistency_path(SYNTHETIC[:4], 5)


# --- Tampering ---------------------------------------------------------------------------------

ENVELOPE_3 = RECEIPTS[3]["envelope"]
PAYLOAD_3 = RECEIPTS[3]["payload_jcs"].encode()
PROOF_3 = VECTORS["proof_file_for_index_3"]


def test_every_bit_of_the_payload_matters():
    for i in range(len(PAYLOAD_3)):
        for bit in range(8):
            changed = bytearray(PAYLOAD_3)
            changed[i] ^= 1 << bit
            envelope = envelope_with_payload(ENVELOPE_3, bytes(changed))
            with pytest.raises(VerificationError) as error:
                verify.verify_receipt(envelope, PROOF_3, KEY)
            assert error.value.check == "envelope.signature", (i, bit)


def test_every_bit_of_the_signature_matters():
    signature = unb64(ENVELOPE_3["sig"])
    for i in range(len(signature)):
        for bit in range(8):
            changed = bytearray(signature)
            changed[i] ^= 1 << bit
            envelope = {**ENVELOPE_3, "sig": b64(bytes(changed))}
            with pytest.raises(VerificationError) as error:
                verify.verify_receipt(envelope, PROOF_3, KEY)
            assert error.value.check == "envelope.signature", (i, bit)


def test_every_character_of_the_envelope_matters():
    for field in ("payload", "sig", "kid"):
        text = ENVELOPE_3[field]
        for i, c in enumerate(text):
            for r in replacements(c):
                envelope = {**ENVELOPE_3, field: text[:i] + r + text[i + 1 :]}
                assert rejected(verify.verify_receipt, envelope, PROOF_3, KEY), (field, i, r)
            envelope = {**ENVELOPE_3, field: text[:i] + text[i + 1 :]}
            assert rejected(verify.verify_receipt, envelope, PROOF_3, KEY), (field, i)


def test_every_bit_of_every_path_hash_matters():
    proof = verify.parse_proof_file(PROOF_3)
    for j, node in enumerate(proof.path):
        for i in range(len(node)):
            for bit in range(8):
                changed = bytearray(node)
                changed[i] ^= 1 << bit
                path = [*proof.path[:j], bytes(changed), *proof.path[j + 1 :]]
                text = proof_text(proof.index, path, proof.checkpoint_text)
                with pytest.raises(VerificationError) as error:
                    verify.verify_receipt(ENVELOPE_3, text, KEY)
                assert error.value.check == "proof.inclusion", (j, i, bit)


def test_every_other_index_is_rejected():
    proof = verify.parse_proof_file(PROOF_3)
    for index in [*range(0, 3), *range(4, 70), 2**63, 2**64 - 1]:
        text = proof_text(index, proof.path, proof.checkpoint_text)
        with pytest.raises(VerificationError) as error:
            verify.verify_receipt(ENVELOPE_3, text, KEY)
        assert error.value.check == "proof.inclusion", index


def test_every_character_of_the_proof_file_matters():
    for i, c in enumerate(PROOF_3):
        for r in replacements(c):
            text = PROOF_3[:i] + r + PROOF_3[i + 1 :]
            assert rejected(verify.verify_receipt, ENVELOPE_3, text, KEY), (i, r)
        assert rejected(verify.verify_receipt, ENVELOPE_3, PROOF_3[:i] + PROOF_3[i + 1 :], KEY)


def test_every_character_of_the_checkpoint_matters():
    text = VECTORS["checkpoint"]
    for i, c in enumerate(text):
        for r in replacements(c):
            assert rejected(verify.parse_checkpoint, text[:i] + r + text[i + 1 :], [KEY]), (i, r)
        assert rejected(verify.parse_checkpoint, text[:i] + text[i + 1 :], [KEY]), i
    for extra in ("\n", " ", "x", "\n\u2014 x"):
        assert rejected(verify.parse_checkpoint, text + extra, [KEY])


def test_every_character_of_the_verifier_key_matters():
    for i, c in enumerate(KEY_TEXT):
        for r in replacements(c):
            assert rejected(verify.parse_verifier_key, KEY_TEXT[:i] + r + KEY_TEXT[i + 1 :]), i


# --- Envelopes, checkpoints and proof files that are well formed but wrong ------------------------

PAYLOAD_DICT_3 = json.loads(PAYLOAD_3)


@pytest.mark.parametrize(
    ("raw", "check"),
    [
        (PAYLOAD_3.replace(b'{"action"', b'{ "action"'), "envelope.canonical"),
        (PAYLOAD_3 + b"\n", "envelope.canonical"),
        (
            PAYLOAD_3.replace(b'"v":"lup-receipt/1"}', b'"v":"lup-receipt/1","v":"x"}'),
            "envelope.canonical",
        ),
        (b'{"n":NaN,"v":"lup-receipt/1"}', "envelope.canonical"),
        (b'{"n":9007199254740993,"v":"lup-receipt/1"}', "envelope.canonical"),
        (b"[1]", "envelope.canonical"),
        (b"not json", "envelope.canonical"),
        (b'{"v":"lup-receipt/2"}', "envelope.version"),
        (b'{"type":"consent"}', "envelope.version"),
    ],
)
def test_signed_but_invalid_payloads(raw, check):
    envelope, _ = sign_envelope({}, raw=raw)
    with pytest.raises(VerificationError) as error:
        verify.open_envelope(envelope, KEY)
    assert error.value.check == check


def test_envelope_fields():
    with pytest.raises(VerificationError) as error:
        verify.open_envelope({**ENVELOPE_3, "kid": "00000000"}, KEY)
    assert error.value.check == "envelope.kid"
    for bad in ({**ENVELOPE_3, "alg": "Ed25519"}, {"payload": ENVELOPE_3["payload"]}, [], None):
        with pytest.raises(VerificationError) as error:
            verify.open_envelope(bad, KEY)
        assert error.value.check == "envelope.format"


def test_receipt_from_another_issuer_fails_the_origin_check():
    envelope, data = sign_envelope({**PAYLOAD_DICT_3, "issuer": "lup.example.net/receipts"})
    leaves = [*LEAF_HASHES, verify.leaf_hash(verify.leaf_input(data))]
    checkpoint = sign_checkpoint(len(leaves), verify.root_hash(leaves))
    text = proof_text(7, verify.inclusion_path(leaves, 7), checkpoint)
    with pytest.raises(VerificationError) as error:
        verify.verify_receipt(envelope, text, KEY)
    assert error.value.check == "checkpoint.origin"


def test_checkpoint_signatures():
    root = verify.root_hash(LEAF_HASHES)
    other = Ed25519PrivateKey.from_private_bytes(bytes(range(32, 64)))
    other_name = "witness.example/w1"
    other_key = verify.parse_verifier_key(
        verify.verifier_key_text(other_name, other.public_key().public_bytes_raw())
    )
    cosigned = (
        VECTORS["checkpoint"]
        + sign_checkpoint(7, root, private=other, name=other_name).split("\n\n")[1]
    )
    # A line by a key the verifier does not know is skipped, whichever key it is.
    assert verify.parse_checkpoint(cosigned, [KEY]).size == 7
    with pytest.raises(VerificationError) as error:
        verify.parse_checkpoint(cosigned, [other_key])
    assert error.value.check == "checkpoint.origin"
    only_other = sign_checkpoint(7, root, private=other, name=other_name)
    with pytest.raises(VerificationError) as error:
        verify.parse_checkpoint(only_other, [KEY])
    assert error.value.check == "checkpoint.signature"
    # The vector key's name and ID but another key's signature: known, so not skipped.
    body = verify.checkpoint_body(NAME, 7, root)
    forged = body.decode() + f"\n\u2014 {NAME} {b64(KEY.key_id + other.sign(body))}\n"
    with pytest.raises(VerificationError) as error:
        verify.parse_checkpoint(forged, [KEY])
    assert error.value.check == "checkpoint.signature"
    with pytest.raises(VerificationError) as error:
        verify.parse_checkpoint(VECTORS["checkpoint"], [])
    assert error.value.check == "checkpoint.signature"


def _signed_note(body: str) -> str:
    blob = KEY.key_id + PRIVATE.sign(body.encode())
    return f"{body}\n\u2014 {NAME} {b64(blob)}\n"


@pytest.mark.parametrize(
    "body",
    [
        f"{NAME}\n07\n{VECTORS['checkpoint'].split(chr(10))[2]}\n",
        f"{NAME}\n+7\n{VECTORS['checkpoint'].split(chr(10))[2]}\n",
        f"{NAME}\n7\n{VECTORS['checkpoint'].split(chr(10))[2]}\nextension line\n",
        f"{NAME}\n7\n{b64(bytes(31))}\n",
        f"{NAME}\n7\n{b64(bytes(32)).rstrip('=')}\n",
        f"{NAME}\n{2**64}\n{b64(bytes(32))}\n",
        f"{NAME}\r\n7\n{b64(bytes(32))}\n",
        f"\n7\n{b64(bytes(32))}\n",
    ],
)
def test_signed_but_malformed_checkpoints(body):
    with pytest.raises(VerificationError) as error:
        verify.parse_checkpoint(_signed_note(body), [KEY])
    assert error.value.check == "checkpoint.format"


def test_checkpoint_of_another_origin_signed_by_the_key():
    note = _signed_note(f"lup.example.net/receipts\n7\n{b64(bytes(32))}\n")
    with pytest.raises(VerificationError) as error:
        verify.parse_checkpoint(note, [KEY])
    assert error.value.check == "checkpoint.origin"


@pytest.mark.parametrize(
    "text",
    [
        PROOF_3.replace("index 3", "extra AAAA\nindex 3"),
        PROOF_3.replace("index 3", "index 03"),
        PROOF_3.replace("index 3", "index  3"),
        PROOF_3.replace("index 3", "Index 3"),
        PROOF_3.replace("c2sp.org/tlog-proof@v1", "c2sp.org/tlog-proof@v2"),
        PROOF_3.replace("\n", "\r\n"),
        PROOF_3.replace("=\n\n", "= \n\n"),
        PROOF_3.split("\n\n")[0],
        PROOF_3.split("\n\n")[0] + "\n\n",
        f"c2sp.org/tlog-proof@v1\nindex 3\n{f'{b64(bytes(32))}{chr(10)}' * 65}\n"
        + VECTORS["checkpoint"],
    ],
)
def test_malformed_proof_files(text):
    with pytest.raises(VerificationError) as error:
        verify.parse_proof_file(text)
    assert error.value.check == "proof.format"


# --- Bundles with erasure.request summaries --------------------------------------------------


def _request_payload(targets: list[tuple[str, bytes]]) -> dict:
    return {
        "v": "lup-receipt/1",
        "type": "erasure.request",
        "receipt_id": "00000000-0000-4000-8000-0000000000ff",
        "issuer": NAME,
        "issued_at": "2026-11-26T10:01:00Z",
        "subject": {"commit": COMMIT},
        "request": {
            "id": REQUEST_ID,
            "received_at": "2026-11-20T08:00:00Z",
            "verified_at": "2026-11-20T08:05:00Z",
            "deadline": "2026-12-20T08:00:00Z",
            "jurisdictions": ["SG"],
        },
        "outcome": "completed",
        "targets": [{"target_id": t, "leaf": b64(leaf)} for t, leaf in targets],
        "affected_models": [{"id": "model-1", "decision": "retrain"}],
    }


def _bundle(listed: list[int], included: list[int], *, order=None) -> dict:
    """A bundle whose erasure.request lists the vector receipts `listed` and which holds the
    vector receipts `included` and the request, all in one log of size 8 signed by the key."""
    targets = [(f"t{i}", LEAF_HASHES[i]) for i in listed]
    envelope, data = sign_envelope(_request_payload(order(targets) if order else targets))
    leaves = [*LEAF_HASHES, verify.leaf_hash(verify.leaf_input(data))]
    checkpoint = sign_checkpoint(len(leaves), verify.root_hash(leaves))
    items = [
        {
            "envelope": RECEIPTS[i]["envelope"],
            "proof": proof_text(i, verify.inclusion_path(leaves, i), checkpoint),
        }
        for i in included
    ]
    items.append(
        {"envelope": envelope, "proof": proof_text(7, verify.inclusion_path(leaves, 7), checkpoint)}
    )
    return {**copy.deepcopy(VECTORS["bundle"]), "receipts": items}


def test_vector_receipts_are_all_erasure_targets():
    assert {json.loads(r["payload_jcs"])["type"] for r in RECEIPTS} == {"erasure.target"}


def test_bundle_with_request_and_all_its_targets_verifies():
    lines = verify.verify_bundle(_bundle([3, 4, 5], [3, 4, 5]), KEY, " SOKHA@example.com ")
    text = "\n".join(lines)
    assert "lists 3 target receipt(s), all of them in this bundle" in text
    assert "Request 11111111-1111-4111-8111-111111111111" in text
    assert "All checks passed for 4 receipt(s)" in text


def test_bundle_missing_a_listed_target_fails():
    with pytest.raises(VerificationError) as error:
        verify.verify_bundle(_bundle([3, 4], [3]), KEY)
    assert error.value.check == "bundle.targets"
    assert "t4" in error.value.reason


def test_bundle_targets_must_name_their_own_receipts_in_order():
    mislabelled = _bundle([3, 4], [3, 4])
    swapped = _bundle([3, 4], [3, 4], order=lambda t: [(t[0][0], t[1][1]), (t[1][0], t[0][1])])
    unsorted = _bundle([3, 4], [3, 4], order=lambda t: list(reversed(t)))
    assert verify.verify_bundle(mislabelled, KEY)
    for bundle in (swapped, unsorted):
        with pytest.raises(VerificationError) as error:
            verify.verify_bundle(bundle, KEY)
        assert error.value.check == "bundle.targets"


def test_bundle_structure():
    bundle = VECTORS["bundle"]
    cases = [
        ({**bundle, "format": "lup-bundle/2"}, "bundle.format"),
        ({**bundle, "receipts": []}, "bundle.format"),
        ({**bundle, "receipts": [{"envelope": ENVELOPE_3}]}, "bundle.format"),
        (
            {**bundle, "verifier_key": verify.verifier_key_text("other.example/log", PUBLIC)},
            "bundle.key",
        ),
        ([bundle], "bundle.format"),
    ]
    for value, check in cases:
        with pytest.raises(VerificationError) as error:
            verify.verify_bundle(value, KEY)
        assert error.value.check == check
    with pytest.raises(VerificationError) as error:
        verify.verify_bundle(
            {**bundle, "opening": {"nonce": b64(bytes(16)), "id_type": "email"}}, KEY, IDENTIFIER
        )
    assert error.value.check == "bundle.opening"
    tampered = copy.deepcopy(bundle)
    tampered["receipts"][0]["proof"] = PROOF_3.replace("index 3", "index 2")
    with pytest.raises(VerificationError) as error:
        verify.verify_bundle(tampered, KEY)
    assert error.value.check == "proof.inclusion"
    assert error.value.reason.startswith("receipt 1:")


# --- Consistency between checkpoints -----------------------------------------------------------


def test_consistency_proof_between_checkpoints():
    old = sign_checkpoint(4, verify.root_hash(LEAF_HASHES[:4]))
    new = VECTORS["checkpoint"]
    path = verify.consistency_path(LEAF_HASHES, 4)
    lines = verify.verify_consistency_proof(old, new, path, KEY)
    assert "size 4" in lines[0] and "size 7" in lines[1]
    assert lines[2].startswith("Consistent")
    for bad_path in ([], path[:-1], [*path, path[0]], [path[0], path[0]]):
        with pytest.raises(VerificationError) as error:
            verify.verify_consistency_proof(old, new, bad_path, KEY)
        assert error.value.check == "consistency"
    with pytest.raises(VerificationError) as error:
        verify.verify_consistency_proof(new, old, path, KEY)
    assert error.value.check == "consistency"
    fork = sign_checkpoint(7, verify.root_hash([*LEAF_HASHES[:6], LEAF_HASHES[0]]))
    with pytest.raises(VerificationError) as error:
        verify.verify_consistency_proof(new, fork, [], KEY)
    assert error.value.check == "consistency"
    assert "two different roots" in error.value.reason
    assert verify.verify_consistency_proof(new, new, [], KEY)


# --- Command line ----------------------------------------------------------------------------


def _run(args: list[str], cwd: Path = ROOT, *prefix: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *prefix, *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )


def test_cli_bundle(tmp_path):
    bundle_file = tmp_path / "bundle.json"
    bundle_file.write_text(json.dumps(VECTORS["bundle"]))
    done = _run(
        [
            "-m",
            "ledger.verify",
            "bundle",
            str(bundle_file),
            "--key",
            KEY_TEXT,
            "--identifier",
            " SOKHA@example.com ",
        ]
    )
    assert done.returncode == 0, done.stderr
    assert "index 3 of a tree of size 7" in done.stdout
    assert "Subject commitment of all 1 receipt(s) opens" in done.stdout
    assert "All checks passed for 1 receipt(s)" in done.stdout

    tampered = copy.deepcopy(VECTORS["bundle"])
    proof = tampered["receipts"][0]["proof"]
    position = proof.index("GsYXQ")  # first byte of the second audit path hash
    tampered["receipts"][0]["proof"] = proof[:position] + "H" + proof[position + 1 :]
    bundle_file.write_text(json.dumps(tampered))
    done = _run(["-m", "ledger.verify", "bundle", str(bundle_file), "--key", KEY_TEXT])
    assert done.returncode == 1
    assert done.stderr.startswith("FAILED proof.inclusion: receipt 1:")
    assert done.stdout == ""

    done = _run(
        [
            "-m",
            "ledger.verify",
            "bundle",
            str(bundle_file),
            "--key",
            KEY_TEXT,
            "--identifier",
            "sokha@example.com",
        ]
    )
    assert done.returncode == 1
    # As a script inside the tree, ledger/ comes first on sys.path, where ledger/selectors.py
    # would shadow the standard library's `selectors` if anything imported it.
    done = _run(["ledger/verify.py", "bundle", str(bundle_file), "--key", KEY_TEXT])
    assert done.returncode == 1
    assert done.stderr.startswith("FAILED proof.inclusion:")

    bundle_file.write_text(json.dumps(VECTORS["bundle"]))
    done = _run(
        [
            "-m",
            "ledger.verify",
            "bundle",
            str(bundle_file),
            "--key",
            KEY_TEXT,
            "--identifier",
            "someone@example.com",
        ]
    )
    assert done.returncode == 1
    assert done.stderr.startswith("FAILED commitment:")


def test_cli_report(tmp_path):
    """A signed report (`type: "report"`): verified, and refused when it is another type, from
    another issuer, or edited by one byte."""
    report = {
        "markets": ["KH"],
        "period": {"start": "2026-09-01", "end": "2026-11-30"},
        "sections": {"data": {"missing": [{"code": "no_location"}]}, "deletion": {"missing": []}},
    }
    header = {
        "v": "lup-receipt/1",
        "type": "report",
        "document_id": REQUEST_ID,
        "issuer": NAME,
        "issued_at": "2026-11-27T10:00:00Z",
    }
    envelope, data = sign_envelope({**header, "report": report})
    path = tmp_path / "report.json"
    path.write_text(json.dumps(envelope))
    done = _run(["-m", "ledger.verify", "report", str(path), "--key", KEY_TEXT])
    assert done.returncode == 0, done.stderr
    assert "signature and canonical form verified" in done.stdout
    assert "Markets: KH; period 2026-09-01 to 2026-11-30." in done.stdout
    assert "  data: 1 gap listed" in done.stdout and "  deletion: 0 gaps listed" in done.stdout

    for changed, check in (
        ({"type": "erasure.request"}, "document.type"),
        ({"issuer": "elsewhere.example/receipts"}, "document.issuer"),
    ):
        other, _ = sign_envelope({**header, **changed, "report": report})
        path.write_text(json.dumps(other))
        done = _run(["-m", "ledger.verify", "report", str(path), "--key", KEY_TEXT])
        assert (done.returncode, done.stderr.split(":")[0]) == (1, f"FAILED {check}")

    edited = data.replace(b'"KH"', b'"KX"')
    path.write_text(json.dumps(envelope_with_payload(envelope, edited)))
    done = _run(["-m", "ledger.verify", "report", str(path), "--key", KEY_TEXT])
    assert (done.returncode, done.stderr.split(":")[0]) == (1, "FAILED envelope.signature")


def test_cli_checkpoint_and_consistency(tmp_path):
    key_file = tmp_path / "key.txt"
    key_file.write_text(KEY_TEXT + "\n")
    old = tmp_path / "old.txt"
    new = tmp_path / "new.txt"
    proof = tmp_path / "proof.json"
    old.write_text(sign_checkpoint(4, verify.root_hash(LEAF_HASHES[:4])))
    # Bytes, not text mode: the note must reach the verifier exactly as signed.
    new.write_bytes(VECTORS["checkpoint"].encode())
    path = verify.consistency_path(LEAF_HASHES, 4)
    proof.write_text(json.dumps({"path": [b64(h) for h in path]}))

    done = _run(["-m", "ledger.verify", "checkpoint", str(new), "--key", f"@{key_file}"])
    assert done.returncode == 0, done.stderr
    assert "tree size 7" in done.stdout

    done = _run(
        [
            "-m",
            "ledger.verify",
            "consistency",
            str(old),
            str(new),
            "--proof",
            str(proof),
            "--key",
            f"@{key_file}",
        ]
    )
    assert done.returncode == 0, done.stderr
    assert "Consistent" in done.stdout

    proof.write_text(json.dumps({"path": [b64(h) for h in [*path, path[0]]]}))
    done = _run(
        [
            "-m",
            "ledger.verify",
            "consistency",
            str(old),
            str(new),
            "--proof",
            str(proof),
            "--key",
            f"@{key_file}",
        ]
    )
    assert done.returncode == 1
    assert done.stderr.startswith("FAILED consistency:")

    new.write_bytes(VECTORS["checkpoint"].replace("\n", "\r\n").encode())
    done = _run(["-m", "ledger.verify", "checkpoint", str(new), "--key", KEY_TEXT])
    assert done.returncode == 1
    assert done.stderr.startswith("FAILED checkpoint.format:")


def test_cli_usage_errors(tmp_path):
    bundle_file = tmp_path / "bundle.json"
    bundle_file.write_text(json.dumps(VECTORS["bundle"]))
    for args in (
        ["bundle", str(bundle_file)],
        ["frobnicate", str(bundle_file), "--key", KEY_TEXT],
        ["bundle", str(tmp_path / "missing.json"), "--key", KEY_TEXT],
        ["bundle", str(bundle_file), "--key", f"@{tmp_path / 'missing.txt'}"],
    ):
        done = _run(["-m", "ledger.verify", *args])
        assert done.returncode == 2, args
    done = _run(["-m", "ledger.verify", "bundle", str(bundle_file), "--key", KEY_TEXT[:-2]])
    assert done.returncode == 1
    assert done.stderr.startswith("FAILED key:")


def test_cli_runs_as_a_lone_copied_file(tmp_path):
    """The file needs nothing from the project: copied alone, it runs and imports no project
    package (the editable install would otherwise make them importable)."""
    shutil.copy(ROOT / "ledger" / "verify.py", tmp_path / "verify.py")
    (tmp_path / "bundle.json").write_text(json.dumps(VECTORS["bundle"]))
    done = _run(
        ["verify.py", "bundle", "bundle.json", "--key", KEY_TEXT, "--identifier", IDENTIFIER],
        tmp_path,
        "-I",
        "-X",
        "importtime",
    )
    assert done.returncode == 0, done.stderr
    assert "All checks passed for 1 receipt(s)" in done.stdout
    imported = {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert "rfc8785" in imported and "cryptography" in imported
    project = {
        "ledger",
        "config",
        "access",
        "consent",
        "lineage",
        "erasure",
        "jurisdictions",
        "portal",
        "django",
        "rest_framework",
    }
    assert not imported & project


def test_module_imports_only_stdlib_cryptography_and_rfc8785():
    tree = ast.parse((ROOT / "ledger" / "verify.py").read_text("utf-8"))
    allowed = set(sys.stdlib_module_names) | {"cryptography", "rfc8785"}
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "relative imports break `python ledger/verify.py`"
            names.append(node.module)
    assert names
    assert {name.split(".")[0] for name in names} <= allowed
