"""Template helpers of the subject pages: links to this page in every language, and dates in
the reader's locale (Babel's CLDR data covers all ten languages, Lao and Filipino included)."""

from datetime import datetime

from babel import Locale, UnknownLocaleError
from babel.dates import format_datetime
from django import template
from django.conf import settings
from django.urls import translate_url
from django.utils import translation

register = template.Library()


def babel_locale(language: str) -> Locale:
    try:
        return Locale.parse(translation.to_locale(language).replace("zh_Hans", "zh_Hans_CN"))
    except (UnknownLocaleError, ValueError):
        return Locale.parse("en")


@register.simple_tag(takes_context=True)
def language_links(context) -> list[dict[str, str]]:
    request = context["request"]
    current = translation.get_language()
    return [
        {
            "code": code,
            "name": name,
            "url": translate_url(request.path, code),
            "current": code == current,
        }
        for code, name in settings.LANGUAGES
    ]


@register.filter
def local_datetime(value: datetime | None) -> str:
    """A date and time in the reader's language and conventions, in UTC (said so)."""
    if value is None:
        return ""
    locale = babel_locale(translation.get_language() or "en")
    return format_datetime(value, format="medium", tzinfo=None, locale=locale) + " UTC"
