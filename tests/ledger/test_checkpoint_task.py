"""Celery beat's periodic checkpoint, run by a real worker."""

import time

import pytest
from django.conf import settings

from ledger.models import Checkpoint
from ledger.tasks import ledger_checkpoint
from tests.ledger.factories import issue


def test_beat_schedules_the_checkpoint_task():
    entry = settings.CELERY_BEAT_SCHEDULE["ledger-checkpoint"]
    assert entry["task"] == ledger_checkpoint.name
    assert entry["schedule"] > 0


@pytest.mark.django_db(transaction=True)
def test_a_worker_signs_a_checkpoint_when_the_log_grew(celery_worker_process):
    issue(3)
    ledger_checkpoint.delay()
    deadline = time.monotonic() + 30
    while not Checkpoint.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert list(Checkpoint.objects.values_list("size", flat=True)) == [3]
    ledger_checkpoint.delay()  # nothing new: no second checkpoint
    issue(1)
    ledger_checkpoint.delay()
    deadline = time.monotonic() + 30
    while Checkpoint.objects.count() < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert sorted(Checkpoint.objects.values_list("size", flat=True)) == [3, 4]
