"""Browser fixtures for the portal's pages, and the check that a script's text really renders.

Playwright drives Debian's /usr/bin/chromium (`scripts/browser.sh` installs it); it downloads no
browser of its own. `tests/conftest.py` registers this module, so any test can ask for:

- `browser`: one headless Chromium per test module.
- `page`: a fresh context and page per test. Its locale comes from the `page_locale` fixture
  ("en"), which a test overrides with `@pytest.mark.parametrize("page_locale", ["km"])`.
- `bare_browser`: a second Chromium that sees only DejaVu Serif, for `renders_script`.

and call `new_context(browser, locale=..., javascript=False)` for a page without JavaScript.

Glyphs that no font covers are drawn as empty boxes ("tofu"). With Noto installed on the test
machine, a page that forgot its web fonts still looks right there, so `renders_script` checks
that the text is in the script, that the page's own font face for the script has loaded, and
that the text looks different from how it looks with no font for that script at all.
"""

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image, ImageChops
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(os.environ.get("LUP_TEST_ARTIFACTS") or ROOT / "test-artifacts")

CHROMIUM = "/usr/bin/chromium"
# No sandbox: the suite runs as root in a container. No background networking: tests never
# reach the Internet.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# DejaVu Serif has no Khmer, Thai, Lao or Myanmar glyphs, so text in those scripts can only
# render from a page's web fonts. DejaVu Sans is left out: it covers Lao.
BARE_FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
BARE_FONTS_REJECTED = "DejaVuSans*"
# Fixed, so screenshots of the same page compare pixel for pixel.
VIEWPORT = {"width": 1024, "height": 768}
TIMEOUT_MS = 15_000

FONT_FILE = re.compile(r"\.(woff2?|ttf|otf)(\?.*)?$")


@dataclass(frozen=True)
class Script:
    family: str  # the family in portal/static/portal/fonts.css
    sample: str  # text that the family's unicode-range covers
    block: tuple[int, int]  # the script's Unicode block, first and last code point

    def occurs_in(self, text: str) -> bool:
        first, last = self.block
        return any(first <= ord(char) <= last for char in text)


SCRIPTS = {
    "khmer": Script("Noto Sans Khmer", "ខ្មែរ", (0x1780, 0x17FF)),
    "thai": Script("Noto Sans Thai", "ภาษาไทย", (0x0E00, 0x0E7F)),
    "lao": Script("Noto Sans Lao", "ພາສາລາວ", (0x0E80, 0x0EFF)),
    "myanmar": Script("Noto Sans Myanmar", "မြန်မာဘာသာ", (0x1000, 0x109F)),
}

# Share of the ink that must change once the fonts are taken away. Tofu boxes and real
# glyphs overlap little (well over half changes); the same rendering twice changes nothing.
MIN_DIFFERENCE = 0.2


BROWSER_FIXTURES = frozenset({"browser", "bare_browser", "page", "playwright_driver"})


def pytest_collection_modifyitems(items):
    """Every test that drives the browser is `slow`, so `-m "not slow"` leaves them out."""
    for item in items:
        if BROWSER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="module")
def playwright_driver():
    # Playwright's sync API keeps an asyncio loop on the main thread, which makes Django refuse
    # every query there (SynchronousOnlyOperation). Lup has no async code for the check to
    # protect, so it is off while the driver runs: per module, so that the setting does not
    # reach other tests' subprocesses (`check --deploy` rightly refuses it).
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as driver:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        yield driver


@pytest.fixture(scope="module")
def browser(playwright_driver) -> Iterator[Browser]:
    chromium = playwright_driver.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
    )
    yield chromium
    chromium.close()


@pytest.fixture(scope="module")
def bare_browser(playwright_driver, tmp_path_factory) -> Iterator[Browser]:
    """Chromium that sees only DejaVu Serif: no system font can stand in for web fonts."""
    if not (BARE_FONT_DIR / "DejaVuSerif.ttf").is_file():
        pytest.fail(f"{BARE_FONT_DIR}/DejaVuSerif.ttf is missing; install fonts-dejavu-core")
    folder = tmp_path_factory.mktemp("fontconfig")
    conf = folder / "fonts.conf"
    conf.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n<fontconfig>\n'
        f"  <dir>{BARE_FONT_DIR}</dir>\n  <cachedir>{folder / 'cache'}</cachedir>\n"
        f"  <selectfont><rejectfont><glob>{BARE_FONT_DIR / BARE_FONTS_REJECTED}</glob>"
        "</rejectfont></selectfont>\n</fontconfig>\n"
    )
    chromium = playwright_driver.chromium.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=CHROMIUM_ARGS,
        env={**os.environ, "FONTCONFIG_FILE": str(conf)},
    )
    yield chromium
    chromium.close()


def new_context(
    browser: Browser, *, locale: str = "en", javascript: bool = True, **options
) -> BrowserContext:
    """A fresh context (own cookies, own storage); the caller closes it."""
    options = {"viewport": VIEWPORT, "device_scale_factor": 1, **options}
    context = browser.new_context(locale=locale, java_script_enabled=javascript, **options)
    context.set_default_timeout(TIMEOUT_MS)
    return context


@pytest.fixture
def page_locale() -> str:
    return "en"


