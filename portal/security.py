"""Response headers of the subject pages: a strict Content-Security-Policy (everything from
this origin, no inline script or style, no framing), no referrer leaking the unguessable
status address to another site (same-origin only: with no referrer at all, browsers send
`Origin: null` on form posts and the CSRF check rightly refuses them), and no caching of pages
that show a subject's state."""

from collections.abc import Callable
from functools import wraps

from django.http import HttpRequest, HttpResponse
from django.utils.cache import add_never_cache_headers

POLICY = "; ".join(
    [
        "default-src 'none'",
        "style-src 'self'",
        "font-src 'self'",
        "img-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)


def subject_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = view(request, *args, **kwargs)
        response["Content-Security-Policy"] = POLICY
        response["Referrer-Policy"] = "same-origin"
        response["X-Content-Type-Options"] = "nosniff"
        add_never_cache_headers(response)
        return response

    return wrapped
