"""The log's endpoints (RECEIPTS.md §8) and receipts through the API."""

import base64
import json

import pytest

from ledger import verify
from ledger.keys import signer
from ledger.models import Checkpoint
from ledger.services import checkpoint_create
from tests.ledger.factories import issue

pytestmark = pytest.mark.django_db


def b64list(paths) -> list[bytes]:
    return [base64.b64decode(p) for p in paths]


def test_checkpoint_key_and_proofs_verify_with_the_offline_verifier(client):
    receipts = issue(7)
    key_text = client.get("/api/v1/ledger/key").content.decode().strip()
    assert key_text == signer().verifier_key
    key = verify.parse_verifier_key(key_text)
    checkpoint_create()  # beat's job
    note = client.get("/api/v1/ledger/checkpoint")
    assert note["Content-Type"].startswith("text/plain")
    checkpoint = verify.parse_checkpoint(note.content.decode(), [key])
    assert checkpoint.size == 7

    leaves = client.get("/api/v1/ledger/leaves", {"start": 0, "end": 7}).json()["leaves"]
    assert b64list(leaves) == [verify.leaf_input(bytes(r.payload)) for r in receipts]
    hashes = [verify.leaf_hash(leaf) for leaf in b64list(leaves)]
    assert verify.root_hash(hashes) == checkpoint.root

    path = client.get("/api/v1/ledger/proof/inclusion", {"index": 3, "size": 7}).json()["path"]
    assert verify.verify_inclusion(3, 7, hashes[3], b64list(path), checkpoint.root)

    issue(4)
    checkpoint_create()
    newer = verify.parse_checkpoint(client.get("/api/v1/ledger/checkpoint").content.decode(), [key])
    proof = client.get("/api/v1/ledger/proof/consistency", {"first": 7, "second": 11}).json()
    assert verify.verify_consistency(7, 11, checkpoint.root, newer.root, b64list(proof["path"]))
    keys = client.get("/api/v1/ledger/keys").json()["keys"]
    assert keys == [
        {"verifier_key": key_text, "key_id": key.key_id.hex(), "first_index": 0, "last_index": None}
    ]


@pytest.mark.parametrize(
    ("url", "params"),
    [
        ("/api/v1/ledger/proof/inclusion", {"index": 3, "size": 99}),
        ("/api/v1/ledger/proof/inclusion", {"index": 3, "size": 3}),
        ("/api/v1/ledger/proof/inclusion", {"index": "-1", "size": 3}),
        ("/api/v1/ledger/proof/inclusion", {"index": "x", "size": 3}),
        ("/api/v1/ledger/proof/consistency", {"first": 0, "second": 3}),
        ("/api/v1/ledger/proof/consistency", {"first": 4, "second": 3}),
        ("/api/v1/ledger/leaves", {"start": 0, "end": 5000}),
        ("/api/v1/ledger/leaves", {"start": 2}),
    ],
)
def test_bad_ranges_get_400_invalid_range(client, url, params):
    issue(4)
    response = client.get(url, params)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_range"


def test_an_empty_log_has_no_checkpoint(client):
    response = client.get("/api/v1/ledger/checkpoint")
    assert (response.status_code, response.json()["code"]) == (404, "empty_log")


def test_reading_the_log_signs_nothing(client, api):
    """An anonymous GET never writes: the checkpoint it reads is the latest signed one (by beat
    or by a service that hands receipts out), even when the log has grown since."""
    issue(3)
    assert client.get("/api/v1/ledger/checkpoint").status_code == 404
    signed = checkpoint_create()
    (newer,) = issue(1)
    note = client.get("/api/v1/ledger/checkpoint").content.decode()
    assert note == signed.note and Checkpoint.objects.count() == 1
    url = f"/api/v1/receipts/{newer.receipt_id}"
    pending = api("ledger:read").get(url)
    assert (pending.status_code, pending.json()["code"]) == (409, "checkpoint_pending")
    assert Checkpoint.objects.count() == 1


def test_a_receipt_needs_ledger_read_and_comes_with_its_proof_file(client, api):
    (receipt,) = issue(1)
    checkpoint_create()
    url = f"/api/v1/receipts/{receipt.receipt_id}"
    assert client.get(url).status_code == 401
    assert api("consent:read").get(url).json()["code"] == "insufficient_scope"
    body = api("ledger:read").get(url).json()
    key = verify.parse_verifier_key(signer().verifier_key)
    verified = verify.verify_receipt(body["envelope"], body["proof"], key)
    assert verified.payload["receipt_id"] == str(receipt.receipt_id)
    missing = api("ledger:read").get("/api/v1/receipts/00000000-0000-4000-8000-000000000000")
    assert (missing.status_code, missing.json()["code"]) == (404, "unknown_receipt")
    assert json.loads(base64.b64decode(body["envelope"]["payload"]))["type"] == "erasure.target"


def test_compliance_staff_read_the_log_in_the_admin(client, django_user_model):
    issue(2)
    checkpoint_create()
    auditor = django_user_model.objects.create_user("auditor-1", is_staff=True)
    from django.contrib.auth.models import Group

    auditor.groups.add(Group.objects.get(name="auditor"))
    client.force_login(auditor)
    for page in ("receipt", "checkpoint", "signingkey"):
        assert client.get(f"/admin/ledger/{page}/").status_code == 200
    receipt = issue(1)[0]
    page = client.get(f"/admin/ledger/receipt/{receipt.receipt_id}/change/")
    assert page.status_code == 200
    assert b"lup-receipt/1" in page.content


def test_openssl_verifies_a_receipt_signature_as_the_format_promises(tmp_path):
    """RECEIPTS.md: `openssl pkeyutl -verify -pubin -inkey key.pem -rawin` checks a receipt."""
    import shutil
    import subprocess

    from cryptography.hazmat.primitives import serialization

    openssl = shutil.which("openssl")
    assert openssl, "openssl is part of the base system"
    (receipt,) = issue(1)
    public = (
        signer()
        .private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    (tmp_path / "key.pem").write_bytes(public)
    (tmp_path / "payload.bin").write_bytes(bytes(receipt.payload))
    (tmp_path / "sig.bin").write_bytes(bytes(receipt.signature))
    command = [
        openssl,
        "pkeyutl",
        "-verify",
        "-pubin",
        "-inkey",
        "key.pem",
        "-rawin",
        "-in",
        "payload.bin",
        "-sigfile",
        "sig.bin",
    ]
    good = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True)
    assert good.returncode == 0, good.stderr
    (tmp_path / "payload.bin").write_bytes(bytes(receipt.payload).replace(b'"v"', b'"w"'))
    bad = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True)
    assert bad.returncode != 0
