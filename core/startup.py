import structlog
from django.conf import settings

log = structlog.get_logger(__name__)


def announce_mode() -> None:
    """One clear line on which mode this process runs in."""
    if settings.EMBEDDED:
        log.warning(
            "lup.embedded_mode",
            detail="Embedded mode: SQLite and generated secrets in the data folder, tasks run "
            "in-process. Not for production; set DATABASE_URL and REDIS_URL for that.",
            data_dir=str(settings.DATA_DIR),
        )
    else:
        log.info("lup.service_mode", database=settings.DATABASES["default"]["ENGINE"])
