"""The subject pages are whole in the subject's language: Django's own validation messages,
the 400, 403, 404 and 500 pages (under the subject pages' strict policy), a session of their
own beside a staff member's, and the same identifiers as the API."""

import re

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.test import Client, RequestFactory
from django.utils import translation

from config.urls import server_error
from consent.demo import load_demo
from erasure.models import ErasureRequest
from portal.errors import MESSAGES
from tests import identifiers

pytestmark = pytest.mark.django_db

ENGLISH = (
    "Null characters are not allowed",
    "Ensure this value has at most",
    "This field is required",
    "Select a valid choice",
    "CSRF",
    "Not Found",
    "Bad Request",
    "Server Error",
)


def assert_whole(response, language: str, status: int) -> str:
    assert response.status_code == status
    page = response.content.decode()
    assert f'lang="{language}"' in page
    assert not [english for english in ENGLISH if english in page], page
    policy = response["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "unsafe-inline" not in policy
    return page


@pytest.mark.parametrize("language", ["km", "lo", "fil", "th"])
def test_djangos_own_messages_are_in_the_subjects_language(language):
    client = Client()
    for value in ("sok\x00ha@example.com", "x" * 300 + "@example.com"):
        form = {"id_type": "email", "value": value, "country": "KH"}
        assert_whole(client.post(f"/{language}/delete/", form), language, 400)
    assert_whole(client.post(f"/{language}/delete/", {"id_type": "fax"}), language, 400)
    assert ErasureRequest.objects.count() == 0


@pytest.mark.parametrize("language", ["km", "th"])
def test_the_error_pages_speak_the_subjects_language(language):
    with translation.override(language):
        words = {status: str(message) for status, message in MESSAGES.items()}
    assert words[404] != str(MESSAGES[404])  # translated, not English

    page = assert_whole(Client().get(f"/{language}/requests/no-such-token/"), language, 404)
    assert words[404] in page
    refused = Client(enforce_csrf_checks=True).post(f"/{language}/delete/", {})
    assert words[403] in assert_whole(refused, language, 403)
    bad_host = Client(HTTP_HOST="elsewhere.example").get(f"/{language}/")
    assert words[400] in assert_whole(bad_host, language, 400)
    with translation.override(language):
        failed = server_error(RequestFactory().get(f"/{language}/delete/"))
    assert words[500] in assert_whole(failed, language, 500)


def test_the_api_keeps_its_own_error_answers(client):
    assert client.get("/api/v1/nothing-here").json()["code"] == "not_found"


def test_a_subject_leaving_does_not_sign_a_staff_member_out():
    load_demo()
    User.objects.create_user("staffer", password="a-long-staff-password-1", is_staff=True)
    client = Client()
    client.force_login(User.objects.get(username="staffer"))
    staff_session = client.cookies["sessionid"].value
    confirm = client.post("/km/consents/", {"id_type": "email", "value": identifiers.email()})
    code = re.search(r"\b(\d{6})\b", mail.outbox[-1].body).group(1)
    assert client.post(confirm["Location"], {"code": code})["Location"] == "/km/consents/mine/"
    assert client.cookies["sessionid"].value == staff_session  # untouched
    assert client.get("/km/consents/mine/").status_code == 200
    client.get("/km/consents/leave/")
    assert client.get("/km/consents/mine/").status_code == 302  # the subject left
    assert client.get("/admin/").status_code == 200  # the staff member did not


@pytest.mark.parametrize(
    "email", ["สมชาย@example.co.th", "សុខា@example.com.kh", "sókha.o'neil@example.com"]
)
def test_the_form_and_the_api_accept_the_same_identifiers(api, email):
    identifiers.USED.add(email)
    form = Client().post("/en/delete/", {"id_type": "email", "value": email, "country": "KH"})
    assert form.status_code == 302
    filed = api("erasure:write", "erasure:read").post(
        "/api/v1/erasure-requests",
        {"identifiers": [{"id_type": "email", "value": email}], "country": "KH"},
        format="json",
    )
    assert filed.status_code == 201, filed.json()
    assert filed.json()["linked_to"] is not None  # the same subject key: linked to the first
