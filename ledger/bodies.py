"""The bodies of erasure receipts, built in one place beside the format rules that check them
(`ledger.receipts`), so a field is named the same way by every caller."""

import hashlib
from typing import Any

import rfc8785

from ledger.services import utc_time


def step(*, op: str, method: str, count: int, started_at: str, completed_at: str) -> dict[str, str]:
    """What was done to a target (`action`)."""
    return {
        "op": op,
        "method": method,
        "count": str(count),
        "started_at": started_at,
        "completed_at": completed_at,
    }


def check(*, method: str, remaining: int, at: str) -> dict[str, str]:
    """What a look afterwards found (`postcheck`)."""
    return {"method": method, "remaining": str(remaining), "at": at}


def erasure_target(
    *,
    subject_commit: str,
    request_id: Any,
    target: Any,
    outcome: str,
    action: dict[str, str],
    postcheck: dict[str, str],
    exception: dict[str, str] | None = None,
    before: str = "",
    after: str = "",
    shards: dict[str, str] | None = None,
    history: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One target's `erasure.target` receipt; `target` has pk, kind, name and country."""
    body: dict[str, Any] = {
        "type": "erasure.target",
        "subject": {"commit": subject_commit},
        "request": {"id": str(request_id)},
        "target": {
            "id": str(target.pk),
            "kind": target.kind,
            "name": target.name,
            "location": target.country,
        },
        "outcome": outcome,
        "action": action,
        "postcheck": postcheck,
    }
    if before and after:
        body["before"], body["after"] = before, after
    if exception:
        body["exception"] = exception
    if shards:
        body["shards"] = shards
    if history:
        body["history"] = history
    return body


def shard_summary(*, total: int, changed: int, manifest: str) -> dict[str, str]:
    """`shards`: shards examined, shards rewritten, and the digest of their manifest."""
    return {"total": str(total), "changed": str(changed), "manifest": manifest}


def manifest_entry(*, key: str, before: str, after: str) -> dict[str, str]:
    """One changed shard of a manifest: `key` is "sha256:<hex>" of the shard's key (a path may
    carry a name), `before` and `after` the digests of its content."""
    return {"key": key, "before": before, "after": after}


def manifest_digest(entries: list[dict[str, str]]) -> str:
    """`shards.manifest`: "sha256:<hex>" of the JCS bytes of the entries, sorted by key."""
    ordered = sorted(entries, key=lambda entry: entry["key"])
    return "sha256:" + hashlib.sha256(rfc8785.dumps(ordered)).hexdigest()


def kept_history(*, policy: str, versions_checked: int, retained_until: str = "") -> dict[str, str]:
    """`history`: what the post-check read of the versions a store keeps."""
    body = {"policy": policy, "versions_checked": str(versions_checked)}
    if retained_until:
        body["retained_until"] = retained_until
    return body


def erasure_request(
    *,
    request: Any,
    outcome: str,
    target_leaves: dict[str, str],
    affected_models: list[tuple[Any, str]],
) -> dict[str, Any]:
    """The closing `erasure.request` receipt: the request's times, its outcome, the leaf of
    each target's receipt (by target id) and the decision on each affected model."""
    received = request.received_at
    return {
        "type": "erasure.request",
        "subject": {"commit": request.subject_commit},
        "request": {
            "id": str(request.pk),
            "received_at": utc_time(received),
            "verified_at": utc_time(request.verified_at or received),
            "deadline": utc_time(request.deadline or received),
            "jurisdictions": sorted((request.rules or {}).get("considered") or []),
        },
        "outcome": outcome,
        "targets": [
            {"target_id": target_id, "leaf": leaf}
            for target_id, leaf in sorted(target_leaves.items())
        ],
        "affected_models": [
            {"id": str(model_id), "decision": decision} for model_id, decision in affected_models
        ],
    }
