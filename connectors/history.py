"""A target's history policy: what becomes of the earlier versions a store keeps (dead row
versions, old snapshots, object versions) once the subject is erased from its current one.

`purged`: the kind makes the store drop them, and its post-check reads every version the store
still holds. `retained`: they are left for the store to drop on its own schedule, so the
post-check reads the current version only and the receipt says until when older ones are kept
(the post-check's time plus `retention_days`). A target without the key claims nothing of them.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from .base import History
from .errors import ConnectorConfigError


@dataclass(frozen=True, slots=True)
class HistoryPolicy:
    policy: Literal["purged", "retained"]
    retention_days: int | None = None

    @property
    def purged(self) -> bool:
        return self.policy == "purged"

    def checked(self, *, versions: int, at: datetime) -> History:
        """What a post-check at `at` says of the history: `versions` earlier versions read
        (none under `retained`, where only the current one is)."""
        if self.purged:
            return History(policy="purged", versions_checked=versions)
        return History(
            policy="retained",
            versions_checked=0,
            retained_until=at + timedelta(days=self.retention_days or 0),
        )


def history_policy(config: dict[str, Any]) -> HistoryPolicy | None:
    """The config's `history` (already valid against `schema.history`), or None without one;
    `retention_days` goes with `retained` only."""
    given = config.get("history")
    if given is None:
        return None
    policy, days = given["policy"], given.get("retention_days")
    if policy == "retained" and days is None:
        raise ConnectorConfigError(
            'history.retention_days is required with "retained": the receipt says until when '
            "older versions are kept.",
            fields={"history.retention_days": "required"},
        )
    if policy == "purged" and days is not None:
        raise ConnectorConfigError(
            'history.retention_days goes with "retained" only: "purged" keeps no older version.',
            fields={"history.retention_days": "not with purged"},
        )
    return HistoryPolicy(policy=policy, retention_days=days)
