"""Erasure figures for /metrics, counted in the database at scrape time.

`erasure_metrics` is one of `LUP_METRICS_SOURCES`; core.metrics calls it, caches its answer
for a few seconds and exposes it. Counting in the database rather than in process memory makes
every web process give the same figures, and a restart lose none.

Labels come from closed sets only: request states, run statuses and outcomes, connector kinds
and deadline bands. Never an id, a key, a target's name or an identifier (invariant 7).
"""

import math
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Count, F, IntegerField, Min, Q, Sum, Value
from django.db.models.functions import Greatest
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily, Metric, SummaryMetricFamily

from connectors import CONNECTORS
from erasure.models import CLOSED_STATES, ErasureRequest, State, TargetRun

# How soon open requests are due, in bands that do not overlap ("within_7d" is after one day
# and within seven). "none": not verified yet, so no deadline is set.
DUE_BANDS: tuple[tuple[str, timedelta], ...] = (
    ("within_1d", timedelta(days=1)),
    ("within_7d", timedelta(days=7)),
    ("within_30d", timedelta(days=30)),
)
QUANTILES = (0.5, 0.9, 0.99)
# What a run's outcome can be once it ended; "none" while it runs. Anything else is "other", so
# a label never carries free text.
RUN_OUTCOMES = frozenset({"erased", "nothing_found", "held", "failed"})
OTHER = "other"


def clock() -> datetime:
    """Now, for the deadline margins and the window; tests move it."""
    return timezone.now()


def erasure_metrics() -> list[Metric]:
    now = clock()
    return [*_requests(now), *_closed(now), *_runs()]


def _known(value: str, allowed: Iterable[str]) -> str:
    return value if value in allowed else OTHER


# --- requests -------------------------------------------------------------------------------


def _requests(now: datetime) -> list[Metric]:
    by_state = GaugeMetricFamily(
        "lup_erasure_requests", "Erasure requests in each state, now.", labels=["state"]
    )
    counts = dict.fromkeys(State.values, 0)
    for row in ErasureRequest.objects.values("state").annotate(n=Count("pk")).order_by():
        label = _known(row["state"], State.values)
        counts[label] = counts.get(label, 0) + row["n"]
    for state, n in counts.items():
        by_state.add_metric([state], n)

    bands = {"overdue": Q(deadline__lt=now)}
    start = now
    for name, ahead in DUE_BANDS:
        bands[name] = Q(deadline__gte=start, deadline__lt=now + ahead)
        start = now + ahead
    bands["later"] = Q(deadline__gte=start)
    bands["none"] = Q(deadline__isnull=True)
    figures = ErasureRequest.objects.exclude(state__in=CLOSED_STATES).aggregate(
        soonest=Min("deadline"), **{name: Count("pk", filter=q) for name, q in bands.items()}
    )
    due = GaugeMetricFamily(
        "lup_erasure_open_requests_by_deadline",
        "Open erasure requests by how soon their deadline falls: overdue, within_1d, within_7d, "
        "within_30d, later, or none (not verified yet).",
        labels=["due"],
    )
    for name in bands:
        due.add_metric([name], figures[name])
    margin = GaugeMetricFamily(
        "lup_erasure_open_deadline_margin_seconds",
        "Seconds until the earliest deadline of an open request; negative once it has passed. "
        "Absent while no open request has a deadline.",
    )
    if figures["soonest"] is not None:
        margin.add_metric([], (figures["soonest"] - now).total_seconds())
    return [by_state, due, margin]


# --- closed requests in the window ----------------------------------------------------------

_CLOSE_TIMES_SQL = """
SELECT state, count(*), sum(seconds),
       percentile_cont(%s::float8[]) WITHIN GROUP (ORDER BY seconds)
FROM (
    SELECT state, extract(epoch FROM closed_at - received_at)::float8 AS seconds
    FROM {table} WHERE closed_at >= %s AND state = ANY(%s)
) AS closed
GROUP BY state
"""  # the table name is the model's constant, not input


