"""The fideslang taxonomy, loaded once, as plain data."""

from functools import cache

from fideslang import DEFAULT_TAXONOMY


@cache
def data_uses() -> tuple[tuple[str, str | None, str, str], ...]:
    """(key, parent key, name, description) for every fideslang data use, parents first."""
    uses = [
        (use.fides_key, use.parent_key, use.name or use.fides_key, use.description or "")
        for use in DEFAULT_TAXONOMY.data_use
    ]
    return tuple(sorted(uses, key=lambda use: use[0].count(".")))


@cache
def data_categories() -> frozenset[str]:
    return frozenset(category.fides_key for category in DEFAULT_TAXONOMY.data_category)
