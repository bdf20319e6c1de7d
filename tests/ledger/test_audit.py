"""ledger_audit recomputes the log and names what was changed behind the service's back."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from ledger.services import checkpoint_create
from tests.ledger.factories import issue

pytestmark = pytest.mark.django_db


def test_a_clean_log_passes(capsys):
    issue(6)
    checkpoint_create()
    issue(5)
    checkpoint_create()
    call_command("ledger_audit")
    out = capsys.readouterr().out
    assert "Audited 11 leaves, 2 checkpoints, 11 receipts." in out
    assert "matches" in out


def _tamper(sql: str, params: list, table: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER {table}_append_only")
        cursor.execute(sql, params)
        cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER {table}_append_only")


def test_a_leaf_altered_behind_the_services_back_is_named(capsys):
    issue(8)
    checkpoint_create()
    _tamper(
        "UPDATE ledger_logleaf SET leaf = %s WHERE index = 5",
        [b"lup-receipt-leaf/v1\n" + bytes(32)],
        "ledger_logleaf",
    )
    with pytest.raises(CommandError, match="mismatch"):
        call_command("ledger_audit")
    err = capsys.readouterr().err
    assert "MISMATCH index 5: leaf does not match its stored hash" in err
    assert "MISMATCH index 5: receipt is not the leaf stored at its index" in err
    assert "checkpoint 8: root differs" in err


def test_a_rewritten_subtree_hash_is_found(capsys):
    issue(8)
    checkpoint_create()
    _tamper(
        "UPDATE ledger_lognode SET hash = %s WHERE level = 2 AND index = 1",
        [bytes(32)],
        "ledger_lognode",
    )
    with pytest.raises(CommandError):
        call_command("ledger_audit")
    assert "MISMATCH index 4: stored subtree hash 2/1 differs" in capsys.readouterr().err


def test_a_forged_receipt_signature_is_found(capsys):
    issue(1)
    checkpoint_create()
    with connection.cursor() as cursor:  # receipts are not append-only; their envelopes can go
        cursor.execute("UPDATE ledger_receipt SET signature = %s", [bytes(64)])
    with pytest.raises(CommandError):
        call_command("ledger_audit")
    assert "index 0: receipt does not verify" in capsys.readouterr().err
