"""Startup checks of the lineage settings (ids lup.E070…)."""

from django.conf import settings
from django.core.checks import Error, register


@register()
def check_lineage_settings(app_configs, **kwargs) -> list[Error]:
    value = getattr(settings, "LUP_LINEAGE_MAX_NODES", 10_000)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        return [
            Error(
                "LUP_LINEAGE_MAX_NODES must be a whole number of at least 1.",
                hint="It bounds the nodes of one lineage graph answer; the default is 10000.",
                id="lup.E070",
            )
        ]
    return []
