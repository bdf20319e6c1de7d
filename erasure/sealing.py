"""Sealing a request's raw identifiers: AES-GCM under a per-request data key, itself wrapped
with the deployment's key-encryption key (`LUP_REQUEST_KEK`). Destroying the data key destroys
the identifiers, whatever copies of the database exist (backups included)."""

import json
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

NONCE = 12


def _kek() -> AESGCM:
    return AESGCM(bytes.fromhex(settings.LUP_REQUEST_KEK))


def new_data_key() -> tuple[bytes, bytes]:
    """A fresh data key and its wrapped form (nonce + ciphertext under the KEK)."""
    key = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(NONCE)
    return key, nonce + _kek().encrypt(nonce, key, b"lup-request-key/v1")


def unwrap(wrapped: bytes) -> bytes:
    return _kek().decrypt(wrapped[:NONCE], wrapped[NONCE:], b"lup-request-key/v1")


def seal(*, key: bytes, request_id: str, identifiers: dict) -> bytes:
    nonce = os.urandom(NONCE)
    # The request id is bound as associated data: a sealed blob moved to another request
    # does not open there.
    plaintext = json.dumps(identifiers, separators=(",", ":")).encode()
    return nonce + AESGCM(key).encrypt(nonce, plaintext, request_id.encode())


def unseal(*, key: bytes, request_id: str, sealed: bytes) -> dict:
    plaintext = AESGCM(key).decrypt(sealed[:NONCE], sealed[NONCE:], request_id.encode())
    return json.loads(plaintext)
