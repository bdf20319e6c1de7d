"""Receipt payloads: the field rules of format v1, checked before anything is signed.

A receipt attests actions and checks, never people: every field is a fixed vocabulary, an id,
a time, a count or a hash, and free text that could carry personal data is refused.
"""

import functools
import json
import re
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from core.scrub import EMAIL, PHONE, SUBJECT_KEY

VERSION = "lup-receipt/1"
TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")
COUNT = re.compile(r"^(0|[1-9][0-9]*)$")
COMMIT = re.compile(r"^[A-Za-z0-9+/]{43}=$")  # base64 of 32 bytes
SHA256 = re.compile(r"^sha256:[0-9a-f]{64}$")
COUNTRY = re.compile(r"^[A-Z]{2}$")
# Ids, keys and method names: no spaces, nothing an address or a sentence fits in.
TOKEN = re.compile(r"^[A-Za-z0-9._:/+-]{1,128}$")
# Names of systems and datasets may have spaces, but stay short.
LABEL = re.compile(r"^[\w .:/()+-]{1,128}$")

STATUS = {"given", "withdrawn", "refused"}
LEGAL_BASIS = {
    "consent",
    "contract",
    "legal_obligation",
    "vital_interests",
    "public_task",
    "legitimate_interests",
}
TARGET_OUTCOME = {"erased", "nothing_found", "held", "failed"}
REQUEST_OUTCOME = {"completed", "partially_completed", "denied"}
OPS = {"delete", "mask", "none"}
HISTORY_POLICY = {"purged", "retained"}


class ReceiptInvalid(ValueError):
    """A payload that breaks the format; `field` names where."""

    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@functools.lru_cache(maxsize=4096)  # a batch's times repeat (issued_at, the pass's times)
def _time(value: str) -> bool:
    if not TIME.match(value):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


RULES: dict[str, Any] = {
    "time": _time,
    "count": COUNT.match,
    "commit": COMMIT.match,
    "sha256": SHA256.match,
    "country": COUNTRY.match,
    "token": TOKEN.match,
    "label": LABEL.match,
    "uuid": lambda v: _uuid(v),
    "leaf": COMMIT.match,
}


def _uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


COMMON = {
    "v": {VERSION},
    "type": None,  # checked by the caller
    "receipt_id": "uuid",
    "issuer": "token",
    "issued_at": "time",
    "subject": {"commit": "commit"},
}
SCHEMAS: dict[str, dict[str, Any]] = {
    "consent": {
        **COMMON,
        "consent": {
            "purpose": "token",
            "status": STATUS,
            "legal_basis": LEGAL_BASIS,
            "jurisdiction": "country",
            # Absent when no notice was shown (a withdrawal, a contract basis).
            "notice?": {"id": "token", "version": "count", "digest": "sha256"},
            "method": "token",
            "event_time": "time",
        },
    },
    "erasure.target": {
        **COMMON,
        "request": {"id": "token"},
        "target": {"id": "token", "kind": "token", "name": "label", "location": "country"},
        "outcome": TARGET_OUTCOME,
        "action": {
            "op": OPS,
            "method": "token",
            "count": "count",
            "started_at": "time",
            "completed_at": "time",
        },
        "postcheck": {"method": "token", "remaining": "count", "at": "time"},
        "before?": "sha256",
        "after?": "sha256",
        "exception?": {"basis": "token", "until": "time"},
        # A target of many objects or files: how many were examined and rewritten, and the
        # digest of the manifest of the rewritten ones (delivered in the bundle, §2).
        "shards?": {"total": "count", "changed": "count", "manifest": "sha256"},
        # A store that keeps earlier versions: whether the post-check read them all (purged)
        # or only the current one (retained, until when).
        "history?": {
            "policy": HISTORY_POLICY,
            "versions_checked": "count",
            "retained_until?": "time",
        },
    },
    "erasure.request": {
        **COMMON,
        "request": {
            "id": "token",
            "received_at": "time",
            "verified_at": "time",
            "deadline": "time",
            "jurisdictions": ["country"],
        },
        "outcome": REQUEST_OUTCOME,
        "targets": [{"target_id": "token", "leaf": "leaf"}],
        "affected_models": [{"id": "token", "decision": "token"}],
    },
}


