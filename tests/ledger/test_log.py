"""The log: roots and proofs from stored subtree hashes, append-only, gap-free under load."""

import os
import random

import pytest
from django.db import connection, connections, transaction
from django.db.utils import DatabaseError

from ledger import selectors, verify
from ledger.models import Checkpoint, LogLeaf, LogNode
from ledger.services import checkpoint_create, checkpoint_store, receipts_issue
from tests.ledger.factories import issue, target_body

pytestmark = pytest.mark.django_db


def leaf_hashes() -> list[bytes]:
    return [
        verify.leaf_hash(bytes(leaf))
        for leaf in LogLeaf.objects.order_by("index").values_list("leaf", flat=True)
    ]


def test_roots_and_proofs_from_stored_nodes_match_the_reference_at_every_size():
    for _ in range(5):  # appended in batches of different sizes
        receipts_issue(bodies=[target_body(n) for n in range(random.randint(1, 9))])
    hashes = leaf_hashes()
    n = len(hashes)
    for size in range(1, n + 1):
        assert selectors.root_at(size) == verify.root_hash(hashes[:size])
        for index in range(size):
            path = selectors.inclusion_proof(index=index, size=size)
            assert path == verify.inclusion_path(hashes[:size], index)
            assert verify.verify_inclusion(
                index, size, hashes[index], path, verify.root_hash(hashes[:size])
            )
        for first in range(1, size + 1):
            path = selectors.consistency_proof(first=first, second=size)
            assert path == verify.consistency_path(hashes[:size], first)
            assert verify.verify_consistency(
                first, size, verify.root_hash(hashes[:first]), verify.root_hash(hashes[:size]), path
            )


def test_a_proof_reads_a_logarithmic_number_of_nodes(django_assert_max_num_queries):
    issue(1000)
    with django_assert_max_num_queries(2) as queries:  # the log size, then one node query
        path = selectors.inclusion_proof(index=617, size=1000)
    node_query = queries.captured_queries[-1]["sql"]
    assert len(path) == 10
    assert node_query.count('"level" =') <= 2 * 10  # O(log n) nodes named, not 1000 leaves
    assert "ledger_logleaf" not in node_query


@pytest.mark.parametrize("table", ["ledger_logleaf", "ledger_lognode", "ledger_checkpoint"])
@pytest.mark.parametrize("statement", ["UPDATE {t} SET {c} = {c}", "DELETE FROM {t}"])
def test_postgres_refuses_to_rewrite_the_log(table, statement):
    issue(3)
    checkpoint_create()
    column = {"ledger_logleaf": "leaf", "ledger_lognode": "hash", "ledger_checkpoint": "root"}
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement.format(t=table, c=column[table]))


def test_a_checkpoint_for_an_existing_size_with_another_root_is_refused():
    issue(4)
    checkpoint = checkpoint_create()
    from core.errors import Conflict

    with pytest.raises(Conflict) as err:
        checkpoint_store(size=4, root=bytes(32), note="forged", key_id="00000000")
    assert err.value.code == "checkpoint_fork"
    assert Checkpoint.objects.get(size=4).root == checkpoint.root
    # Same root again is the same checkpoint, not a second one.
    assert (
        checkpoint_store(
            size=4, root=bytes(checkpoint.root), note=checkpoint.note, key_id=checkpoint.key_id
        ).pk
        == checkpoint.pk
    )


def test_checkpoint_note_verifies_with_the_published_key():
    issue(5)
    checkpoint = checkpoint_create()
    from ledger.keys import signer

    note = verify.parse_checkpoint(
        checkpoint.note, [verify.parse_verifier_key(signer().verifier_key)]
    )
    assert (note.origin, note.size, note.root) == (signer().name, 5, bytes(checkpoint.root))


def _fork_appender(count: int) -> int:
    """A child process appending `count` receipts on its own connection; returns its pid.

    os.fork rather than multiprocessing: multiprocessing's after-fork hooks would close the
    parent's inherited broker connections from the child."""
    pid = os.fork()
    if pid:
        return pid
    status = 1
    try:  # the parent closed its connection before forking: this one is the child's own
        for n in range(count):
            receipts_issue(bodies=[target_body(n)])
        connections.close_all()
        status = 0
    finally:
        os._exit(status)


@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_from_several_processes_leave_no_gap():
    connections.close_all()
    children = [_fork_appender(25) for _ in range(4)]
    for pid in children:
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    indexes = list(LogLeaf.objects.order_by("index").values_list("index", flat=True))
    assert indexes == list(range(100))
    assert LogNode.objects.filter(level=0).count() == 100
    hashes = leaf_hashes()
    assert selectors.root_at(100) == verify.root_hash(hashes)
    assert checkpoint_create().size == 100
