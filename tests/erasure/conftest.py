import pytest

from erasure import execution


@pytest.fixture
def enqueued(monkeypatch) -> list[int]:
    """Runs handed to the broker; the test runs them in-process where a worker would."""
    runs: list[int] = []
    monkeypatch.setattr(
        execution, "target_run_enqueue", lambda *, run, now=None: runs.append(run.pk)
    )
    return runs
