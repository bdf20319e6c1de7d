"""Two imports naming the same new people at once: one subject each, no orphans."""

import threading

import pytest
from django.db import connection

from consent.inputs import subject_from_identifier
from consent.models import ConsentEvent, Subject, SubjectIdentifier
from core.subject_keys import normalize
from tests import identifiers
from tests.consent import factories as f


@pytest.mark.django_db(transaction=True)
def test_concurrent_imports_with_overlapping_new_subjects():
    f.notice()
    shared = [identifiers.email() for _ in range(200)]
    refs = [subject_from_identifier(normalize("email", e)) for e in shared]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run(purpose: str) -> None:
        try:
            barrier.wait()
            f.record(*(f.event(ref, purpose) for ref in refs))
        except BaseException as exc:  # reported below, on the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(p,)) for p in ("marketing", "train_ai_system")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert SubjectIdentifier.objects.count() == 200
    assert Subject.objects.count() == 200  # the losing import's extra subjects were removed
    assert ConsentEvent.objects.count() == 400
    per_subject = {
        s.id: set(s.events.values_list("purpose__key", flat=True)) for s in Subject.objects.all()
    }
    assert all(p == {"marketing", "train_ai_system"} for p in per_subject.values())
