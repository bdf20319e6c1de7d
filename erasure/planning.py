"""Planning an erasure: from the lineage subject index and the target registry, which targets
to touch and why, and which models are affected.

Every plan entry carries its reasons in words a reviewer can check ("eval set X v3 holds this
subject: membership uploaded"; "derived from …: membership not declared, target will be
scanned"; "always: every request touches it").
"""

from collections import defaultdict

from django.db import transaction

from core.errors import Conflict
from erasure.models import AffectedModel, ErasureRequest, PlanEntry, State, Target
from erasure.resolution import erasure_request_resolve
from erasure.services import erasure_request_transition, held_related, hold_related
from lineage.membership import UPLOADED, subject_locations
from lineage.selectors import versions_by_id


def _reason(version: dict, source: str) -> str:
    where = f"{version['dataset']} version {version['version']}"
    if version["relation"] == "member":
        # Uploaded, or indexed by scanning a target (`targets.indexing`): the plan says which.
        return f"{where} holds this subject ({source or UPLOADED})"
    return f"{where} derives from data holding this subject: {version['note']}; it will be scanned"


def erasure_request_plan(
    *, request: ErasureRequest, actor: str, locked: bool = False
) -> ErasureRequest:
    """Build the plan of a verified request and move it to `planned`, or refuse. `locked`: the
    caller holds `request` under its row lock, in the transaction this runs in."""
    # No savepoint of its own (two round trips): a refusal is raised once the block has been
    # left, so a caller that answers it carries on in a transaction that is not broken.
    with transaction.atomic(savepoint=False):
        if not locked:
            request = ErasureRequest.objects.select_for_update().get(pk=request.pk)
        refused = _refusal(request)
        if refused is None:
            return _plan(request, actor=actor)
    raise refused


def _refusal(request: ErasureRequest) -> Conflict | None:
    if request.state != State.VERIFIED:
        return Conflict("Only a verified request is planned.", code="invalid_transition")
    if request.linked_to is not None and request.linked_to.is_open:
        # One subject is never erased by two requests at once: this one waits for the first.
        return Conflict(
            "An earlier request for this subject is still open.", code="linked_to_open_request"
        )
    return None


def _plan(request: ErasureRequest, *, actor: str) -> ErasureRequest:
    keys = [(k.key, k.id_type) for k in request.subject_keys.all()]
    given_types = {id_type for _, id_type in keys}
    found = subject_locations(keys=[key for key, _ in keys])

    reasons: dict[int, list[str]] = defaultdict(list)
    by_version = {str(v["version_id"]): v for v in found["versions"]}
    sources = {
        str(pk): version.membership_source
        for pk, version in versions_by_id(ids=list(by_version)).items()
    }
    planned = Target.objects.filter(state=Target.State.ACTIVE)
    targets: dict[int, Target] = {}
    # Not even built when lineage knows nothing of the subject, as for most requests.
    holding = planned.filter(versions__in=list(by_version)).distinct() if by_version else []
    for target in holding:
        targets[target.pk] = target
        for version_id in target.versions.filter(pk__in=list(by_version)).values_list(
            "pk", flat=True
        ):
            reasons[target.pk].append(
                _reason(by_version[str(version_id)], sources.get(str(version_id), ""))
            )
    for target in planned.filter(always=True):
        targets[target.pk] = target
        reasons[target.pk].append("always: every request touches this target")

    wanted = {t for target in targets.values() for t in target.id_types} - given_types
    if wanted:
        given_types |= erasure_request_resolve(request=request, wanted=wanted)
    if held_related(request, "plan") != []:  # a request filed in this transaction has none
        PlanEntry.objects.filter(request=request).delete()
    entries = PlanEntry.objects.bulk_create(
        [
            PlanEntry(
                request=request,
                target=target,
                reasons=sorted(set(reasons[pk])),
                id_types=sorted(given_types & set(target.id_types)),
                needs_resolution=not (given_types & set(target.id_types)),
                requires_approval=target.requires_approval,
            )
            for pk, target in sorted(targets.items(), key=lambda item: item[1].name)
        ]
    )
    hold_related(request, "plan", entries)  # the gate's next: it reads the plan from here
    kinds: dict = defaultdict(set)
    for model in found["models"]:
        kinds[model["model_version_id"]].add(model["kind"])
    affected = AffectedModel.objects.bulk_create(
        [
            AffectedModel(request=request, model_version_id=pk, kinds=sorted(k))
            for pk, k in kinds.items()
        ],
        ignore_conflicts=True,
    )
    if held_related(request, "affected_models") == []:
        # It had none, so these are all it has: the gate need not ask.
        hold_related(request, "affected_models", affected)
    return erasure_request_transition(
        request=request,
        to_state=State.PLANNED,
        actor=actor,
        reason=f"{len(targets)} target(s), {len(kinds)} affected model(s)",
        locked=True,
    )
