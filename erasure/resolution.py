"""Identifier resolution: a target keyed by user_id, for a request that gave an e-mail address,
gets the subject's user_id from an `identity_source` target (e.g. the users table) before any
erasure runs."""

from collections import defaultdict

import structlog

from connectors import connector_for
from connectors.base import Capability, NoUsableIdentifiers
from core import subject_keys
from erasure.models import ErasureRequest, Target
from erasure.services import erasure_request_add_identifiers, erasure_request_identifiers

log = structlog.get_logger(__name__)


def erasure_request_resolve(*, request: ErasureRequest, wanted: set[str]) -> set[str]:
    """Ask identity sources for the identifier types in `wanted`; returns the types found."""
    given: dict[str, list[str]] = defaultdict(list)
    for identifier in erasure_request_identifiers(request=request):
        given[identifier["id_type"]].append(identifier["value"])
    missing = wanted - set(given)
    found: list[subject_keys.Identifier] = []
    active = Target.objects.filter(state=Target.State.ACTIVE, identity_source=True)
    for target in active.order_by("name"):
        connector = connector_for(target.kind, target.config)
        if not connector.supports(Capability.RESOLVE):
            continue
        for want in sorted(missing & set(getattr(connector, "resolvable", {}))):
            try:
                values = connector.resolve(dict(given), want=want)
            except NoUsableIdentifiers:
                continue
            for value in values:
                try:
                    found.append(subject_keys.normalize(want, value))
                except subject_keys.InvalidIdentifier:
                    continue  # a malformed value in the source is not the subject's
    added = erasure_request_add_identifiers(request=request, identifiers=found)
    types = {identifier.id_type for identifier in found}
    log.info(
        "erasure.identifiers_resolved", request=str(request.pk), types=sorted(types), added=added
    )
    return types
