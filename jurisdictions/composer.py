"""The effective rules for one subject: the strictest rule per dimension across the markets a
deployment serves and the subject's own country.

A deployment that serves several markets owes each of them its rules, so for every dimension the
strictest wins: the shortest deadline (compared by the actual due time, since "30 working days"
and "30 days" differ by weekends), the highest consent and transfer levels, the highest child
age. Each part says which countries it came from (all of them when several tie) and whether the
rule it rests on is unconfirmed; countries whose rule for that dimension is unknown are listed
under `not_known_for`, because the real strictest rule may be there.
"""

import datetime
from collections.abc import Callable, Sequence
from typing import Any

from django.conf import settings
from django.utils import timezone

from jurisdictions.rules import (
    CONSENT_LEVELS,
    CROSS_BORDER_LEVELS,
    DEADLINE_RULES,
    Deadline,
    Rule,
    jurisdictions,
)

# Erasure rights that are statutory, weakest first; "none" and "unknown" carry no deadline.
_RIGHTS_ORDER = ("none", "limited", "statutory")
_HAS_ERASURE_RIGHT = ("limited", "statutory")


def _now() -> datetime.datetime:
    # A seam for tests: deadlines are computed from "now" unless a received time is given.
    return timezone.now()


def due_at(*, received_at: datetime.datetime, deadline: Deadline) -> datetime.datetime:
    """When `deadline` runs out for a request received at `received_at`.

    Hours and calendar days are added as elapsed time. Business days count Monday to Friday
    only, in the time zone of `received_at` (pass a local time for a local working week); the
    day of receipt does not count, so a request received on Saturday with one business day is
    due on Monday at the same clock time. Public holidays are not known to Lup and are counted
    as working days, which can only make a deadline earlier, never later. An extension is an
    allowance the law may grant, so it is not added here.
    """
    if deadline.unit == "hours":
        return received_at + datetime.timedelta(hours=deadline.amount)
    if not deadline.business:
        return received_at + datetime.timedelta(days=deadline.amount)
    day, remaining = received_at, deadline.amount
    while remaining:
        day += datetime.timedelta(days=1)
        if day.weekday() < 5:
            remaining -= 1
    return day


def effective_rules(
    *,
    markets: Sequence[str],
    subject_country: str | None,
    received_at: datetime.datetime | None = None,
    policy_deadline_days: int | None = None,
) -> dict[str, Any]:
    """The strictest rule per dimension for `markets` plus `subject_country`.

    Countries without a data file add nothing and are listed under `without_data`. The erasure
    deadline comes from the countries with an erasure right and a known deadline; when there is
    none, requests are honoured under the operator's policy with `policy_deadline_days`
    (default `settings.LUP_POLICY_DEADLINE_DAYS`) and the part says `from: "policy"`.
    """
    received_at = received_at or _now()
    served = list(dict.fromkeys(code.strip().upper() for code in markets if code.strip()))
    subject_country = (subject_country or "").strip().upper() or None
    codes = list(dict.fromkeys([*served, *([subject_country] if subject_country else [])]))
    known = jurisdictions()
    considered = [code for code in codes if code in known]
    rules_of = {code: known[code].rules for code in considered}

    def candidates(name: str) -> list[tuple[str, Rule]]:
        return [(code, rules_of[code][name]) for code in considered]

    def sooner(rule: Rule) -> float | None:
        if rule.deadline is None:
            return None
        return -(
            due_at(received_at=received_at, deadline=rule.deadline) - received_at
        ).total_seconds()

    def deadline_body(rule: Rule) -> dict[str, Any]:
        assert rule.deadline is not None
        return {
            "deadline": rule.deadline.as_dict(),
            "due_at": due_at(received_at=received_at, deadline=rule.deadline).isoformat(),
        }

    parts: dict[str, Any] = {
        "erasure_right": _strictest(
            candidates("erasure_right"),
            key=lambda r: _RIGHTS_ORDER.index(r.value) if r.value in _RIGHTS_ORDER else None,
            body=lambda r: {"value": r.value},
        ),
        "erasure_deadline": _erasure_deadline(
            candidates("erasure_right"),
            candidates("erasure_deadline"),
            sooner=sooner,
            body=deadline_body,
            received_at=received_at,
            policy_days=(
                settings.LUP_POLICY_DEADLINE_DAYS
                if policy_deadline_days is None
                else policy_deadline_days
            ),
        ),
        "consent": _strictest(
            candidates("consent"),
            key=lambda r: r.level,
            body=lambda r: {"level": r.level, "label": CONSENT_LEVELS[r.level]},
        ),
        "child_age": _strictest(
            candidates("child_age"), key=lambda r: r.age, body=lambda r: {"age": r.age}
        ),
        "cross_border": _strictest(
            candidates("cross_border"),
            key=lambda r: r.level,
            body=lambda r: {
                "mechanism": r.mechanism,
                "level": r.level,
                "label": CROSS_BORDER_LEVELS[r.level],
            },
        ),
    }
    for name in DEADLINE_RULES:
        if name != "erasure_deadline":
            parts[name] = _strictest(candidates(name), key=sooner, body=deadline_body)
    order = (
        "erasure_right",
        "erasure_deadline",
        "request_deadline",
        "access_deadline",
        "consent",
        "child_age",
        "cross_border",
        "breach_notification",
    )
    return {
        "markets": served,
        "subject_country": subject_country,
        "considered": considered,
        "without_data": [code for code in codes if code not in known],
        "received_at": received_at.isoformat(),
        "rules": {name: parts[name] for name in order},
    }


