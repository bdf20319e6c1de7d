from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from config.errors import PayloadTooLarge


class LimitedJSONParser(JSONParser):
    """JSON bodies up to `LUP_MAX_JSON_BYTES`; bulk data goes to the streaming endpoints."""

    def parse(self, stream, media_type=None, parser_context=None):
        request = (parser_context or {}).get("request")
        limit = settings.LUP_MAX_JSON_BYTES
        length = request.META.get("CONTENT_LENGTH") if request is not None else None
        if length and length.isdigit() and int(length) > limit:
            raise PayloadTooLarge(f"JSON bodies are limited to {limit} bytes.")
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:  # "[[[[…" nested past Python's limit is bad input, not a 500
            raise ParseError("JSON nested too deeply.") from None
