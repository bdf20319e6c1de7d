"""Startup checks of the framework data files (ids lup.E080…): lup.E080 a malformed file,
lup.E081 a reference to a condition, section or gap code that does not exist, lup.E082 a group
or id AI Verify's import would not accept."""

from django.core.checks import Error, register

from reports.frameworks import catalog


@register()
def check_framework_files(app_configs, **kwargs) -> list[Error]:
    try:
        catalog.load_directory(catalog.DATA_DIR)
    except catalog.CatalogError as exc:
        return [
            Error(
                f"Framework data file {exc.file} is malformed at {exc.field}: {exc.message}",
                hint="reports/frameworks/data/README.md describes the schema.",
                obj=str(catalog.DATA_DIR / exc.file),
                id=exc.check,
            )
        ]
    return []
