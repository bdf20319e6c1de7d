"""Request bodies sent without a length (`Transfer-Encoding: chunked`): read whole, or refused.

Django reads exactly `Content-Length` bytes of a body, so a chunked body, which has none, would
reach every view as empty: a consent filter that silently answers "nobody may be used", an
import of nothing. Where the server de-chunks the body and marks its end (gunicorn sets
`wsgi.input_terminated`), a body up to `LUP_MAX_JSON_BYTES` is read here and given a length;
a longer one, or one under a server that cannot mark the end (runserver, wsgiref), is refused
with 411 `length_required`, so the client sends it again with a Content-Length (the streaming
endpoints read large bodies as they come, which needs the length up front).
"""

import io

from django.conf import settings
from django.core.handlers.wsgi import LimitedStream
from django.http import HttpRequest, HttpResponse, JsonResponse

from core.errors import error_body

BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _length_required() -> JsonResponse:
    return JsonResponse(
        error_body(
            "length_required",
            "This request has a body but no Content-Length. Send it with a Content-Length "
            f"(bodies of at most {settings.LUP_MAX_JSON_BYTES} bytes may also be chunked).",
        ),
        status=411,
    )


class LengthRequiredMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        meta = request.META
        if (
            request.method in BODY_METHODS
            and meta.get("HTTP_TRANSFER_ENCODING")
            and not meta.get("CONTENT_LENGTH")
        ):
            if not meta.get("wsgi.input_terminated"):
                return _length_required()
            limit = settings.LUP_MAX_JSON_BYTES
            body = meta["wsgi.input"].read(limit + 1)
            if len(body) > limit:
                return _length_required()
            # Django fixed the stream's length (none: 0) when it built the request; give it the
            # body just read, as if it had come with its length.
            meta["CONTENT_LENGTH"] = str(len(body))
            request._stream = LimitedStream(io.BytesIO(body), len(body))
        return self.get_response(request)
