"""Receipt payloads: the field rules of format v1, checked before anything is signed.

A receipt attests actions and checks, never people: every field is a fixed vocabulary, an id,
a time, a count or a hash, and free text that could carry personal data is refused.
"""

import re
import uuid
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


class ReceiptInvalid(ValueError):
    """A payload that breaks the format; `field` names where."""

    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


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
    schema = SCHEMAS.get(payload.get("type")) if isinstance(payload, dict) else None
    if schema is None:
        raise ReceiptInvalid("type", "unknown receipt type")
    _check(payload, schema, "")
    if payload["type"] == "erasure.request":
        ids = [t["target_id"] for t in payload["targets"]]
        if ids != sorted(ids):
            raise ReceiptInvalid("targets", "must be sorted by target_id")


def _check(value: Any, rule: Any, path: str) -> None:
    if isinstance(rule, dict):
        if not isinstance(value, dict):
            raise ReceiptInvalid(path, "must be an object")
        allowed = {key.rstrip("?"): key.endswith("?") for key in rule}
        for key in value:
            if key not in allowed:
                raise ReceiptInvalid(f"{path}{key}", "is not a field of this receipt type")
        for key, optional in allowed.items():
            if key not in value:
                if not optional:
                    raise ReceiptInvalid(f"{path}{key}", "is required")
                continue
            sub = rule[key + "?" if optional else key]
            if sub is not None:
                _check(value[key], sub, f"{path}{key}.")
        return
    if isinstance(rule, list):
        if not isinstance(value, list):
            raise ReceiptInvalid(path.rstrip("."), "must be a list")
        for position, item in enumerate(value):
            _check(item, rule[0], f"{path}{position}.")
        return
    field = path.rstrip(".")
    if not isinstance(value, str):
        # Numbers are decimal strings in v1: JCS number formatting is where verifiers differ.
        raise ReceiptInvalid(field, "must be a string")
    if isinstance(rule, set):
        if value not in rule:
            raise ReceiptInvalid(field, f"must be one of {sorted(rule)}")
        return
    if not RULES[rule](value):
        raise ReceiptInvalid(field, f"is not a valid {rule}")
    if rule in ("token", "label") and (
        EMAIL.search(value) or PHONE.search(value) or SUBJECT_KEY.search(value)
    ):
        raise ReceiptInvalid(field, "looks like personal data")
