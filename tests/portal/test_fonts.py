"""The portal's web fonts render Khmer, Thai, Lao and Burmese, and the check for it can fail."""

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.browser import MIN_DIFFERENCE, ROOT, SCRIPTS, new_context, renders_script

STATIC = ROOT / "portal" / "static"

PAGE = """<!doctype html>
<html><head><meta charset="utf-8">{link}</head>
<body class="portal-font" style="font-size: 32px; margin: 16px">
<p id="latin">Erase my data</p>
<p id="khmer" lang="km">លុបទិន្នន័យរបស់ខ្ញុំ</p>
<p id="thai" lang="th">ลบข้อมูลของฉัน</p>
<p id="lao" lang="lo">ລຶບຂໍ້ມູນຂອງຂ້ອຍ</p>
<p id="myanmar" lang="my">ကျွန်ုပ်၏ဒေတာကိုဖျက်ပါ</p>
<p id="khmer-bold" lang="km" style="font-weight: 700">ខ្មែរ</p>
</body></html>
"""
WITH_FONTS = PAGE.format(link='<link rel="stylesheet" href="/static/portal/fonts.css">')
# The same text and font stack, but no @font-face rules.
WITHOUT_FONTS = PAGE.format(
    link='<style>.portal-font { font-family: "Noto Sans", "Noto Sans Khmer", "Noto Sans Thai",'
    ' "Noto Sans Lao", "Noto Sans Myanmar", system-ui, sans-serif; }</style>'
)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Serves the two test pages and portal/static/ at /static/, as the portal would."""
    root = tmp_path_factory.mktemp("site")
    (root / "with-fonts.html").write_text(WITH_FONTS, encoding="utf-8")
    (root / "without-fonts.html").write_text(WITHOUT_FONTS, encoding="utf-8")
    (root / "static").symlink_to(STATIC, target_is_directory=True)
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_portal_fonts_render_script(page, bare_browser, site, script):
    """Each script's text shows real glyphs, from the portal's own font face."""
    page.goto(f"{site}/with-fonts.html")

    result = renders_script(page, f"#{script}", script=script, bare_browser=bare_browser)

    assert result.rendered, result


def test_portal_fonts_render_bold_without_javascript(browser, bare_browser, site):
    """Fonts are plain CSS: they load, at weight 700 too, with JavaScript turned off."""
    context = new_context(browser, locale="km", javascript=False)
    page = context.new_page()
    page.goto(f"{site}/with-fonts.html")

    result = renders_script(page, "#khmer-bold", script="khmer", bare_browser=bare_browser)
    context.close()

    assert result.rendered, result


def test_portal_fonts_alone_are_enough(bare_browser, site):
    """With no system font for the scripts, the shipped files still render all four."""
    context = new_context(bare_browser)
    page = context.new_page()
    page.goto(f"{site}/with-fonts.html")

    results = [
        renders_script(page, f"#{script}", script=script, bare_browser=bare_browser)
        for script in sorted(SCRIPTS)
    ]
    context.close()

    assert all(result.rendered for result in results), results


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_renders_script_reports_tofu(bare_browser, site, script):
    """Without the @font-face rules and without system fonts, the helper reports tofu."""
    context = new_context(bare_browser)
    page = context.new_page()
    page.goto(f"{site}/without-fonts.html")

    result = renders_script(page, f"#{script}", script=script, bare_browser=bare_browser)
    context.close()

    assert not result.rendered, result
    assert not result.font_loaded
    assert result.difference < MIN_DIFFERENCE


def test_renders_script_catches_missing_font_with_system_fonts(page, bare_browser, site):
    """A page that forgot its fonts may look right on a machine with Noto; it still fails."""
    page.goto(f"{site}/without-fonts.html")

    result = renders_script(page, "#khmer", script="khmer", bare_browser=bare_browser)

    assert not result.rendered, result
    assert not result.font_loaded


def test_renders_script_needs_text_in_the_script(page, bare_browser, site):
    """English where Khmer belongs (a missing translation) fails, however its fonts look."""
    page.goto(f"{site}/with-fonts.html")

    result = renders_script(page, "#latin", script="khmer", bare_browser=bare_browser)

    assert not result.rendered, result
    assert not result.has_text
