"""Normalization and subject keys: one person, written several ways, gets one key."""

import hashlib
import hmac

import pytest
from django.test import override_settings

from core import subject_keys as keys
from tests import identifiers


def test_email_is_trimmed_and_lower_cased_before_hashing():
    raw = identifiers.email()
    assert keys.key_for("email", f"  {raw.upper()} ") == keys.key_for("email", raw.lower())


def test_key_is_hmac_sha256_of_type_and_normalized_value():
    raw = identifiers.email()
    expected = hmac.new(
        b"p" * 40, f"email:{raw.strip().lower()}".encode(), hashlib.sha256
    ).hexdigest()
    assert keys.subject_key(keys.normalize("email", raw), pepper="p" * 40) == expected


def test_pepper_changes_every_key():
    identifier = keys.normalize("email", identifiers.email())
    assert keys.subject_key(identifier, pepper="a" * 40) != keys.subject_key(
        identifier, pepper="b" * 40
    )


@pytest.mark.parametrize(
    ("written", "region"),
    [
        ("+855 12 345 678", None),
        ("+85512345678", None),
        ("012 345 678", "KH"),
        ("(012) 345-678", "KH"),
        ("០១២ ៣៤៥ ៦៧៨", "KH"),  # Khmer digits, as typed on a Khmer keyboard
    ],
)
def test_cambodian_numbers_normalize_to_e164(written, region):
    identifiers.USED.add(written)
    assert keys.normalize("phone", written, default_region=region).normalized == "+85512345678"


@pytest.mark.parametrize(
    ("written", "region"),
    [("+84 912 345 678", None), ("0912 345 678", "VN"), ("+84-91-234-5678", None)],
)
def test_vietnamese_numbers_normalize_to_e164(written, region):
    identifiers.USED.add(written)
    assert keys.normalize("phone", written, default_region=region).normalized.startswith("+849")


def test_same_number_in_two_spellings_has_one_key():
    with override_settings(LUP_PHONE_DEFAULT_REGION="KH"):
        assert keys.key_for("phone", "012 345 678") == keys.key_for("phone", "+855 12 345 678")


def test_national_number_without_region_is_refused_rather_than_guessed():
    with (
        override_settings(LUP_PHONE_DEFAULT_REGION=None),
        pytest.raises(keys.InvalidIdentifier) as err,
    ):
        keys.normalize("phone", "012 345 678")
    assert err.value.code == "invalid_phone"


@pytest.mark.parametrize(
    ("id_type", "value", "code"),
    [
        ("email", "not-an-address", "invalid_email"),
        ("phone", "+855 1", "invalid_phone"),
        ("phone", "call me", "invalid_phone"),
        ("Email", "a@b.org", "invalid_id_type"),
        ("user id", "x", "invalid_id_type"),
        ("user_id", "   ", "invalid_identifier"),
        ("user_id", "a\x00b", "invalid_identifier"),
        ("user_id", "x" * 400, "invalid_identifier"),
    ],
)
def test_malformed_identifiers_are_refused_with_a_code(id_type, value, code):
    with pytest.raises(keys.InvalidIdentifier) as err:
        keys.normalize(id_type, value)
    assert err.value.code == code
    assert value.strip() not in err.value.detail or not value.strip()


def test_other_identifier_types_are_only_trimmed():
    raw = identifiers.user_id()
    assert keys.normalize("user_id", f" {raw}\t").normalized == raw
    assert keys.normalize("device_id", "AbC").normalized == "AbC"


def test_subject_key_format_is_checked():
    assert keys.validate_subject_key("a" * 64)
    for bad in ("A" * 64, "a" * 63, "g" * 64, 5):
        with pytest.raises(keys.InvalidIdentifier):
            keys.validate_subject_key(bad)
