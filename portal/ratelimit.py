"""Fixed-window counters in Django's cache (Redis in production), for the forms that send or
check codes: so they cannot be used to flood someone's inbox, nor to guess codes.

Cache keys hold a SHA-256 of what is counted (a client address, a subject key), never the
thing itself."""

import hashlib

from django.core.cache import cache

from core import clientip

WINDOW_SECONDS = 3600


def allow(scope: str, what: str, *, limit: int, window: int = WINDOW_SECONDS) -> bool:
    """Count one more use of `scope` by `what`; False once `limit` uses are in the window."""
    digest = hashlib.sha256(f"{scope}\x00{what}".encode()).hexdigest()[:40]
    key = f"portal:rate:{digest}"
    if cache.add(key, 1, timeout=window):
        return limit >= 1
    try:
        return cache.incr(key) <= limit
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=window)
        return limit >= 1


def client_address(request) -> str:
    """The real client behind our proxies (LUP_TRUSTED_PROXIES), not the proxy."""
    return clientip.client_address(request)
