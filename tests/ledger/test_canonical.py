"""Receipts are signed over `receipts.canonical`, which must be JCS (RFC 8785) byte for byte:
outside verifiers recompute the bytes with their own JCS. Checked against `rfc8785` on payloads
of every receipt type generated from the format's own rules, Khmer and Thai names included, and
on the strings JSON escapes differently from one encoder to another."""

import json
from datetime import UTC, datetime

import rfc8785
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ledger import receipts
from ledger.receipts import SCHEMAS, ReceiptInvalid, canonical, validate
from ledger.services import receipts_issue, utc_time
from tests.ledger.factories import target_body

PATTERNS = {
    "count": receipts.COUNT,
    "commit": receipts.COMMIT,
    "leaf": receipts.COMMIT,
    "sha256": receipts.SHA256,
    "country": receipts.COUNTRY,
    "token": receipts.TOKEN,
    "label": receipts.LABEL,
}
TIMES = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
).map(utc_time)
# Names as operators write them: Latin, Khmer, Thai, Vietnamese, Chinese.
NAMES = st.text(
    alphabet=st.sampled_from("abc XYZ 019 .:/()+- \u1780\u17b6\u17d2\u0e01\u0e32\u1ea1\u6570"),
    min_size=1,
    max_size=40,
).filter(receipts.LABEL.fullmatch)


def strategy(rule, type_name: str):
    if isinstance(rule, dict):
        required, optional = {}, {}
        for key, sub in rule.items():
            inner = st.just(type_name) if sub is None else strategy(sub, type_name)
            if key.endswith("?"):
                optional[key[:-1]] = inner
            else:
                required[key] = inner
        return st.fixed_dictionaries(required, optional=optional)
    if isinstance(rule, list):
        return st.lists(strategy(rule[0], type_name), max_size=4)
    if isinstance(rule, set):
        return st.sampled_from(sorted(rule))
    if rule == "time":
        return TIMES
    if rule == "uuid":
        return st.uuids().map(str)
    if rule == "label":
        return st.one_of(NAMES, st.from_regex(PATTERNS[rule], fullmatch=True))
    return st.from_regex(PATTERNS[rule], fullmatch=True)


PAYLOADS = st.one_of(*(strategy(schema, name) for name, schema in SCHEMAS.items()))


@settings(max_examples=300, suppress_health_check=[HealthCheck.filter_too_much])
@given(PAYLOADS)
def test_the_fast_form_of_every_valid_receipt_is_its_jcs(payload):
    if payload["type"] == "erasure.request":
        payload["targets"].sort(key=lambda t: t["target_id"])
    try:
        validate(payload)
    except ReceiptInvalid:
        assume(False)
    assert canonical(payload) == rfc8785.dumps(payload)


@given(st.dictionaries(st.sampled_from(["a", "b", "op", "name"]), st.text(), max_size=4))
def test_strings_are_escaped_as_jcs_escapes_them(obj):
    """Control characters, quotes, backslashes, DEL, U+2028 and characters beyond the BMP: the
    encoder's options write each as JCS does (the format's values are a subset of these)."""
    assume(all(not 0xD800 <= ord(c) <= 0xDFFF for text in obj.values() for c in text))
    assert canonical(obj) == rfc8785.dumps(obj)


def test_a_receipt_issued_is_signed_over_its_jcs(db):
    target = {"id": "t7", "kind": "csv_file", "name": "eval set \u1780 \u0e01", "location": "KH"}
    (receipt,) = receipts_issue(bodies=[target_body(7, target=target)])
    signed = bytes(receipt.payload)
    assert signed == rfc8785.dumps(json.loads(signed))
    assert "\u1780".encode() in signed  # written as UTF-8, not escaped
