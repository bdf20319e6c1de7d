"""Writes of the target registry. A target's config is checked by its connector before it is
stored, so a target that is saved is one a connector can be built for."""

from collections.abc import Sequence
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from connectors import connector_for
from core.errors import ApplicationError, Conflict
from erasure.models import Target, TargetEvent
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
    if target is not None and target.state == Target.State.RETIRED:
        raise Conflict("A retired target is kept as it was.", code="target_retired")
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
    """Delete a target nothing refers to. One with runs or plan entries is part of the record
    of past erasures (its receipts name it): it can only be retired."""
    try:
        with transaction.atomic():
            target.delete()
    except ProtectedError:
        raise Conflict(
            "This target has runs or plan entries; retire it instead.", code="target_in_use"
        ) from None


@transaction.atomic
def target_retire(*, target: Target, actor: str, reason: str) -> Target:
    """Stop planning a target, keeping it (and its runs and receipts) for the record. Requests
    already executing finish their runs on it; no later plan includes it."""
    if not reason.strip():
        raise ApplicationError("Say why the target is retired.", code="reason_required")
    locked = Target.objects.select_for_update().get(pk=target.pk)
    if locked.state == Target.State.RETIRED:
        raise Conflict("This target is already retired.", code="target_retired")
    locked.state = Target.State.RETIRED
    locked.save(update_fields=["state", "updated_at"])
    TargetEvent.objects.create(
        target=locked,
        action=TargetEvent.Action.RETIRED,
        actor=actor,
        reason=reason.strip(),
        at=timezone.now(),
    )
    return locked
