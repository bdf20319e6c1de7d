"""`core.bulk`: `insert_rows` sends a few rows in one INSERT and more in a COPY, either way every
row stored as given and a duplicate failing as IntegrityError; `insert_together` stores objects
of several models in one statement, with their ids, all or none."""

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core import bulk
from erasure.models import ErasureRequest, Transition
from ledger.models import LogNode

pytestmark = pytest.mark.django_db


def _rows(count: int, start: int = 0):
    return ((3, i, bytes([i % 256]) * 32) for i in range(start, start + count))


def _stored() -> list[tuple]:
    return [
        (level, index, bytes(value))
        for level, index, value in LogNode.objects.filter(level=3)
        .order_by("index")
        .values_list("level", "index", "hash")
    ]


@pytest.mark.parametrize("count", [1, bulk.FEW, bulk.FEW + 1, 500])
def test_every_row_is_stored_as_given(count):
    bulk.insert_rows(LogNode, ["level", "index", "hash"], _rows(count))
    assert _stored() == list(_rows(count))


def test_a_few_rows_are_one_statement():
    with CaptureQueriesContext(connection) as queries:
        bulk.insert_rows(LogNode, ["level", "index", "hash"], _rows(bulk.FEW))
    assert len(queries) == 1
    assert queries[0]["sql"].startswith('INSERT INTO "ledger_lognode"')


def test_nothing_to_insert_sends_nothing():
    with CaptureQueriesContext(connection) as queries:
        bulk.insert_rows(LogNode, ["level", "index", "hash"], iter([]))
    assert len(queries) == 0


@pytest.mark.parametrize("count", [2, 100])
def test_a_duplicate_is_an_integrity_error_and_stores_nothing(count):
    bulk.insert_rows(LogNode, ["level", "index", "hash"], _rows(1, start=count - 1))
    with pytest.raises(IntegrityError), transaction.atomic():
        bulk.insert_rows(LogNode, ["level", "index", "hash"], _rows(count))
    assert _stored() == list(_rows(1, start=count - 1))


def _request_with_steps(steps: int) -> tuple[ErasureRequest, list[Transition]]:
    now = timezone.now()
    request = ErasureRequest(
        channel="api", requested_by="t", received_at=now, sealed_identifiers=b"x"
    )
    trail = [
        Transition(request=request, to_state="received", actor="t", reason=f"step {i}", at=now)
        for i in range(steps)
    ]
    return request, trail


def test_objects_of_several_models_go_in_one_statement_with_their_ids():
    request, trail = _request_with_steps(3)
    with CaptureQueriesContext(connection) as queries:
        bulk.insert_together([(ErasureRequest, [request]), (Transition, trail), (LogNode, [])])
    assert len(queries) == 1
    stored = Transition.objects.filter(request=request).order_by("pk")
    assert [(t.pk, t.reason) for t in trail] == [(t.pk, t.reason) for t in stored]
    assert not request._state.adding and all(not t._state.adding for t in trail)
    assert ErasureRequest.objects.get(pk=request.pk).channel == "api"


def test_a_failing_row_stores_none_of_the_others():
    request, trail = _request_with_steps(1)
    bulk.insert_rows(LogNode, ["level", "index", "hash"], _rows(1))
    duplicate = LogNode(level=3, index=0, hash=bytes(32))
    with pytest.raises(IntegrityError), transaction.atomic():
        bulk.insert_together(
            [(ErasureRequest, [request]), (Transition, trail), (LogNode, [duplicate])]
        )
    assert not ErasureRequest.objects.filter(pk=request.pk).exists()
    assert not Transition.objects.exists()
