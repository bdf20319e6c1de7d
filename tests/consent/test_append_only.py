"""Consent events are append-only in the database itself, not only in Python."""

import pytest
from django.db import connection, transaction
from django.db.utils import DatabaseError

from consent.models import ConsentEvent
from tests.consent import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def event_id():
    f.notice()
    return f.record(f.event(f.subject(), "train_ai_system")).events[0].id


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE consent_consentevent SET status = 'withdrawn' WHERE id = %s",
        "DELETE FROM consent_consentevent WHERE id = %s",
    ],
)
def test_postgres_refuses_to_change_or_delete_an_event(event_id, statement):
    assert connection.vendor == "postgresql"
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement, [event_id])
    assert ConsentEvent.objects.get(id=event_id).status == "given"


def test_orm_save_of_an_existing_event_is_refused_too(event_id):
    event = ConsentEvent.objects.get(id=event_id)
    event.status = "refused"
    with pytest.raises(DatabaseError), transaction.atomic():
        event.save()
