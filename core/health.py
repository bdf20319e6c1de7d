"""Probes for orchestrators: /healthz (the process answers), /readyz (its dependencies do)."""

import structlog
from celery import current_app as celery_app
from django.conf import settings
from django.db import connection
from django.http import JsonResponse

log = structlog.get_logger(__name__)


def healthz(request):
    return JsonResponse({"status": "ok"})


def _database_ready() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:
        log.warning("readyz.database_unreachable", exc_info=True)
        return False


def _broker_ready() -> bool:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return True  # embedded mode: tasks run in-process, there is no broker to reach
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return True
    except Exception:
        log.warning("readyz.broker_unreachable", exc_info=True)
        return False


def readyz(request):
    checks = {"database": _database_ready(), "broker": _broker_ready()}
    ready = all(checks.values())
    return JsonResponse(
        {"status": "ready" if ready else "unavailable", "checks": checks},
        status=200 if ready else 503,
    )
