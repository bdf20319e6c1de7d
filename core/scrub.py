"""Remove personal data from log events before they are written.

Identifiers should never reach a log call in the first place; this is the net under that rule.
It masks e-mail addresses, phone-like digit runs, 64-hex subject keys, and every value logged
under a field name that names an identifier.
"""

import re
from typing import Any

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# "+" and 7 to 15 digits with separators (E.164 as people write it), or 9+ bare digits in a row.
PHONE = re.compile(r"\+\d(?:[\s().-]?\d){6,14}|(?<![\w.:-])\d{9,}(?![\w.:-])")
SUBJECT_KEY = re.compile(r"(?<![0-9a-fA-F])[0-9a-fA-F]{64}(?![0-9a-fA-F])")

SENSITIVE_FIELDS = frozenset(
    {
        "identifier",
        "identifiers",
        "value",
        "email",
        "phone",
        "subject_key",
        "national_id",
        "user_id",
        "device_id",
        "nonce",
        "token",
        "password",
        "otp",
        "code_value",
    }
)
MASK = "[scrubbed]"


def scrub_text(text: str) -> str:
    text = EMAIL.sub(MASK, text)
    text = SUBJECT_KEY.sub(MASK, text)
    return PHONE.sub(MASK, text)


def scrub_value(value: Any) -> Any:
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {
            key: MASK if key in SENSITIVE_FIELDS else scrub_value(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [scrub_value(item) for item in value]
    return value


def scrub_processor(logger: Any, method_name: str, event_dict: dict) -> dict:
    """structlog processor: the last step before rendering."""
    return scrub_value(event_dict)
