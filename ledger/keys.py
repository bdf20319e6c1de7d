"""The Ed25519 key that signs receipts and checkpoints, named by the log's origin."""

import contextlib
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings

from ledger import verify


@dataclass(frozen=True)
class Signer:
    name: str
    private_key: Ed25519PrivateKey
    public_key: bytes

    @property
    def key_id(self) -> bytes:
        return verify.key_id(self.name, self.public_key)

    @property
    def key_id_hex(self) -> str:
        return self.key_id.hex()

    @property
    def verifier_key(self) -> str:
        return verify.verifier_key_text(self.name, self.public_key)

    def sign(self, message: bytes) -> bytes:
        return self.private_key.sign(message)


def write_key_file(path: Path, private_key: Ed25519PrivateKey | None = None) -> Ed25519PrivateKey:
    """Write a new key (PKCS#8 PEM, mode 0600); refuses to replace an existing file."""
    private_key = private_key or Ed25519PrivateKey.generate()
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # O_EXCL: a key is never silently overwritten; rotation writes a new file.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    return private_key


def load_private_key(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("the signing key file does not hold an Ed25519 key")
    return key


@cache
def _signer(path: str, name: str) -> Signer:
    file = Path(path)
    if not file.exists() and settings.EMBEDDED:
        with contextlib.suppress(FileExistsError):  # another process made it first
            write_key_file(file)
    private_key = load_private_key(file)
    public = private_key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return Signer(name=name, private_key=private_key, public_key=public)


def signer() -> Signer:
    """The current signing key. A new key file takes effect when processes restart."""
    return _signer(settings.LUP_SIGNING_KEY_FILE, settings.LUP_LOG_ORIGIN)


def forget() -> None:
    _signer.cache_clear()
