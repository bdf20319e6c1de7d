"""The API's answer to a server failure: the one error shape, and no claim it cannot keep. A
failure may come after a commit, so it never says that nothing changed."""

import json

from django.test import RequestFactory

from config.urls import server_error


def test_a_server_error_does_not_claim_nothing_changed():
    response = server_error(RequestFactory().post("/api/v1/erasure-requests/x/plan"))
    body = json.loads(response.content)
    assert (response.status_code, body["code"]) == (500, "server_error")
    assert "nothing" not in body["detail"].lower()
    assert "read the resource again" in body["detail"].lower()
