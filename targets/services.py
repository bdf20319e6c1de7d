"""Writes of the target registry. A target's config is checked by its connector before it is
stored, so a target that is saved is one a connector can be built for; and, unless the caller
says `check=False`, the target is looked at once (`target_reach`: the file exists, the table
and its columns do, the server answers), so a typo is a 400 now rather than a failed run later.

Four eyes on where subjects' data goes: a target that every request touches (`always`), that
sends identifiers to another system (`webhook`), or that maps one identifier to another
(`identity_source`) is only `proposed` when registered, and planned only once a compliance
officer approves it. A change to such an active target is kept as its `proposal` until it is
approved; the target works as it was meanwhile. Who proposed, who approved and why are its
`events`. Other targets take effect at once. A change of such a target's `operation` is a
change of what it does, proposed like a change of its config.

`operation` is what the engine asks of the connector: "delete" the subject's items, or "mask"
them (keep them, with the kind's mask config applied). "mask" is refused, as
`operation_not_supported`, on a kind that cannot mask and on a config that says nothing to mask
with (a table without `mask`, a text log in "drop_line" mode).
"""

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from connectors import Capability, Connector, connector_for
from core.actors import SYSTEM
from core.errors import ApplicationError, Conflict, Forbidden
from erasure.models import Target, TargetEvent
from lineage.selectors import versions_by_id
from lineage.services import country_code
from targets.ties import tied_versions

FLAGS = ("always", "requires_approval", "identity_source")
# Kinds that hand the subject's identifiers to a system outside Lup's reach.
OUTBOUND_KINDS = frozenset({"webhook"})


def needs_approval(*, kind: str, always: bool = False, identity_source: bool = False, **_) -> bool:
    return bool(always or identity_source or kind in OUTBOUND_KINDS)


def target_check(
    *, kind: str, config: dict[str, Any], operation: str = Target.Operation.DELETE
) -> list[str]:
    """Refuse a config its connector refuses, an operation it cannot do, a destination it must
    not reach (a webhook into Lup's own network), or a config that points at Lup's own database
    (its tokens, users and ledger are no erasure target, and a target there could read them).
    Returns the identifier types the target is keyed by."""
    connector = connector_for(kind, config)
    _operation_check(connector, operation)
    connector.check_destination()
    if kind == "sql_table" and _is_own_database(str(config.get("alias", "default"))):
        raise ApplicationError(
            "A sql_table target cannot be on Lup's own database.",
            code="own_database_refused",
            fields={"alias": "Lup's own database"},
        )
    return sorted(connector.id_types)


def _operation_check(connector: Connector, operation: str) -> None:
    if operation not in Target.Operation.values:
        raise ApplicationError(
            "operation is 'delete' or 'mask'.",
            code="invalid_operation",
            fields={"operation": "unknown"},
        )
    if connector.supports(Capability.for_op(operation)):
        if operation == Target.Operation.MASK and (gaps := connector.mask_gaps()):
            # A masked row that still holds the value it was found by still names the subject.
            raise ApplicationError(
                f"A mask must cover every match column; it leaves {', '.join(gaps)}.",
                code="operation_not_supported",
                fields={"operation": operation, "config": "mask misses a match column"},
            )
        return
    kind = connector.kind
    if operation == Target.Operation.MASK and Capability.MASK in type(connector).capabilities:
        # The kind can, this config cannot: say what the config lacks.
        raise ApplicationError(
            f"A {kind} target masks only with {connector.mask_needs} in its config.",
            code="operation_not_supported",
            fields={"operation": operation, "config": f"{connector.mask_needs} required"},
        )
    raise ApplicationError(
        f"A {kind} target cannot {operation}.",
        code="operation_not_supported",
        fields={"operation": operation, "kind": kind},
    )


def target_reach(*, kind: str, config: dict[str, Any]) -> None:
    """Look at the target once: 400 `target_unreachable` naming the config key of what is
    missing (`path`, `table`, `match.email`, an unset `dsn_env`) or could not be reached. Kinds
    Lup cannot look at (a person, another system's endpoint) pass."""
    connector_for(kind, config).check()


def _is_own_database(alias: str) -> bool:
    if alias == "default":
        return True
    ours, theirs = settings.DATABASES["default"], settings.DATABASES.get(alias) or {}
    where = ("NAME", "HOST", "PORT")
    return all(theirs.get(key) == ours.get(key) for key in where) and bool(theirs)


def _versions(ids: Sequence[Any]) -> list[Any]:
    found = list(versions_by_id(ids=ids).values())
    if len(found) != len(set(ids)):
        raise ApplicationError(
            "A listed dataset version does not exist.",
            code="unknown_version",
            fields={"versions": "unknown_version"},
        )
    return found


def _spec(
    *,
    name: str,
    kind: str,
    config: dict,
    operation: str,
    country: str,
    versions: Sequence[Any],
    flags: dict,
) -> dict[str, Any]:
    """A registration, checked, as it is stored in a proposal and in the events."""
    unknown = set(flags) - set(FLAGS)
    if unknown:
        raise ApplicationError(
            "Unknown target flags.",
            code="invalid_target",
            fields={f: "unknown" for f in sorted(unknown)},
        )
    return {
        "name": name,
        "kind": kind,
        "config": config,
        "operation": operation,
        "id_types": target_check(kind=kind, config=config, operation=operation),
        "country": country_code(country),
        "versions": sorted(str(v.pk) for v in _versions(versions)),
        **{flag: bool(flags.get(flag, False)) for flag in FLAGS},
    }