def validate(payload: dict[str, Any]) -> None:
    """Raise ReceiptInvalid unless `payload` follows format v1 for its type."""
    check = CHECKS.get(payload.get("type")) if isinstance(payload, dict) else None
    if check is None:
        raise ReceiptInvalid("type", "unknown receipt type")
    check(payload, "")
    if payload["type"] == "erasure.request":
        ids = [t["target_id"] for t in payload["targets"]]
        if ids != sorted(ids):
            raise ReceiptInvalid("targets", "must be sorted by target_id")


def canonical(payload: dict[str, Any]) -> bytes:
    """The JCS (RFC 8785) bytes of a payload `validate` accepted, without the general-purpose
    serializer's pure-Python walk. Such a payload holds only objects, lists and strings, and
    every key is one of the format's ASCII names, so JCS comes down to keys sorted, no
    whitespace and strings written as ECMAScript's JSON.stringify writes them: `"` and `\\`,
    \\b \\f \\n \\r \\t, other controls as lower-case \\u00xx, the rest as UTF-8. That is what
    `json.dumps` writes with these options; numbers, where the two differ, never occur (v1
    writes counts as strings). The tests hold it byte for byte to `rfc8785` on every type."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


# Checkers compiled once from the rules above: a burst of ten thousand receipts is validated
# without re-reading the rules for each one. A checker takes the value and the path of its
# parent ("action."), and raises ReceiptInvalid naming the field.
Checker = Callable[[Any, str], None]


@functools.lru_cache(maxsize=4096)
def _looks_personal(value: str) -> bool:
    """Whether a token or a label looks like an address, a phone number or a subject key.
    Cached: a batch repeats its issuer, kinds, methods and target names thousands of times."""
    return bool(EMAIL.search(value) or PHONE.search(value) or SUBJECT_KEY.search(value))


def _compile(rule: Any) -> Checker:
    if isinstance(rule, dict):
        return _object(rule)
    if isinstance(rule, list):
        return _list(_compile(rule[0]))
    return _string(rule)


def _object(rule: dict[str, Any]) -> Checker:
    fields = [
        (key.rstrip("?"), key.endswith("?"), None if sub is None else _compile(sub))
        for key, sub in rule.items()
    ]
    names = frozenset(name for name, _, _ in fields)

    def check(value: Any, path: str) -> None:
        if not isinstance(value, dict):
            raise ReceiptInvalid(path, "must be an object")
        if not names.issuperset(value):
            key = next(key for key in value if key not in names)
            raise ReceiptInvalid(f"{path}{key}", "is not a field of this receipt type")
        for name, optional, inner in fields:
            if name not in value:
                if not optional:
                    raise ReceiptInvalid(f"{path}{name}", "is required")
            elif inner is not None:
                inner(value[name], f"{path}{name}.")

    return check


def _list(item: Checker) -> Checker:
    def check(value: Any, path: str) -> None:
        if not isinstance(value, list):
            raise ReceiptInvalid(path.rstrip("."), "must be a list")
        for position, inner in enumerate(value):
            item(inner, f"{path}{position}.")

    return check


def _string(rule: str | set[str]) -> Checker:
    choices = rule if isinstance(rule, set) else None
    valid = None if choices is not None else RULES[rule]
    free = rule in ("token", "label")

    def check(value: Any, path: str) -> None:
        if not isinstance(value, str):
            # Numbers are decimal strings in v1: JCS number formatting is where verifiers differ.
            raise ReceiptInvalid(path.rstrip("."), "must be a string")
        if choices is not None:
            if value not in choices:
                raise ReceiptInvalid(path.rstrip("."), f"must be one of {sorted(choices)}")
            return
        if not valid(value):
            raise ReceiptInvalid(path.rstrip("."), f"is not a valid {rule}")
        if free and _looks_personal(value):
            raise ReceiptInvalid(path.rstrip("."), "looks like personal data")

    return check


CHECKS: dict[str, Checker] = {name: _compile(schema) for name, schema in SCHEMAS.items()}
