"""Logs are JSON lines with request ids, scrubbed of identifiers before they are written."""

import json
import logging
import os
import uuid
from pathlib import Path

import pytest
import structlog

from core.scrub import scrub_text
from tests import identifiers


@pytest.mark.parametrize(
    "make", [identifiers.email, identifiers.khmer_phone, identifiers.vietnamese_phone]
)
def test_identifiers_in_messages_are_masked(make):
    value = make()
    assert value not in scrub_text(f"lookup for {value} failed")


def test_subject_keys_are_masked_but_counts_and_times_are_kept():
    text = scrub_text(f"key {'ab' * 32} count 100000 at 2026-11-27T03:00:00Z id 42")
    assert "ab" * 32 not in text
    assert "count 100000" in text and "2026-11-27T03:00:00Z" in text


def read_log() -> list[dict]:
    return [json.loads(line) for line in Path(os.environ["LUP_LOG_FILE"]).read_text().splitlines()]


def test_a_log_call_that_names_an_identifier_writes_it_masked():
    email, user = identifiers.email(), identifiers.user_id()
    marker = uuid.uuid4().hex[:8]
    structlog.get_logger("consent.test").warning(
        f"careless-{marker}", email=email, note=f"for {email}", user_id=user
    )
    logging.getLogger("consent.test").warning("stdlib-%s %s", marker, email)
    written = [r for r in read_log() if marker in r.get("event", "")]
    assert len(written) == 2
    assert written[0]["email"] == "[scrubbed]"
    assert written[0]["note"] == "for [scrubbed]"
    assert written[0]["user_id"] == "[scrubbed]"
    assert written[1]["event"] == f"stdlib-{marker} [scrubbed]"


@pytest.mark.django_db
def test_request_logs_carry_the_request_id(client):
    client.get("/api/v1/consent/check", HTTP_X_REQUEST_ID="req-test-0001")
    assert any(r.get("request_id") == "req-test-0001" for r in read_log())


@pytest.mark.django_db
def test_request_logs_of_4xx_answers_hold_no_status_token_or_handle(client):
    """Django logs the path of every 4xx; the path's bearer secrets are scrubbed first."""
    from django.core import mail

    response = client.post(
        "/en/delete/", {"id_type": "email", "value": identifiers.email(), "country": "KH"}
    )
    confirm = response["Location"]
    token = confirm.rstrip("/").split("/")[-2]
    assert client.post(confirm, {"code": "000000"}).status_code == 400  # "Bad Request: <path>"
    assert client.get(f"/en/requests/{token}x/").status_code == 404  # "Not Found: <path>"
    assert client.post("/en/consents/confirm/H4ndleH4ndleH4ndle/", {"code": "1"}).status_code == 400
    assert client.get("/en/requests/o'neil.sokha%40example.com/").status_code == 404
    text = Path(os.environ["LUP_LOG_FILE"]).read_text()
    assert mail.outbox and token not in text and "H4ndle" not in text and "neil" not in text
    assert "/en/requests/[scrubbed]/confirm/" in text
