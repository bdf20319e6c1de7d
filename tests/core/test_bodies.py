"""A body without a length (chunked) is read whole or refused with 411, never seen as empty."""

import contextlib
import http.client
import json
from urllib.parse import urlsplit

import pytest

from access.services import api_token_create
from consent.models import ConsentEvent
from tests.consent import factories as f
from tests.servers import gunicorn

URL = "/api/v1/consent/events"


def event() -> bytes:
    return json.dumps(f.api_event()).encode()


def post_chunked(base: str, token: str, body: bytes) -> tuple[int, dict]:
    """POST `body` in 100-byte chunks, with no Content-Length, as http.client sends it."""
    where = urlsplit(base)
    conn = http.client.HTTPConnection(where.hostname, where.port, timeout=30)
    chunks = (body[i : i + 100] for i in range(0, len(body), 100))
    # A server that refuses a body may answer and close before it has all been sent.
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        conn.request(
            "POST",
            URL,
            body=chunks,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            encode_chunked=True,
        )
    response = conn.getresponse()
    answer = response.status, json.loads(response.read() or b"{}")
    conn.close()
    return answer


@pytest.fixture
def token(transactional_db) -> str:
    f.notice()
    return api_token_create(name="chunked", scopes=["consent:write", "consent:read"])[1]


def test_a_server_that_cannot_end_a_chunked_body_refuses_it_with_411(live_server, token):
    status, body = post_chunked(live_server.url, token, event())
    assert (status, body["code"]) == (411, "length_required")
    assert ConsentEvent.objects.count() == 0


def test_gunicorn_reads_a_chunked_body_whole_and_refuses_one_past_the_limit(tmp_path, token):
    with gunicorn(tmp_path, LUP_MAX_JSON_BYTES="2048") as base:
        status, body = post_chunked(base, token, event())
        assert status == 201, body
        assert body["purpose"] == "train_ai_system.evaluation"
        assert ConsentEvent.objects.count() == 1
        padded = event()[:-1] + b', "pad": "' + b"x" * 3000 + b'"}'
        status, body = post_chunked(base, token, padded)
        assert (status, body["code"]) == (411, "length_required")
    assert ConsentEvent.objects.count() == 1
