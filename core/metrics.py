"""/metrics: Prometheus exposition of django-prometheus' HTTP and database metrics and of Lup's
own figures.

Lup's figures come from the functions `LUP_METRICS_SOURCES` names (core imports no app), each
returning metric families counted in the database when scraped. So every web process gives the
same answer, however many there are, and `SourcesCollector` reuses that answer for
`LUP_METRICS_CACHE_SECONDS`, so a burst of scrapes costs one round of queries per process.

django-prometheus' counters live in each process's memory. With several web processes (gunicorn
workers) set `PROMETHEUS_MULTIPROC_DIR` to a shared, emptied-at-start folder: the view then
merges every process's files (prometheus_client's multiprocess mode).

Access (README, Metrics): a bearer token (`LUP_METRICS_TOKEN`), an allow-list of client networks
(`LUP_METRICS_ALLOW_NETWORKS`), or both; with neither, nobody. Labels never hold personal data.
"""

import hashlib
import hmac
import ipaddress
import os
import threading
import time
from collections.abc import Callable

import structlog
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.module_loading import import_string
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = structlog.get_logger(__name__)


class SourcesCollector(Collector):
    """Collects the families of every source in `LUP_METRICS_SOURCES`, reusing the last answer
    for `LUP_METRICS_CACHE_SECONDS`.

    A source that raises (its database unreachable, say) is left out and reported as 0 in
    `lup_metrics_source_up`, so the rest of the page, HTTP metrics included, still answers.
    """

    # Class attribute, so tests can move the clock.
    clock: Callable[[], float] = staticmethod(time.monotonic)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._families: list[Metric] | None = None
        self._computed_at = 0.0

    def describe(self) -> list[Metric]:
        # Registering calls this instead of collect(), so it must not touch the database.
        return []

    def collect(self) -> list[Metric]:
        with self._lock:
            now = self.clock()
            stale = now - self._computed_at >= settings.LUP_METRICS_CACHE_SECONDS
            if self._families is None or stale:
                self._families = self._compute()
                self._computed_at = now
            return list(self._families)

    def clear(self) -> None:
        """Forget the cached answer: the next scrape counts again."""
        with self._lock:
            self._families = None

    def _compute(self) -> list[Metric]:
        up = GaugeMetricFamily(
            "lup_metrics_source_up",
            "1 if the source's figures were read at the last count, 0 if it failed (logged).",
            labels=["source"],
        )
        families: list[Metric] = []
        for dotted in settings.LUP_METRICS_SOURCES:
            source = dotted.split(".", 1)[0]  # the app: erasure, ledger
            try:
                families += import_string(dotted)()
            except Exception:
                log.warning("metrics.source_failed", source=source, exc_info=True)
                up.add_metric([source], 0)
            else:
                up.add_metric([source], 1)
        return [*families, up]


COLLECTOR = SourcesCollector()
# Registered once, when the URLconf first imports this module.
REGISTRY.register(COLLECTOR)


def metrics_registry() -> CollectorRegistry:
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        # Every process's counters from the shared folder, and Lup's figures once.
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        registry.register(COLLECTOR)
        return registry
    return REGISTRY


# --- access ---------------------------------------------------------------------------------


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def token_matches(request: HttpRequest, token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    # Digests compared in constant time: neither the token nor its length leaks through timing.
    return scheme.lower() == "bearer" and hmac.compare_digest(
        _digest(given.strip()), _digest(token)
    )


def address_allowed(address: str, networks: list[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(network, strict=False) for network in networks)


def scrape_refusal(request: HttpRequest) -> HttpResponse | None:
    """Why this scrape may not read the metrics, as a response; None when it may."""
    token = settings.LUP_METRICS_TOKEN
    networks = settings.LUP_METRICS_ALLOW_NETWORKS
    if not token and not networks:
        return HttpResponse(
            "Metrics are off: set LUP_METRICS_TOKEN or LUP_METRICS_ALLOW_NETWORKS.",
            status=403,
            content_type="text/plain",
        )
    if networks and not address_allowed(request.META.get("REMOTE_ADDR", ""), networks):
        return HttpResponse("Forbidden.", status=403, content_type="text/plain")
    if token and not token_matches(request, token):
        response = HttpResponse(
            "A bearer token is required.", status=401, content_type="text/plain"
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return None


@never_cache
@require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    """The Prometheus text exposition, to scrapers that pass `scrape_refusal`."""
    refusal = scrape_refusal(request)
    if refusal is not None:
        return refusal
    return HttpResponse(generate_latest(metrics_registry()), content_type=CONTENT_TYPE_LATEST)
