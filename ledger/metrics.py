"""Transparency log figures for /metrics, read from the database at scrape time.

`ledger_metrics` is one of `LUP_METRICS_SOURCES` (core.metrics exposes it). No labels at all.
"""

from datetime import datetime

from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily, Metric

from ledger import selectors


def clock() -> datetime:
    """Now, for the ages; tests move it."""
    return timezone.now()


def ledger_metrics() -> list[Metric]:
    now = clock()
    size = selectors.log_size()
    checkpoint = selectors.latest_checkpoint()
    audit = selectors.latest_audit_run()

    leaves = GaugeMetricFamily("lup_ledger_leaves", "Leaves (receipts) in the transparency log.")
    leaves.add_metric([], size)
    unsigned = GaugeMetricFamily(
        "lup_ledger_unsigned_leaves",
        "Leaves appended since the latest signed checkpoint (all of them while there is none).",
    )
    unsigned.add_metric([], size - (checkpoint.size if checkpoint else 0))
    age = GaugeMetricFamily(
        "lup_ledger_checkpoint_age_seconds",
        "Seconds since the latest checkpoint was signed. Absent while there is none.",
    )
    if checkpoint is not None:
        age.add_metric([], (now - checkpoint.created_at).total_seconds())
    audit_ok = GaugeMetricFamily(
        "lup_ledger_audit_ok",
        "1 if the latest `ledger_audit` run found the log intact, 0 if it found a problem. "
        "Absent until the command has run.",
    )
    audit_age = GaugeMetricFamily(
        "lup_ledger_audit_age_seconds",
        "Seconds since the latest `ledger_audit` run finished. Absent until it has run.",
    )
    if audit is not None:
        audit_ok.add_metric([], 1 if audit.ok else 0)
        audit_age.add_metric([], (now - audit.finished_at).total_seconds())
    return [leaves, unsigned, age, audit_ok, audit_age]
