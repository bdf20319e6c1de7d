"""Startup checks of the jurisdiction data files and the markets setting (ids lup.E020…)."""

from django.conf import settings
from django.core.checks import Error, register

from jurisdictions import rules


@register()
def check_data_files(app_configs, **kwargs) -> list[Error]:
    try:
        rules.load_directory(rules.DATA_DIR)
    except rules.RulesError as exc:
        return [
            Error(
                f"Jurisdiction data file {exc.file} is malformed at {exc.field}: {exc.message}",
                hint="jurisdictions/data/README.md describes the schema.",
                obj=str(rules.DATA_DIR / exc.file),
                id="lup.E020",
            )
        ]
    return []


@register()
def check_markets(app_configs, **kwargs) -> list[Error]:
    try:
        known = rules.load_directory(rules.DATA_DIR)
    except rules.RulesError:
        return []  # reported by lup.E020
    missing = [code for code in settings.LUP_MARKETS if code.strip().upper() not in known]
    if missing:
        return [
            Error(
                f"LUP_MARKETS names markets without a jurisdiction data file: "
                f"{', '.join(missing)}.",
                hint="Add jurisdictions/data/<CC>.yaml for each, or remove them from LUP_MARKETS.",
                id="lup.E021",
            )
        ]
    return []