def _current(target: Target) -> dict[str, Any]:
    return {"kind": target.kind, **{flag: getattr(target, flag) for flag in FLAGS}}


def _apply(target: Target, spec: dict[str, Any], *, state: str) -> Target:
    if Target.objects.filter(name=spec["name"]).exclude(pk=target.pk).exists():
        raise Conflict("A target with that name exists.", code="target_exists")
    for field in ("name", "kind", "config", "operation", "id_types", "country", *FLAGS):
        setattr(target, field, spec[field])
    target.state = state
    target.proposal = None
    try:
        with transaction.atomic():
            target.save()
    except IntegrityError:  # the same name, saved meanwhile by another request
        raise Conflict("A target with that name exists.", code="target_exists") from None
    target.versions.set(_versions(spec["versions"]))
    # And the versions of the datasets pipelines named as the config points at.
    target.versions.add(*tied_versions(kind=target.kind, config=target.config))
    return target


def _event(target: Target, action: str, *, actor: str, reason: str = "", change=None) -> None:
    TargetEvent.objects.create(
        target=target,
        action=action,
        actor=actor,
        reason=reason,
        change=change or {},
        at=timezone.now(),
    )


@transaction.atomic
def target_save(
    *,
    target: Target | None = None,
    name: str,
    kind: str,
    config: dict[str, Any],
    country: str,
    operation: str = Target.Operation.DELETE,
    versions: Sequence[Any] = (),
    actor: str = SYSTEM,
    preapproved: str = "",
    check: bool = True,
    **flags: bool,
) -> Target:
    """Register a target (or, given `target`, change it) after its connector accepted the
    config and, with `check`, found the target (`target_reach`). A target that needs approval
    is proposed (a change to an active one is kept as its proposal). `preapproved` is the
    reason when the operator's own command registers it (the demo): proposed and approved at
    once, both by `actor`."""
    if target is not None:
        target = Target.objects.select_for_update().get(pk=target.pk)
        if target.state == Target.State.RETIRED:
            raise Conflict("A retired target is kept as it was.", code="target_retired")
    spec = _spec(
        name=name,
        kind=kind,
        config=config,
        operation=operation,
        country=country,
        versions=versions,
        flags=flags,
    )
    if check:
        target_reach(kind=kind, config=config)
    if Target.objects.filter(name=name).exclude(pk=getattr(target, "pk", None)).exists():
        raise Conflict("A target with that name exists.", code="target_exists")
    active = target is not None and target.state == Target.State.ACTIVE
    gated = needs_approval(**spec) or (active and needs_approval(**_current(target)))
    if not gated:
        return _apply(target or Target(), spec, state=Target.State.ACTIVE)
    if preapproved:
        saved = _apply(target or Target(), spec, state=Target.State.ACTIVE)
        _event(saved, TargetEvent.Action.PROPOSED, actor=actor, change=spec)
        _event(saved, TargetEvent.Action.APPROVED, actor=actor, reason=preapproved, change=spec)
        return saved
    if active:
        # It keeps working as it is until the change is approved.
        target.proposal = spec
        target.save(update_fields=["proposal", "updated_at"])
    else:
        target = _apply(target or Target(), spec, state=Target.State.PROPOSED)
    _event(target, TargetEvent.Action.PROPOSED, actor=actor, change=spec)
    return target


@transaction.atomic
def target_approve(*, target: Target, actor: str, reason: str) -> Target:
    """A compliance officer approves a proposed target, or a proposed change to an active one:
    it takes effect now. The one who proposed it may not approve it (four eyes) unless
    `LUP_ALLOW_SELF_APPROVAL`."""
    if not reason.strip():
        raise ApplicationError("Say why the target is approved.", code="reason_required")
    locked = Target.objects.select_for_update().get(pk=target.pk)
    if locked.state != Target.State.PROPOSED and locked.proposal is None:
        raise Conflict("Nothing about this target waits for approval.", code="nothing_to_approve")
    proposed = locked.events.filter(action=TargetEvent.Action.PROPOSED).order_by("-at", "-pk")
    proposer = proposed.values_list("actor", flat=True).first()
    if proposer == actor and not settings.LUP_ALLOW_SELF_APPROVAL:
        raise Forbidden("The one who proposed a target cannot approve it.", code="self_approval")
    if locked.proposal is not None:
        # Checked again: what it names may have changed since it was proposed.
        spec = locked.proposal
        spec = _spec(
            name=spec["name"],
            kind=spec["kind"],
            config=spec["config"],
            # A proposal made before targets had an operation: every target deleted then.
            operation=spec.get("operation", Target.Operation.DELETE),
            country=spec["country"],
            versions=spec["versions"],
            flags={flag: spec[flag] for flag in FLAGS},
        )
        approved = _apply(locked, spec, state=Target.State.ACTIVE)
    else:
        spec = {}
        locked.state = Target.State.ACTIVE
        locked.save(update_fields=["state", "updated_at"])
        approved = locked
    _event(approved, TargetEvent.Action.APPROVED, actor=actor, reason=reason.strip(), change=spec)
    return approved


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
    locked.proposal = None
    locked.save(update_fields=["state", "proposal", "updated_at"])
    _event(locked, TargetEvent.Action.RETIRED, actor=actor, reason=reason.strip())
    return locked