def percentile_cont(ordered: Sequence[float], fraction: float) -> float:
    """PostgreSQL's percentile_cont: linear interpolation between the closest ranks."""
    position = fraction * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def close_times(*, since: datetime) -> dict[str, tuple[int, float, list[float]]]:
    """{closed state: (requests, total seconds, QUANTILES of seconds)} for requests closed since
    `since`, each measured from receipt to close."""
    states = sorted(CLOSED_STATES)
    if connection.vendor == "postgresql":
        table = connection.ops.quote_name(ErasureRequest._meta.db_table)
        sql = _CLOSE_TIMES_SQL.format(table=table)
        with connection.cursor() as cursor:
            cursor.execute(sql, [list(QUANTILES), since, states])
            return {
                state: (n, total, list(quantiles))
                for state, n, total, quantiles in cursor.fetchall()
            }
    # The embedded default's SQLite has no percentile_cont; its few requests are sorted here.
    seconds: dict[str, list[float]] = {}
    for state, received_at, closed_at in ErasureRequest.objects.filter(
        closed_at__gte=since, state__in=states
    ).values_list("state", "received_at", "closed_at"):
        seconds.setdefault(state, []).append((closed_at - received_at).total_seconds())
    result = {}
    for state, values in seconds.items():
        values.sort()
        result[state] = (len(values), sum(values), [percentile_cont(values, q) for q in QUANTILES])
    return result


def _closed(now: datetime) -> list[Metric]:
    days = settings.LUP_METRICS_WINDOW_DAYS
    since = now - timedelta(days=days)
    summary = SummaryMetricFamily(
        "lup_erasure_time_to_close_seconds",
        f"Time from receipt to close of the erasure requests closed in the last {days} days "
        "(LUP_METRICS_WINDOW_DAYS), by closing state. A sliding window, not a counter: read "
        "the quantiles, count and sum as they are, never through rate().",
        labels=["state"],
    )
    times = close_times(since=since)
    for state in sorted(CLOSED_STATES):
        n, total, quantiles = times.get(state, (0, 0.0, []))
        for fraction, value in zip(QUANTILES, quantiles, strict=False):
            summary.add_sample(summary.name, {"state": state, "quantile": str(fraction)}, value)
        summary.add_metric([state], count_value=n, sum_value=total or 0.0)

    deadlines = GaugeMetricFamily(
        "lup_erasure_closed_requests",
        f"Erasure requests closed in the last {days} days, by closing state and whether they "
        "met their deadline (none: closed before verification set one).",
        labels=["state", "deadline"],
    )
    rows = {
        row["state"]: row
        for row in ErasureRequest.objects.filter(closed_at__gte=since, state__in=CLOSED_STATES)
        .values("state")
        .annotate(
            met=Count("pk", filter=Q(closed_at__lte=F("deadline"))),
            missed=Count("pk", filter=Q(closed_at__gt=F("deadline"))),
            none=Count("pk", filter=Q(deadline__isnull=True)),
        )
        .order_by()
    }
    for state in sorted(CLOSED_STATES):
        for band in ("met", "missed", "none"):
            deadlines.add_metric([state, band], rows.get(state, {}).get(band, 0))
    return [summary, deadlines]


# --- target runs ----------------------------------------------------------------------------


def _runs() -> list[Metric]:
    runs = GaugeMetricFamily(
        "lup_erasure_target_runs",
        "Target runs (one request on one target) by connector kind, status and outcome (none "
        "while the run is unfinished).",
        labels=["kind", "status", "outcome"],
    )
    retries = GaugeMetricFamily(
        "lup_erasure_target_run_retries",
        "Erase passes beyond the first, summed over target runs (attempts - 1), by connector "
        "kind: runs erased again after a redelivery or an officer's retry. A task retried "
        "before its connector erased anything is not counted (see README, Metrics).",
        labels=["kind"],
    )
    counts: dict[tuple[str, str, str], int] = {}
    repeated: dict[str, int] = {}
    extra = Greatest(F("attempts") - Value(1), Value(0), output_field=IntegerField())
    for row in (
        TargetRun.objects.values("target__kind", "status", "outcome")
        .annotate(n=Count("pk"), retries=Sum(extra))
        .order_by()
    ):
        kind = _known(row["target__kind"], CONNECTORS)
        labels = (
            kind,
            _known(row["status"], TargetRun.Status.values),
            _known(row["outcome"], RUN_OUTCOMES) if row["outcome"] else "none",
        )
        counts[labels] = counts.get(labels, 0) + row["n"]
        repeated[kind] = repeated.get(kind, 0) + (row["retries"] or 0)
    for labels, n in sorted(counts.items()):
        runs.add_metric(list(labels), n)
    for kind, n in sorted(repeated.items()):
        retries.add_metric([kind], n)
    return [runs, retries]
