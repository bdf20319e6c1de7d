"""Every setting Lup reads from the environment is in README's settings table, as
deploy/.env.example lists them (tests/deploy/test_manifests.py): a setting nobody can find is
one nobody sets right."""

import re
from pathlib import Path

import pytest

from tests.deploy.test_manifests import _environ_reads, settings_env

ROOT = Path(__file__).resolve().parents[2]


def readme_settings() -> set[str]:
    """The names in the first column of README's `## Settings` table."""
    text = (ROOT / "README.md").read_text()
    start = text.index("\n## Settings\n")
    section = text[start : text.index("\n## ", start + 1)]
    names: set[str] = set()
    for row in re.findall(r"^\| ([^|]+) \|", section, flags=re.MULTILINE):
        names |= set(re.findall(r"`([A-Z][A-Z0-9_]*)`", row))
    return names


def read_settings() -> set[str]:
    """What config/settings.py reads (its `env*` helpers, `NAME_FILE` twins included) and what
    core/ reads directly (the settings call it before Django is set up)."""
    names = set(settings_env())
    for module in (ROOT / "core").glob("*.py"):
        names |= _environ_reads(module)
    return names


def test_every_setting_read_is_in_the_readme():
    missing = sorted(read_settings() - readme_settings())
    assert missing == [], "add them to README's settings table, with their default and meaning"


def defined_settings() -> set[str]:
    """The settings config/settings.py defines, whether or not from the environment (a few,
    like LUP_ADMIN_URLS, are changed in a settings module of one's own)."""
    from django.conf import settings

    return {name for name in dir(settings) if name.isupper()}


@pytest.mark.usefixtures("settings")
def test_the_readme_lists_no_setting_that_does_not_exist():
    stale = sorted(readme_settings() - read_settings() - defined_settings())
    assert stale == [], "README's settings table names settings nothing reads"