def _strictest(
    candidates: list[tuple[str, Rule]],
    *,
    key: Callable[[Rule], float | int | None],
    body: Callable[[Rule], dict[str, Any]],
    with_fallback: bool = True,
) -> dict[str, Any]:
    """The candidates whose `key` is highest (ties all listed), described by the first of them
    that is confirmed. When that rule is unconfirmed, `strictest_confirmed` gives the strictest
    confirmed alternative, so a reader can see what is settled."""
    ranked = [(key(rule), code, rule) for code, rule in candidates]
    valued = [(k, code, rule) for k, code, rule in ranked if k is not None]
    not_known = [code for k, code, rule in ranked if k is None and rule.unconfirmed]
    if not valued:
        return {
            "value": None,
            "from": [],
            "unconfirmed": bool(not_known),
            "summary": "No rule for this dimension in the jurisdictions considered.",
            "not_known_for": not_known,
            "rules": {},
        }
    best = max(k for k, _, _ in valued)
    tied = sorted(
        ((code, rule) for k, code, rule in valued if k == best),
        key=lambda pair: (pair[1].unconfirmed, pair[0]),
    )
    chosen = tied[0][1]
    part = {
        **body(chosen),
        "from": [code for code, _ in tied],
        "unconfirmed": all(rule.unconfirmed for _, rule in tied),
        "summary": chosen.summary,
        "not_known_for": not_known,
        "rules": {code: rule.as_dict() for code, rule in tied},
    }
    if part["unconfirmed"] and with_fallback:
        confirmed = [(code, rule) for code, rule in candidates if not rule.unconfirmed]
        alternative = _strictest(confirmed, key=key, body=body, with_fallback=False)
        part["strictest_confirmed"] = alternative if alternative["from"] else None
    return part


def _erasure_deadline(
    rights: list[tuple[str, Rule]],
    deadlines: list[tuple[str, Rule]],
    *,
    sooner: Callable[[Rule], float | None],
    body: Callable[[Rule], dict[str, Any]],
    received_at: datetime.datetime,
    policy_days: int,
) -> dict[str, Any]:
    with_right = {code for code, rule in rights if rule.value in _HAS_ERASURE_RIGHT}
    statutory = [(code, rule) for code, rule in deadlines if code in with_right]
    part = _strictest(statutory, key=sooner, body=body)
    # A country with an erasure right whose deadline is unknown is named, whatever applies.
    part["not_known_for"] = [code for code, rule in statutory if rule.deadline is None] + [
        code for code, rule in rights if rule.value == "unknown"
    ]
    if part["from"]:
        return {"basis": "statutory", **part}
    deadline = Deadline(amount=policy_days, unit="days")
    return {
        "basis": "policy",
        "deadline": deadline.as_dict(),
        "due_at": due_at(received_at=received_at, deadline=deadline).isoformat(),
        "from": "policy",
        "unconfirmed": False,
        "summary": (
            "No jurisdiction considered sets a statutory erasure deadline. The request is "
            "honoured under the operator's policy and consent withdrawal, within the deadline "
            f"the operator sets ({policy_days} days)."
        ),
        "not_known_for": part["not_known_for"],
        "rules": {},
    }
