"""A real Celery worker process runs Lup's tasks against the real broker and database."""

import time

import pytest

from consent.models import ConsentState
from consent.tasks import consent_rebuild_state
from tests.consent import factories as f


@pytest.mark.django_db(transaction=True)
def test_a_worker_rebuilds_the_consent_projection(celery_worker_process):
    f.notice()
    ref = f.subject()
    f.record(f.event(ref, "marketing"), f.event(ref, "train_ai_system"))
    ConsentState.objects.all().delete()  # the projection is lost; the events are not

    consent_rebuild_state.delay()  # through Redis to the worker process
    deadline = time.monotonic() + 30
    while ConsentState.objects.count() < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert ConsentState.objects.count() == 2
    assert celery_worker_process.poll() is None
