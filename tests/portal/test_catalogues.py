"""Every language of the subject pages has a complete, current catalogue: every message the
code and templates use is translated, none is fuzzy, placeholders survive, and each header
says it awaits a native speaker's review."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
LOCALES = [code for code, _ in settings.LANGUAGES if code != "en"]
IGNORED = [".venv", "data", "bench", "tests", "deploy", "test-artifacts"]


def catalogue(folder: Path, code: str):
    path = folder / code.replace("-hans", "_Hans") / "LC_MESSAGES" / "django.po"
    with path.open("rb") as f:
        return read_po(f, abort_invalid=True)


def untranslated(folder: Path, code: str) -> list[str]:
    missing = []
    for message in catalogue(folder, code):
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(strings):
            missing.append(message.id if isinstance(message.id, str) else message.id[0])
    return missing


@pytest.mark.parametrize("code", LOCALES)
def test_the_catalogue_is_complete_and_checked(code):
    assert untranslated(ROOT / "locale", code) == []
    path = ROOT / "locale" / code.replace("-hans", "_Hans") / "LC_MESSAGES" / "django.po"
    checked = subprocess.run(
        ["msgfmt", "--check", "-o", "/dev/null", str(path)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr  # python-format placeholders match
    header = path.read_text(encoding="utf-8")[:1500]
    assert "awaiting review by a native speaker" in header


def test_no_message_in_the_code_is_missing_from_the_catalogues(tmp_path):
    scratch = tmp_path / "locale"
    shutil.copytree(ROOT / "locale", scratch, ignore=shutil.ignore_patterns("*.mo"))
    refreshed = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "makemessages",
            "-a",
            "--no-location",
            *(f"--ignore={name}" for name in IGNORED),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "LUP_TEST_LOCALE_DIR": str(scratch),
            "DJANGO_SETTINGS_MODULE": "tests.portal.catalogue_settings",
        },
    )
    assert refreshed.returncode == 0, refreshed.stderr
    for code in LOCALES:
        assert untranslated(scratch, code) == [], code
