"""The subject's bundle link is mailed by a task of its own once their request has closed: the
erasure worker never waits on a mail server, a mail server down undoes nothing and the mail is
tried again, and a request naming no e-mail address sends nothing."""

import json
import smtplib

import pytest
from celery.exceptions import Retry
from django.core import mail

from erasure import bundle_links, dispatch
from erasure.models import ErasureRequest
from erasure.runs import target_run_execute
from erasure.tasks import erasure_send_bundle_link
from tests import identifiers
from tests.erasure.test_trusted_filing import URL, VERIFIED, body, register

pytestmark = pytest.mark.django_db


@pytest.fixture
def to_mail(monkeypatch) -> list[str]:
    """Bundle-link tasks handed to the broker; the test runs them where a worker would."""
    sent: list[str] = []
    monkeypatch.setattr(
        dispatch, "bundle_link_enqueue", lambda *, request_id: sent.append(str(request_id))
    )
    return sent


def closed_request(api, tmp_path, settings, enqueued, capture, email: str) -> str:
    register(api, tmp_path, settings)
    (tmp_path / "eval.jsonl").write_text(json.dumps({"email": email.lower()}) + "\n")
    caller = api("erasure:write", "erasure:verify", "erasure:read")
    with capture(execute=True):
        filed = caller.post(URL, body(email, verified=VERIFIED, plan=True), format="json").json()
    with capture(execute=True):
        target_run_execute(run_id=enqueued[0])
    assert ErasureRequest.objects.get(pk=filed["id"]).state == "completed"
    return filed["id"]


def test_the_link_is_mailed_by_its_own_task_once_the_request_closed(
    api, tmp_path, settings, enqueued, to_mail, django_capture_on_commit_callbacks
):
    email = identifiers.email()
    request_id = closed_request(
        api, tmp_path, settings, enqueued, django_capture_on_commit_callbacks, email
    )
    assert to_mail == [request_id] and not mail.outbox  # closing sent nothing itself
    assert erasure_send_bundle_link.apply(args=[request_id]).get() is True
    (message,) = mail.outbox
    assert message.to == [email.lower()]
    assert "/api/v1/bundles/" in message.body


def test_a_mail_server_down_undoes_nothing_and_the_mail_is_tried_again(
    api, tmp_path, settings, enqueued, to_mail, django_capture_on_commit_callbacks, monkeypatch
):
    request_id = closed_request(
        api, tmp_path, settings, enqueued, django_capture_on_commit_callbacks, identifiers.email()
    )

    def down(**kwargs):
        raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")

    monkeypatch.setattr(bundle_links, "send_bundle_link", down)
    with pytest.raises(Retry):  # asked to be tried again, after a backoff
        erasure_send_bundle_link.apply(args=[request_id])
    assert ErasureRequest.objects.get(pk=request_id).state == "completed"


def test_nothing_is_sent_without_an_address_or_once_shredded(
    api, tmp_path, settings, enqueued, to_mail, django_capture_on_commit_callbacks
):
    request_id = closed_request(
        api, tmp_path, settings, enqueued, django_capture_on_commit_callbacks, identifiers.email()
    )
    ErasureRequest.objects.filter(pk=request_id).update(shredded_at="2026-01-01T00:00Z")
    assert erasure_send_bundle_link.apply(args=[request_id]).get() is False
    assert not mail.outbox

    caller = api("erasure:write", "erasure:verify", "erasure:read")
    by_id = {"identifiers": [{"id_type": "user_id", "value": "u-77"}], "country": "KH"}
    with django_capture_on_commit_callbacks(execute=True):
        filed = caller.post(URL, {**by_id, "verified": VERIFIED, "plan": True}, format="json")
    with django_capture_on_commit_callbacks(execute=True):
        target_run_execute(run_id=enqueued[-1])
    assert ErasureRequest.objects.get(pk=filed.json()["id"]).state == "completed"
    assert to_mail == [request_id]  # none for the request naming no address