@pytest.fixture
def page(browser, page_locale) -> Iterator[Page]:
    context = new_context(browser, locale=page_locale)
    yield context.new_page()
    context.close()


@dataclass(frozen=True)
class ScriptRendering:
    """What `renders_script` saw. `rendered` is the verdict; the rest says why."""

    script: str
    has_text: bool  # the element's text has characters of the script at all
    font_loaded: bool  # the page's own face for the script is loaded and matches the element
    difference: float  # share of ink that changed without fonts; 0.0 means identical
    screenshot: Path
    bare_screenshot: Path

    @property
    def rendered(self) -> bool:
        return self.has_text and self.font_loaded and self.difference >= MIN_DIFFERENCE


def renders_script(
    page: Page,
    selector: str,
    *,
    script: str,
    bare_browser: Browser,
    name: str | None = None,
) -> ScriptRendering:
    """Check that the element at `selector` shows `script` ("khmer", "thai", "lao", "myanmar").

    `selector` is any Playwright selector (`"#km"`, `"text=ខ្មែរ"`, `"h1 >> nth=0"`) and must
    match the same element again in a copy of the page. The page stays as it is.

    1. Checks that the element's text is in the script (an untranslated page is not), and
       screenshots the element on `page` as it is now.
    2. Asks the page whether its font face for the script (fonts.css's family, at the
       element's weight and style) has loaded; this works with JavaScript off, too.
    3. Renders a copy of the page's current DOM at the same URL in `bare_browser` (fixture of
       the same name), with every font file request aborted, and screenshots the element there.
       The copy runs no scripts, so a page reached by a form post or a one-time link is shown
       as it is, not fetched again (and any `<noscript>` content shows there).
    4. Compares the two images: glyphs and tofu boxes differ in most of their ink.

    Screenshots go to ARTIFACTS as `<name>.png` and `<name>.bare.png`; `name` defaults to the
    running test's id plus the script. Use as `result = renders_script(...)`, then
    `assert result.rendered, result`.
    """
    spec = SCRIPTS[script]
    name = name or f"{_current_test()}-{script}"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / f"{name}.png"
    bare_shot = ARTIFACTS / f"{name}.bare.png"

    element = page.locator(selector)
    element.wait_for(state="visible")
    page.evaluate("() => document.fonts.ready.then(() => null)")
    element.screenshot(path=shot, animations="disabled")
    has_text = spec.occurs_in(element.inner_text())
    font_loaded = element.evaluate(
        """(el, [family, sample]) => {
            const style = getComputedStyle(el);
            const font = `${style.fontStyle} ${style.fontWeight} 16px "${family}"`;
            const own = [...document.fonts].some(
                (face) => face.family.replace(/["']/g, "") === family && face.status === "loaded"
            );
            return own && document.fonts.check(font, sample);
        }""",
        [spec.family, spec.sample],
    )

    html = page.content()
    context = new_context(bare_browser, javascript=False, viewport=page.viewport_size or VIEWPORT)
    try:
        context.add_cookies(page.context.cookies())
        copy = context.new_page()
        copy.route(FONT_FILE, lambda route: route.abort())
        if page.url.startswith(("http://", "https://")):
            url = page.url
            document = url.split("#", 1)[0]  # requests carry no fragment
            copy.route(
                lambda u: u == document,
                lambda route: route.fulfill(body=html, content_type="text/html; charset=utf-8"),
            )
            copy.goto(url)
        else:
            copy.set_content(html)
        bare = copy.locator(selector)
        bare.wait_for(state="visible")
        bare.screenshot(path=bare_shot, animations="disabled")
    finally:
        context.close()

    return ScriptRendering(
        script=script,
        has_text=has_text,
        font_loaded=bool(font_loaded),
        difference=image_difference(shot, bare_shot),
        screenshot=shot,
        bare_screenshot=bare_shot,
    )


def image_difference(first: Path, second: Path) -> float:
    """Share of the ink in either image that differs between them, from 0.0 to 1.0.

    Ink is any pixel that stands out from the image's top-left pixel (its background). Images
    of different sizes are compared on a canvas of the larger size, padded with background.
    """
    with Image.open(first) as a, Image.open(second) as b:
        a, b = a.convert("L"), b.convert("L")
        size = (max(a.width, b.width), max(a.height, b.height))
        a, b = _padded(a, size), _padded(b, size)
    ink = ImageChops.lighter(_mask(a, a.getpixel((0, 0))), _mask(b, b.getpixel((0, 0))))
    changed = _threshold(ImageChops.difference(a, b))
    ink_pixels = ink.histogram()[255]
    if not ink_pixels:
        return 0.0
    return changed.histogram()[255] / ink_pixels


def _padded(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    canvas = Image.new("L", size, image.getpixel((0, 0)))
    canvas.paste(image, (0, 0))
    return canvas


def _mask(image: Image.Image, background: int) -> Image.Image:
    return _threshold(ImageChops.difference(image, Image.new("L", image.size, background)))


def _threshold(image: Image.Image) -> Image.Image:
    # Ignores faint anti-aliasing so only clear strokes count.
    return image.point(lambda value: 255 if value > 64 else 0)


def _current_test() -> str:
    current = os.environ.get("PYTEST_CURRENT_TEST", "browser").split(" ")[0]
    return re.sub(r"[^\w.-]+", "_", current.split("::", 1)[-1]).strip("_")
