"""Links from a report to the records behind its figures: the admin page of each record, where
the admin registers its model, else none (a figure without a page is still a figure)."""

from typing import Any

from django.db import models
from django.urls import NoReverseMatch, reverse


def admin_url(obj: models.Model) -> str | None:
    meta = obj._meta
    try:
        return reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])
    except NoReverseMatch:
        return None


def record(obj: models.Model, label: str, **extra: Any) -> dict[str, Any]:
    """A record as a report lists it: what it is, its id, and where to look at it."""
    return {"label": label, "id": str(obj.pk), "admin_url": admin_url(obj), **extra}


def gap(code: str, detail: str, obj: models.Model | None = None, label: str = "") -> dict:
    """Something the report found missing: a stable code, words for people, and the record."""
    return {
        "code": code,
        "detail": detail,
        "record": record(obj, label or str(obj)) if obj is not None else None,
    }
