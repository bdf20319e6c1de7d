"""Gunicorn settings for Lup's web process: `gunicorn -c deploy/gunicorn.conf.py config.wsgi`.

Every value can be changed from the environment; the defaults suit one container with one to
two CPUs. The access log is one JSON object a line on stdout, like the application's own log.
"""

import gc
import json
import os
import sys
from pathlib import Path

from gunicorn.glogging import Logger


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


# PORT as in deploy/Procfile (honcho, foreman); containers keep 8000.
bind = [f"0.0.0.0:{_env_int('PORT', 8000)}"]

# Threads, not more processes: requests mostly wait on PostgreSQL and Redis, and the streaming
# endpoints (consent filter, membership uploads) hold a thread for their whole upload. With the
# gthread worker, a long request does not stop its process from reporting to the arbiter, so
# `timeout` only ends a process that is truly stuck.
worker_class = "gthread"
workers = _env_int("WEB_CONCURRENCY", 2)
threads = _env_int("GUNICORN_THREADS", 4)
timeout = _env_int("GUNICORN_TIMEOUT", 60)
# On SIGTERM (a rolling update, a scale-down) in-flight requests get this long to finish. The
# orchestrator's own grace period must be longer (k8s: terminationGracePeriodSeconds).
graceful_timeout = _env_int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = _env_int("GUNICORN_KEEPALIVE", 5)
# Recycle processes now and then so slow leaks never accumulate; the jitter keeps them from
# restarting all at once. A recycled worker's share of the requests waits on the others while it
# is replaced: at a few hundred requests a second a worker, 2,000 did that every few seconds.
max_requests = _env_int("GUNICORN_MAX_REQUESTS", 20000)
max_requests_jitter = max_requests // 10
# The application is loaded once, by the arbiter, and each worker is a fork of it: a worker
# recycled above starts at once, where importing Django and the project took about two seconds
# of CPU, every few seconds of a busy server. Not when tasks run in-process (no REDIS_URL): that
# mode's beat is a thread, and a thread started before a fork is not in the forked workers.
preload_app = bool(os.environ.get("REDIS_URL") or os.environ.get("REDIS_URL_FILE"))

# The heartbeat file of each worker process (nothing a request sends goes there): a tmpfs where
# there is one, so a read-only root filesystem is enough and a slow disk never makes a worker
# look dead.
_SHM = "/dev/shm"  # noqa: S108
worker_tmp_dir = _SHM if os.path.isdir(_SHM) else None

# Peers whose X-Forwarded-* headers gunicorn believes (for the scheme): the same proxies as
# Django's LUP_TRUSTED_PROXIES (CIDRs; empty: none), so the two never disagree about who may
# speak for a client. FORWARDED_ALLOW_IPS still overrides it, for gunicorn alone.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS") or os.environ.get(
    "LUP_TRUSTED_PROXIES", ""
)


# django-prometheus' counters live in each worker process. With PROMETHEUS_MULTIPROC_DIR set
# (README, Metrics) every process writes them to files there and /metrics merges them; the
# folder must start empty, or a restarted server would add its predecessor's counts.
def on_starting(server):
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        Path(directory).mkdir(parents=True, exist_ok=True)
        for stale in Path(directory).glob("*.db"):
            stale.unlink()


def when_ready(server):
    """In the arbiter, once the application is loaded and before any worker is forked."""
    if not server.cfg.preload_app:
        return
    from django.db import connections
    from django.urls import get_resolver

    # Every view, serializer and schema module, imported once for all workers rather than by
    # each worker's first request.
    get_resolver().url_patterns  # noqa: B018 (imports the URL configuration)
    # A connection opened while loading would be one socket shared by every worker.
    connections.close_all()
    # What is loaded now lives as long as the process: the collector leaves it alone, so the
    # workers neither scan it nor copy the pages its bookkeeping would write to.
    gc.freeze()


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()

# One JSON object a line. No query string (%(q)s), request line (%(r)s) or referer (%(f)s):
# query strings carry identifiers (`?id_type=email`, searches, `nodeId`), and so can a referer.
# No client address or user agent either: both are personal data and the proxy logs them if
# anyone must. The path is redacted and escaped by `AccessLogger` below.
access_log_format = (
    '{"event": "http.access", "method": "%(m)s", "path": "%(U)s", "status": "%(s)s", '
    '"bytes": "%(b)s", "duration_ms": "%(M)s", "request_id": "%({x-request-id}o)s"}'
)

# The path is redacted by the application's own scrubber (core/scrub.py), so the access log and
# Django's request log agree on what a path may show. This file is read before gunicorn puts the
# project on sys.path, so it puts it there itself.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from core.scrub import redact_path  # noqa: E402


def _json_text(value: object) -> str:
    """`value` escaped to sit between the quotes of the JSON format above: backslashes and
    control characters here, quotes by gunicorn itself (it escapes `"` in every atom)."""
    return json.dumps(str(value))[1:-1].replace('\\"', '"')


class AccessLogger(Logger):
    """Gunicorn's logger, with the request's path redacted and nothing of its query string.

    The atoms that could carry the query string or a full URL are blanked too, so a format
    changed later to use them still logs no identifier.
    """

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        path = _json_text(redact_path(environ.get("PATH_INFO") or "/"))
        method = _json_text(environ.get("REQUEST_METHOD", "-"))
        atoms.update(
            {
                "U": path,
                "m": method,
                "q": "",
                "r": f"{method} {path} {_json_text(environ.get('SERVER_PROTOCOL', '-'))}",
                "f": "-",
                "{raw_uri}e": "-",
                "{query_string}e": "-",
                "{http_referer}i": "-",
                "{referer}i": "-",
            }
        )
        return atoms


logger_class = AccessLogger
