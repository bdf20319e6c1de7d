"""gunicorn as deployed loads the application once and forks its workers from it, so a worker
recycled after `GUNICORN_MAX_REQUESTS` starts at once and still reaches the database."""

import json
import urllib.request

import pytest

from access.services import api_token_create
from consent.models import ConsentEvent
from tests.consent import factories as f
from tests.servers import gunicorn


@pytest.fixture
def token(transactional_db) -> str:
    f.notice()
    return api_token_create(name="recycled", scopes=["consent:write"])[1]


def record_consent(base: str, token: str) -> int:
    request = urllib.request.Request(  # noqa: S310 (a local test server)
        f"{base}/api/v1/consent/events",
        data=json.dumps(f.api_event()).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return response.status


def test_recycled_workers_are_forks_of_the_loaded_application_and_each_writes(tmp_path, token):
    # One worker, recycled after 10 or 11 requests: 40 requests go through at least 4 workers.
    with gunicorn(tmp_path, WEB_CONCURRENCY="1", GUNICORN_MAX_REQUESTS="10") as base:
        statuses = [record_consent(base, token) for _ in range(40)]
    assert statuses == [201] * 40
    assert ConsentEvent.objects.count() == 40
    (log,) = tmp_path.glob("gunicorn-*.log")
    lines = log.read_text().splitlines()
    assert sum("Booting worker" in line for line in lines) >= 4
    # The application announced its mode once, as the arbiter loaded it, not once per worker.
    assert sum('"lup.service_mode"' in line for line in lines) == 1
