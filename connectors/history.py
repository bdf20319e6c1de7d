"""What a versioned store keeps after an erasure: the `history` block shared by `delta_table`,
`lance_table`, `hf_dataset` (its cache), `iceberg_table` and `postgres_table` (dead row
versions), read into a `HistoryPolicy`.

A store that keeps earlier versions (time travel, old fragments, cache files) still holds the
subject's rows in them after the current version is erased. The operator says what may stay:

- `{"policy": "purged"}`: right after the erasure every earlier version is removed (vacuum,
  clean-up with a retention of zero), and the post-check reads every version the store still
  keeps; the receipt's `history` is `purged` with the number of versions read. Removing history
  at once breaks readers still using an old version, so it is never the default: the config
  must say it.
- `{"policy": "retained", "retain_days": n}` (n is 7 when left out): versions older than n days
  are removed (or, for PostgreSQL, left to autovacuum), newer ones kept; the post-check reads
  the current version only, and the receipt says `retained` and until when the older ones may
  be kept.

Without a `history` block the lake kinds retain for 7 days (`history_config`); the database
kinds claim nothing of their history, and their receipts carry no `history`
(`history_policy`).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from .base import History
from .errors import ConnectorConfigError
from .schema import DEFAULT_RETAIN_DAYS

# For the README's reference: what the policy means, for the staff who choose it.
HISTORY_IN_PLAIN_WORDS = [
    "Some stores keep earlier versions of their data so that people can look back in time: a",
    "Delta or Lance table keeps the files of its past versions, a Hugging Face datasets cache",
    "keeps processed copies of a dataset. Erasing a person from the current version leaves",
    "them in those copies until the copies are cleaned up. The `history` block says which of",
    "two promises the target makes:",
    "",
    "- **`purged`**: the copies are cleaned up at once, as part of the erasure, and the check",
    "  afterwards reads every version the store still keeps. The receipt says `purged` and how",
    "  many versions were read. Choose it when nobody may keep the person's data at all; it",
    "  also ends looking back in time past the erasure, and a job still reading an old",
    "  version at that moment fails.",
    "- **`retained`** (the default, for 7 days): only the current version is erased at once;",
    "  older versions are kept for `retain_days` (a backup duty, a rollback window) and are",
    "  removed by the first clean-up after that. The receipt says `retained` and the date",
    "  until which they may still be there; it does not claim more. Write down why in",
    "  `legal_basis`.",
]


@dataclass(frozen=True, slots=True)
class HistoryPolicy:
    policy: Literal["purged", "retained"]
    retain_days: int

    @property
    def purged(self) -> bool:
        return self.policy == "purged"

    @property
    def retention(self) -> timedelta:
        """How old a version must be before the clean-up after an erasure removes it."""
        return timedelta(0) if self.purged else timedelta(days=self.retain_days)

    def checked(
        self, versions: int, *, at: datetime, kept_longer: timedelta = timedelta(0)
    ) -> History:
        """The receipt's `history` for a post-check that read `versions` versions at `at`; a
        store that keeps some trace of old versions longer than `retain_days` (a log with its
        own retention) says so with `kept_longer`, and the later date is the one given."""
        if self.purged:
            return History(policy="purged", versions_checked=versions)
        return History(
            policy="retained",
            versions_checked=versions,
            retained_until=at + max(self.retention, kept_longer),
        )


def history_config(config: dict[str, Any]) -> HistoryPolicy:
    """The `history` block (already checked against `schema.HISTORY`): 7 days retained when
    absent; `retain_days` only with `retained`."""
    return history_policy(config) or HistoryPolicy(
        policy="retained", retain_days=DEFAULT_RETAIN_DAYS
    )


def history_policy(config: dict[str, Any]) -> HistoryPolicy | None:
    """The `history` block, or None without one (a kind that then claims nothing of it)."""
    block = config.get("history")
    if block is None:
        return None
    if block["policy"] == "purged":
        if "retain_days" in block:
            raise ConnectorConfigError(
                "history.retain_days is for a retained history; a purged one keeps nothing.",
                fields={"history.retain_days": "only with retained"},
            )
        return HistoryPolicy(policy="purged", retain_days=0)
    return HistoryPolicy(
        policy="retained", retain_days=block.get("retain_days", DEFAULT_RETAIN_DAYS)
    )
