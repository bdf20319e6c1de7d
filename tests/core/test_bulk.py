"""`core.bulk.insert_rows`: a few rows go in one INSERT, more in a COPY; either way every row is
stored as given, a generator is consumed once, and a duplicate fails as IntegrityError."""

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from core import bulk
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
