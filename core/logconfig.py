"""Structured JSON logs: one JSON object a line, with the request id, scrubbed of personal data."""

import logging
import logging.config
import sys

import structlog

from core.scrub import scrub_processor

# Lup's own packages: their loggers also write debug lines to the file sink, if there is one.
LUP_LOGGERS = (
    "access",
    "config",
    "connectors",
    "consent",
    "core",
    "erasure",
    "identity",
    "jurisdictions",
    "ledger",
    "lineage",
    "portal",
    "reports",
)

_configured = False


def logging_config(*, level: str, log_file: str | None, embedded: bool) -> None:
    global _configured
    if _configured:
        return
    _configured = True

    shared: list = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
    ]
    formatter = {
        "()": structlog.stdlib.ProcessorFormatter,
        "foreign_pre_chain": shared,
        "processors": [
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            scrub_processor,
            structlog.processors.JSONRenderer(ensure_ascii=False),
        ],
    }
    handlers: dict = {
        "stdout": {"class": "logging.StreamHandler", "stream": sys.stdout, "formatter": "json"}
    }
    if log_file:
        handlers["file"] = {
            "class": "logging.FileHandler",
            "filename": log_file,
            "formatter": "json",
            "level": "DEBUG",
        }
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"json": formatter},
            "handlers": handlers,
            "root": {"handlers": list(handlers), "level": level},
            "loggers": {
                # Our own loggers also write debug lines to the file sink, if there is one.
                **{app: {"level": "DEBUG" if log_file else level} for app in LUP_LOGGERS},
            },
        }
    )
    structlog.configure(
        processors=[
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
