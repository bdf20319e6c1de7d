"""The subject pages' error pages in headless Chromium, in Khmer and Thai: in the language,
styled by the page's own stylesheet, and with nothing refused by the Content-Security-Policy."""

import pytest
from django.utils import translation

from portal.errors import MESSAGES
from tests.browser import SCRIPTS, new_context


@pytest.mark.parametrize(("language", "script"), [("km", "khmer"), ("th", "thai")])
def test_404_and_403_pages_in_the_subjects_language(
    language, script, live_server, browser, transactional_db
):
    with translation.override(language):
        words = {status: str(MESSAGES[status]) for status in (403, 404)}
    context = new_context(browser, locale=language)
    page = context.new_page()
    refused: list[str] = []
    page.on(
        "console",
        lambda message: (
            refused.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )

    missing = page.goto(f"{live_server.url}/{language}/requests/no-such-link/")
    assert missing.status == 404
    assert page.locator("html").get_attribute("lang") == language
    assert words[404] in page.inner_text("main")
    assert SCRIPTS[script].occurs_in(page.inner_text("h1"))
    # The page's stylesheet applied (not the browser's default serif on a white page).
    assert "Noto" in page.evaluate("getComputedStyle(document.body).fontFamily")

    # A form whose CSRF cookie is gone (a long-open tab, cleared cookies) is refused in kind.
    page.goto(f"{live_server.url}/{language}/delete/")
    context.clear_cookies()
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert words[403] in page.inner_text("main")
    assert page.locator("html").get_attribute("lang") == language
    assert refused == []
    context.close()
