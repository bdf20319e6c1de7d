"""The subject pages in headless Chromium, on a live server with a real worker: file a
request, confirm the code from the mail, watch the status page as the worker erases, download
the receipts and verify them offline; in English and in Khmer. Also: the scripts render (not
as empty boxes), and everything works with JavaScript off."""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core import mail

from erasure.models import ErasureRequest
from ledger.keys import signer
from targets.services import target_save
from tests import identifiers
from tests.browser import ARTIFACTS, new_context, renders_script

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def eval_set(tmp_path, settings, monkeypatch, transactional_db):
    """A JSON Lines eval set every request touches; the worker reads the root from its env."""
    monkeypatch.setenv("LUP_FILE_ROOTS", str(tmp_path))
    settings.LUP_FILE_ROOTS = [str(tmp_path)]
    (tmp_path / "eval.jsonl").touch()  # registration looks for it; each test fills it
    target_save(
        target=None,
        name="support-eval",
        kind="jsonl_file",
        country="SG",
        always=True,
        config={"path": "eval.jsonl", "match": {"email": "email"}},
        preapproved="test setup",
    )
    return tmp_path / "eval.jsonl"


def latest_code() -> str:
    return re.search(r"\b(\d{6})\b", mail.outbox[-1].body).group(1)


@pytest.mark.parametrize("language", ["en", "km"])
def test_file_confirm_watch_and_verify_the_receipts(
    language, eval_set, live_server, celery_worker_process, browser, tmp_path
):
    email = identifiers.email()
    other = identifiers.email()
    eval_set.write_text(
        json.dumps({"email": email.lower(), "q": "ជួយខ្ញុំផង"})
        + "\n"
        + json.dumps({"email": other.lower(), "q": "keep"})
        + "\n"
    )
    context = new_context(browser, locale=language)
    page = context.new_page()
    page.goto(live_server.url + "/")
    assert page.url == f"{live_server.url}/{language}/"  # from Accept-Language
    assert page.locator("html").get_attribute("lang") == language
    page.click(f"a[href='/{language}/delete/']")
    page.fill("#id_value", email)
    page.select_option("#id_country", "KH")
    page.click("button[type=submit]")
    assert "/confirm/" in page.url, page.content()[:1500]
    assert mail.outbox[-1].to == [email.lower()]
    page.fill("#id_code", latest_code())
    page.click("button[type=submit]")
    status_url = page.url
    assert re.search(rf"/{language}/requests/[^/]+/$", status_url)
    assert page.locator("li[data-state=verified].done").count() == 1

    deadline = time.monotonic() + 120
    while not page.locator("a[href$='receipts.json']").count():
        assert time.monotonic() < deadline, list(
            ErasureRequest.objects.values_list("transitions__to_state", "transitions__at")
        )
        time.sleep(0.5)
        page.reload()
    assert page.locator("li[data-state=completed].done").count() == 1
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"status-{language}.png", full_page=True)
    source = page.content()
    assert email not in source and email.lower() not in source

    with page.expect_download() as download:
        page.click("a[href$='receipts.json']")
    bundle = tmp_path / "receipts-bundle.json"
    download.value.save_as(bundle)
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    checked = subprocess.run(
        [
            sys.executable,
            "-m",
            "ledger.verify",
            "bundle",
            str(bundle),
            "--key",
            signer().verifier_key,
            "--identifier",
            email,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert eval_set.read_text() == json.dumps({"email": other.lower(), "q": "keep"}) + "\n"
    assert ErasureRequest.objects.get().state == "completed"
    context.close()


@pytest.mark.parametrize(
    ("language", "script"),
    [
        ("km", "khmer"),
        ("th", "thai"),
        ("lo", "lao"),
        ("my", "myanmar"),
    ],
)
def test_the_script_renders_not_as_boxes(language, script, live_server, browser, bare_browser):
    context = new_context(browser, locale=language)
    page = context.new_page()
    page.goto(f"{live_server.url}/{language}/")
    page.screenshot(path=ARTIFACTS / f"start-{language}.png", full_page=True)
    result = renders_script(
        page, "h1", script=script, bare_browser=bare_browser, name=f"start-{language}-title"
    )
    assert result.rendered, result
    context.close()


def test_everything_works_without_javascript(live_server, browser, transactional_db):
    email = identifiers.email()
    context = new_context(browser, locale="th", javascript=False)
    page = context.new_page()
    page.goto(f"{live_server.url}/th/delete/")
    assert page.locator("script").count() == 0
    page.fill("#id_value", "not an address")
    page.select_option("#id_country", "TH")
    page.click("button[type=submit]")
    assert page.locator(".errors[role=alert]").count() == 1  # a clear message, in Thai
    page.fill("#id_value", email)
    page.click("button[type=submit]")
    page.fill("#id_code", latest_code())
    page.click("button[type=submit]")
    assert page.locator("li[data-state=verified].done").count() == 1

    page.goto(f"{live_server.url}/th/consents/")
    page.fill("#id_value", email)
    page.click("button[type=submit]")
    page.fill("#id_code", latest_code())
    page.click("button[type=submit]")
    assert page.url.endswith("/th/consents/mine/")
    purpose = page.locator("li[data-purpose='train_ai_system.evaluation']")
    purpose.locator("select[name=country]").select_option("TH")
    purpose.locator("button[value=given]").click()
    assert page.locator("a[href*='/th/consents/receipts/']").count() == 1
    assert (
        page.locator(
            "li[data-purpose='train_ai_system.evaluation'] button[value=withdrawn]"
        ).count()
        == 1
    )
    context.close()
