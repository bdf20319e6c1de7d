from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from core.errors import ApplicationError, PayloadTooLarge


def storable(parsed: Any) -> bool:
    """PostgreSQL's text and jsonb hold neither NUL characters nor unpaired surrogates, both of
    which JSON's \\u escapes can spell; unpaired surrogates cannot be hashed as UTF-8 either."""
    pending = [parsed]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, str):
            if "\x00" in item:
                return False
            try:
                item.encode()
            except UnicodeEncodeError:
                return False
    return True


class LimitedJSONParser(JSONParser):
    """JSON bodies up to `LUP_MAX_JSON_BYTES`; bulk data goes to the streaming endpoints."""

    def parse(self, stream, media_type=None, parser_context=None):
        request = (parser_context or {}).get("request")
        limit = settings.LUP_MAX_JSON_BYTES
        length = request.META.get("CONTENT_LENGTH") if request is not None else None
        if length and length.isdigit() and int(length) > limit:
            raise PayloadTooLarge(f"JSON bodies are limited to {limit} bytes.")
        try:
            parsed = super().parse(stream, media_type, parser_context)
        except RecursionError:  # "[[[[…" nested past Python's limit is bad input, not a 500
            raise ParseError("JSON nested too deeply.") from None
        # Refused here, once, rather than by the database halfway through a write.
        if not storable(parsed):
            raise ApplicationError(
                "Strings may not hold NUL characters or unpaired surrogates.", code="invalid_json"
            )
        return parsed
