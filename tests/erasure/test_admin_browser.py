"""The compliance staff's admin in headless Chromium, with a real worker: an officer finds an
overdue request from the dashboard, approves it with a reason, watches it complete, verifies a
receipt and downloads the register; an auditor sees the same pages without any action control
and a forged post of theirs is refused; an engineer cannot approve."""

import csv
import io
import json
import time
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.utils import timezone

from erasure.gate import erasure_request_gate
from erasure.models import ErasureRequest
from erasure.planning import erasure_request_plan
from erasure.services import erasure_request_create, erasure_request_transition
from targets.services import target_save
from tests import identifiers
from tests.browser import ARTIFACTS, new_context

PASSWORD = "staff-password-for-tests-1"


@pytest.fixture
def overdue(tmp_path, settings, monkeypatch, transactional_db):
    """A request awaiting approval past its deadline, on an eval set the worker can reach."""
    monkeypatch.setenv("LUP_FILE_ROOTS", str(tmp_path))
    settings.LUP_FILE_ROOTS = [str(tmp_path)]
    email, other = identifiers.email(), identifiers.email()
    (tmp_path / "eval.jsonl").write_text(
        json.dumps({"email": email.lower()}) + "\n" + json.dumps({"email": other.lower()}) + "\n"
    )
    target_save(
        target=None,
        name="support-eval",
        kind="jsonl_file",
        country="SG",
        always=True,
        requires_approval=True,
        config={"path": "eval.jsonl", "match": {"email": "email"}},
        preapproved="test setup",
    )
    request, _ = erasure_request_create(
        identifiers=[{"id_type": "email", "value": email}],
        country="KH",
        channel="api",
        actor="staff:intake",
    )
    request = erasure_request_transition(
        request=request, to_state="verified", actor="staff:intake", reason="checked by phone"
    )
    request = erasure_request_gate(
        request=erasure_request_plan(request=request, actor="t"), actor="t"
    )
    assert request.state == "awaiting_approval"
    ErasureRequest.objects.filter(pk=request.pk).update(deadline=timezone.now() - timedelta(days=1))
    return {"request": request, "email": email, "file": tmp_path / "eval.jsonl"}


def staff(role: str) -> User:
    user = User.objects.create_user(role, password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return user


def sign_in(browser, live_server, user: User):
    context = new_context(browser, accept_downloads=True)
    page = context.new_page()
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    assert page.url == f"{live_server.url}/admin/", page.content()[:500]
    return context, page


def test_an_officer_approves_an_overdue_request_and_verifies_its_receipt(
    overdue, live_server, celery_worker_process, browser
):
    context, page = sign_in(browser, live_server, staff("compliance_officer"))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / "admin-dashboard.png", full_page=True)
    tile = page.locator(".lup-dashboard .overdue a")
    assert tile.locator(".count").inner_text() == "1"
    tile.click()
    assert "deadline=overdue" in page.url
    page.click(f"#result_list a[href*='{overdue['request'].pk}']")
    assert str(overdue["request"].pk) in page.url
    page.fill("#approve-reason", "Overdue; the evaluation set is not under a hold.")
    page.click("input[value='Approve and start']")
    page.wait_for_selector(".messagelist")
    messages = page.locator(".messagelist")
    assert page.locator(".messagelist .success").count() == 1, messages.all_inner_texts()
    deadline = time.monotonic() + 120
    while ErasureRequest.objects.get(pk=overdue["request"].pk).state != "completed":
        assert time.monotonic() < deadline, "the worker did not complete the request"
        time.sleep(0.5)
    page.reload()
    assert page.locator("tr.run-done").count() == 1
    assert "Overdue; the evaluation set" in page.locator("#timeline").inner_text()
    assert "compliance_officer" in page.locator("#timeline").inner_text()
    page.locator("form.receipt-verify input[type=submit]").first.click()
    page.wait_for_selector(".messagelist .success")
    assert "verifies" in page.locator(".messagelist .success").inner_text()
    page.screenshot(path=ARTIFACTS / "admin-request-page.png", full_page=True)
    assert overdue["email"].lower() not in page.content()

    page.goto(f"{live_server.url}/admin/")
    page.click("#lup-registers")
    with page.expect_download() as download:
        page.click("#request-register input[value='Download CSV']")
    text = download.value.path().read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(row["request_id"], row["state"], row["met_deadline"]) for row in rows] == [
        (str(overdue["request"].pk), "completed", "no")
    ]
    assert overdue["email"].lower() not in text.lower()
    context.close()


def test_an_auditor_sees_everything_and_can_change_nothing(overdue, live_server, browser):
    context, page = sign_in(browser, live_server, staff("auditor"))
    page.goto(f"{live_server.url}/admin/erasure/erasurerequest/{overdue['request'].pk}/change/")
    assert page.locator("#timeline").count() == 1 and page.locator("#plan").count() == 1
    assert page.locator("#actions form, form.request-action").count() == 0
    assert page.locator("input[value='Approve and start']").count() == 0
    # A forged post with the auditor's own session and CSRF token is refused.
    token = next(c["value"] for c in context.cookies() if c["name"] == "csrftoken")
    forged = context.request.post(
        f"{live_server.url}/admin/erasure/erasurerequest/{overdue['request'].pk}/approve/",
        form={"reason": "forged", "csrfmiddlewaretoken": token},
        headers={"Referer": page.url, "X-CSRFToken": token},
    )
    assert forged.status == 403
    assert ErasureRequest.objects.get(pk=overdue["request"].pk).state == "awaiting_approval"
    context.close()


def test_an_engineer_cannot_approve(overdue, live_server, browser):
    context, page = sign_in(browser, live_server, staff("engineer"))
    page.goto(f"{live_server.url}/admin/erasure/erasurerequest/{overdue['request'].pk}/change/")
    assert page.locator("input[value='Approve and start']").count() == 0
    token = next(c["value"] for c in context.cookies() if c["name"] == "csrftoken")
    forged = context.request.post(
        f"{live_server.url}/admin/erasure/erasurerequest/{overdue['request'].pk}/approve/",
        form={"reason": "trying", "csrfmiddlewaretoken": token},
        headers={"Referer": page.url, "X-CSRFToken": token},
    )
    assert forged.status == 403
    assert ErasureRequest.objects.get(pk=overdue["request"].pk).state == "awaiting_approval"
    page.goto(f"{live_server.url}/admin/erasure/target/add/")
    assert page.locator("#target_form").count() == 1  # engineers manage targets
    context.close()
