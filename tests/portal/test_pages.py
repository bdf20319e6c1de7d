"""The subject pages without a browser: language choice, the deletion and consent flows, rate
limits, security headers, and what the pages never reveal."""

import re

import pytest
from django.core import mail
from django.core.cache import cache
from django.test import Client

from consent.demo import load_demo
from consent.models import ConsentEvent
from erasure.gate import erasure_request_proceed
from erasure.models import ErasureRequest
from tests import identifiers

pytestmark = pytest.mark.django_db


def code_from(message) -> str:
    return re.search(r"\b(\d{6})\b", message.body).group(1)


def file_request(client: Client, email: str, language: str = "en", **extra):
    return client.post(
        f"/{language}/delete/",
        {
            "id_type": "email",
            "value": email,
            "country": "KH",
            **extra,
        },
    )


@pytest.mark.parametrize(
    ("accept", "where"),
    [
        ("km-KH,km;q=0.9,en;q=0.5", "/km/"),
        ("th", "/th/"),
        ("zh-CN,zh;q=0.9", "/zh-hans/"),
        ("fil-PH", "/fil/"),
        ("de-DE", "/en/"),
    ],
)
def test_the_start_page_speaks_the_browsers_language(accept, where):
    response = Client(HTTP_ACCEPT_LANGUAGE=accept).get("/")
    assert (response.status_code, response["Location"]) == (302, where)


def test_every_page_sends_a_strict_policy_and_names_no_other_site():
    client = Client()
    for path in ("/km/", "/km/delete/", "/km/consents/"):
        response = client.get(path)
        assert response.status_code == 200
        policy = response["Content-Security-Policy"]
        assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
        assert "unsafe-inline" not in policy
        html = response.content.decode()
        # Every link, script, style and font is our own: no address on another host.
        assert not re.search(r'(?:src|href)="(?:https?:)?//', html), path
        assert "<script" not in html and "style=" not in html


def test_a_bad_address_is_refused_in_the_subjects_language_and_files_nothing():
    response = file_request(Client(), "not-an-address", language="km")
    assert response.status_code == 400
    page = response.content.decode()
    assert "This is not a valid e-mail address." not in page  # translated, not English
    assert 'lang="km"' in page
    assert ErasureRequest.objects.count() == 0 and not mail.outbox


def test_filing_sends_a_code_in_the_subjects_language_and_the_status_page_hides_the_identifier():
    email = identifiers.email()
    client = Client()
    response = file_request(client, email, language="km", note="ខ្ញុំចង់លុបទិន្នន័យ")
    assert response.status_code == 302 and "/km/requests/" in response["Location"]
    (message,) = mail.outbox
    assert message.to == [email.lower()]
    assert "Your code" not in message.subject  # Khmer, not English
    confirm = response["Location"]
    wrong = client.post(confirm, {"code": "12345"})  # not six digits
    assert wrong.status_code == 400
    code = code_from(message)
    bad = client.post(confirm, {"code": f"{(int(code) + 1) % 10**6:06d}"})
    assert bad.status_code == 400
    done = client.post(confirm, {"code": code})
    assert done.status_code == 302
    request = ErasureRequest.objects.get()
    assert request.state == "verified" and request.channel == "portal"
    status = client.get(done["Location"])
    assert status.status_code == 200
    page = status.content.decode()
    for form in (email, email.lower(), email.split("@")[0], email.split("@")[0].lower()):
        assert form not in page
    assert code not in page
    # Another visitor with the address sees the same; a forged address shows nothing.
    assert Client().get(done["Location"]).status_code == 200
    assert Client().get(done["Location"].replace("requests/", "requests/x")).status_code == 404


def test_the_status_page_follows_the_request_to_its_receipts(settings, tmp_path):
    email = identifiers.email()
    client = Client()
    confirm = file_request(client, email)["Location"]
    status_url = client.post(confirm, {"code": code_from(mail.outbox[0])})["Location"]
    assert "receipts.json" not in client.get(status_url).content.decode()
    request = ErasureRequest.objects.get()
    erasure_request_proceed(request_id=request.pk, actor="system")  # no targets: done at once
    request.refresh_from_db()
    assert request.state == "completed"
    page = client.get(status_url).content.decode()
    assert "receipts.json" in page and "python -m ledger.verify bundle" in page
    bundle = client.get(status_url + "receipts.json")
    assert bundle.status_code == 200
    assert bundle["Content-Disposition"].startswith("attachment")
    assert bundle.json()["receipts"]


