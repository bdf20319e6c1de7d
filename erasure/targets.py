"""Writes of the target registry. A target's config is checked by its connector before it is
stored, so a target that is saved is one a connector can be built for."""

from collections.abc import Sequence
from typing import Any

from django.db import IntegrityError, transaction

from connectors import connector_for
from core.errors import ApplicationError, Conflict
from erasure.models import Target
from lineage.selectors import versions_by_id
from lineage.services import country_code

FLAGS = ("always", "requires_approval", "identity_source")


def _versions(ids: Sequence[Any]) -> list[Any]:
    found = list(versions_by_id(ids=ids).values())
    if len(found) != len(set(ids)):
        raise ApplicationError(
            "A listed dataset version does not exist.",
            code="unknown_version",
            fields={"versions": "unknown_version"},
        )
    return found


@transaction.atomic
def target_save(
    *,
    target: Target | None = None,
    name: str,
    kind: str,
    config: dict[str, Any],
    country: str,
    versions: Sequence[Any] = (),
    **flags: bool,
) -> Target:
    """Create (or, given `target`, replace) a target after its connector accepted the config."""
    unknown = set(flags) - set(FLAGS)
    if unknown:
        raise ApplicationError(
            "Unknown target flags.",
            code="invalid_target",
            fields={f: "unknown" for f in sorted(unknown)},
        )
    connector = connector_for(kind, config)
    target = target or Target()
    target.name = name
    target.kind = kind
    target.config = config
    target.id_types = sorted(connector.id_types)
    target.country = country_code(country)
    for flag in FLAGS:
        setattr(target, flag, bool(flags.get(flag, False)))
    linked = _versions(versions)
    if Target.objects.filter(name=name).exclude(pk=target.pk).exists():
        raise Conflict("A target with that name exists.", code="target_exists")
    try:
        with transaction.atomic():
            target.save()
    except IntegrityError:  # the same name, saved meanwhile by another request
        raise Conflict("A target with that name exists.", code="target_exists") from None
    target.versions.set(linked)
    return target


def target_delete(*, target: Target) -> None:
    target.delete()
