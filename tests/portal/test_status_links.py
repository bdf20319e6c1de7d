"""Status links: random, stored only as a hash, and ending a set time after the request closes."""

import re
from datetime import timedelta

import pytest
from django.core import mail, signing
from django.test import Client
from django.utils import timezone

from erasure.gate import erasure_request_proceed
from erasure.models import ErasureRequest
from identity.links import link_digest
from identity.models import BearerLink
from portal.views import STATUS_SALT
from tests import identifiers

pytestmark = pytest.mark.django_db


def filed_and_confirmed(client: Client) -> tuple[str, str]:
    """The status page's path and its token, for a request filed and confirmed by `client`."""
    confirm = client.post(
        "/en/delete/", {"id_type": "email", "value": identifiers.email(), "country": "KH"}
    )["Location"]
    code = re.search(r"\b(\d{6})\b", mail.outbox[-1].body).group(1)
    status = client.post(confirm, {"code": code})["Location"]
    return status, status.rstrip("/").rsplit("/", 1)[1]


def test_the_token_is_stored_only_as_its_hash():
    _, token = filed_and_confirmed(Client())
    (link,) = BearerLink.objects.all()
    assert link.digest == link_digest(token) and link.digest.startswith("sha256$")
    assert token not in link.digest
    assert link.ref == str(ErasureRequest.objects.get().pk)


def test_the_link_ends_the_set_number_of_days_after_the_request_closes(settings):
    settings.LUP_STATUS_LINK_DAYS = 2
    client = Client()
    status, _ = filed_and_confirmed(client)
    request = ErasureRequest.objects.get()
    erasure_request_proceed(request_id=request.pk, actor="system")  # no targets: closes at once
    request.refresh_from_db()
    assert request.closed_at is not None
    assert client.get(status).status_code == 200
    assert client.get(status + "receipts.json").status_code == 200
    ErasureRequest.objects.filter(pk=request.pk).update(
        closed_at=timezone.now() - timedelta(days=2, seconds=1)
    )
    assert client.get(status).status_code == 404
    assert client.get(status + "receipts.json").status_code == 404


def test_an_open_request_keeps_its_link_and_an_old_signed_link_still_opens_it(settings):
    settings.LUP_STATUS_LINK_DAYS = 0
    client = Client()
    status, token = filed_and_confirmed(client)
    request = ErasureRequest.objects.get()
    assert client.get(status).status_code == 200
    legacy = signing.dumps(str(request.pk), salt=STATUS_SALT)
    assert client.get(status.replace(token, legacy)).status_code == 200
    assert client.get(status.replace(token, token[:-1] + "x")).status_code == 404
