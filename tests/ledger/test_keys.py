"""Signing keys: made by ledger_keygen, rotated without breaking what the old key signed."""

import stat

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from ledger import keys, verify
from ledger.selectors import published_keys
from ledger.services import checkpoint_create
from tests.ledger.factories import issue


def test_keygen_writes_a_private_file_and_prints_the_verifier_key(tmp_path, capsys, settings):
    path = tmp_path / "new.pem"
    call_command("ledger_keygen", "--out", str(path))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = capsys.readouterr().out.strip()
    key = verify.parse_verifier_key(text)
    assert key.name == settings.LUP_LOG_ORIGIN
    private = keys.load_private_key(path)
    assert private.public_key().public_bytes_raw() == key.public_key
    with pytest.raises(CommandError, match="never overwritten"):
        call_command("ledger_keygen", "--out", str(path))


@pytest.mark.django_db
def test_a_new_key_signs_from_the_next_index_and_the_old_stays_published(
    tmp_path, settings, client
):
    old_receipts = issue(3)
    old_checkpoint = checkpoint_create()
    old_key = verify.parse_verifier_key(keys.signer().verifier_key)

    new_path = tmp_path / "rotated.pem"
    keys.write_key_file(new_path)
    settings.LUP_SIGNING_KEY_FILE = str(new_path)
    keys.forget()
    try:
        new_receipts = issue(2)
        new_checkpoint = checkpoint_create()
        new_key = verify.parse_verifier_key(keys.signer().verifier_key)
    finally:
        keys.forget()
    assert new_key.key_id != old_key.key_id
    assert [(k["key_id"], k["first_index"], k["last_index"]) for k in published_keys()] == [
        (old_key.key_id.hex(), 0, 2),
        (new_key.key_id.hex(), 3, None),
    ]
    assert {r.key_id for r in old_receipts} == {old_key.key_id.hex()}
    assert {r.key_id for r in new_receipts} == {new_key.key_id.hex()}
    # What the old key signed still verifies with it, and the new checkpoint with the new key.
    verify.parse_checkpoint(old_checkpoint.note, [old_key])
    verify.parse_checkpoint(new_checkpoint.note, [new_key])
    with pytest.raises(verify.VerificationError):
        verify.parse_checkpoint(new_checkpoint.note, [old_key])
    call_command("ledger_audit")