def test_known_and_unknown_addresses_get_the_same_answer():
    load_demo()  # demo subjects have consent records; a fresh address has none
    known = "demo-subject-0@example.org"
    identifiers.USED.add(known)
    unknown = identifiers.email()
    answers = []
    for address in (known, unknown):
        client = Client()
        first = client.post("/en/consents/", {"id_type": "email", "value": address})
        second = file_request(client, address)
        answers.append(
            (
                first.status_code,
                re.sub(r"/[^/]+/$", "/", first["Location"]),
                second.status_code,
                re.sub(r"requests/[^/]+/", "", second["Location"]),
            )
        )
    assert answers[0] == answers[1]
    assert len(mail.outbox) == 4  # a code went out every time


def test_rate_limits_per_identifier_and_per_address(settings):
    settings.LUP_PORTAL_RATE_PER_IDENTIFIER = 2
    settings.LUP_PORTAL_RATE_PER_IP = 3
    email = identifiers.email()
    assert [
        file_request(Client(REMOTE_ADDR=f"10.0.0.{n}"), email).status_code for n in range(3)
    ] == [302, 302, 429]
    assert ErasureRequest.objects.count() == 2 and len(mail.outbox) == 2
    client = Client(REMOTE_ADDR="10.9.9.9")
    codes = [file_request(client, identifiers.email()).status_code for _ in range(4)]
    assert codes == [302, 302, 302, 429]
    # Nothing in the cache names the address or the identifier.
    keys = cache.keys("portal:*") if hasattr(cache, "keys") else []
    assert not any("10.9.9.9" in k or email.lower() in k for k in keys)


def test_guessing_a_code_stops_after_the_allowed_attempts(settings):
    settings.LUP_CODE_MAX_ATTEMPTS = 3
    client = Client()
    confirm = file_request(client, identifiers.email())["Location"]
    code = code_from(mail.outbox[0])
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    assert [client.post(confirm, {"code": wrong}).status_code for _ in range(3)] == [400] * 3
    refused = client.post(confirm, {"code": code})
    assert refused.status_code == 400  # the right code no longer helps
    assert "Too many wrong codes" in refused.content.decode()
    assert ErasureRequest.objects.get().state == "verifying"


def test_consents_after_a_code_each_change_receipted():
    load_demo()
    email = identifiers.email()
    client = Client()
    assert client.get("/vi/consents/mine/")["Location"] == "/vi/consents/"  # code first
    confirm = client.post("/vi/consents/", {"id_type": "email", "value": email})["Location"]
    code = code_from(mail.outbox[0])
    assert code not in str(cache.get(f"portal:code:{confirm.rstrip('/').split('/')[-1]}"))
    mine = client.post(confirm, {"code": code})
    assert mine["Location"] == "/vi/consents/mine/"
    page = client.get("/vi/consents/mine/")
    assert page.status_code == 200
    assert 'data-purpose="train_ai_system.fine_tuning"' in page.content.decode()
    assert "Cách chúng tôi sử dụng dữ liệu của bạn" in page.content.decode()  # the notice in vi
    given = client.post(
        "/vi/consents/mine/",
        {"purpose": "train_ai_system.fine_tuning", "status": "given", "country": "VN"},
    )
    assert given.status_code == 200
    (event,) = ConsentEvent.objects.filter(method="subject_portal")
    assert (event.purpose.key, event.status, event.jurisdiction) == (
        "train_ai_system.fine_tuning",
        "given",
        "VN",
    )
    assert (event.notice.key, event.notice.language) == ("lup-demo-privacy", "vi")  # as shown
    html = given.content.decode()
    receipt_url = f"/vi/consents/receipts/{event.receipt_id}.json"
    assert receipt_url in html
    document = client.get(receipt_url)
    assert document.status_code == 200 and document.json()["receipt_id"] == str(event.receipt_id)
    assert Client().get(receipt_url).status_code == 404  # only in the subject's session
    withdrawn = client.post(
        "/vi/consents/mine/",
        {"purpose": "train_ai_system.fine_tuning", "status": "withdrawn", "country": "VN"},
    )
    assert withdrawn.status_code == 200
    assert ConsentEvent.objects.filter(method="subject_portal").count() == 2
    bogus = client.post(
        "/vi/consents/mine/", {"purpose": "admin", "status": "given", "country": "VN"}
    )
    assert bogus.status_code == 400
    assert ConsentEvent.objects.filter(method="subject_portal").count() == 2
