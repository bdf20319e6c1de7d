"""Connectors: one module per target kind, and the one table that maps kinds to classes.

A new kind is a module with a `Connector` subclass, added to `CONNECTORS` below.
"""

from typing import Any

from core.errors import ApplicationError

from .base import (
    Awaiting,
    Capability,
    Connector,
    ConnectorConfigError,
    ConnectorTimeout,
    Erased,
    Handover,
    History,
    Located,
    NotSupported,
    Reported,
    TargetUnavailable,
    Verified,
)
from .csv_file import CsvFile
from .django_cache import DjangoCache
from .iceberg_table import IcebergTable
from .jsonl_file import JsonlFile
from .manual import Manual
from .parquet_file import ParquetFile
from .postgres_table import PostgresTable
from .redis_store import RedisStore
from .sql_table import SqlTable
from .sqlite_table import SqliteTable
from .text_log import TextLog
from .webhook import Webhook

CONNECTORS: dict[str, type[Connector]] = {
    PostgresTable.kind: PostgresTable,
    SqliteTable.kind: SqliteTable,
    JsonlFile.kind: JsonlFile,
    DjangoCache.kind: DjangoCache,
    SqlTable.kind: SqlTable,
    Manual.kind: Manual,
    Webhook.kind: Webhook,
    TextLog.kind: TextLog,
    RedisStore.kind: RedisStore,
    CsvFile.kind: CsvFile,
    ParquetFile.kind: ParquetFile,
    IcebergTable.kind: IcebergTable,
}


def connector_for(kind: str, config: dict[str, Any]) -> Connector:
    """The connector for a target, its config validated."""
    try:
        cls = CONNECTORS[kind]
    except (KeyError, TypeError):
        raise ApplicationError(
            f"Unknown connector kind {kind!r}: add its class to CONNECTORS in "
            "connectors/__init__.py.",
            fields={"kind": "unknown"},
            code="unknown_connector_kind",
        ) from None
    return cls(config=config)


__all__ = [
    "CONNECTORS",
    "Awaiting",
    "Capability",
    "Connector",
    "ConnectorConfigError",
    "ConnectorTimeout",
    "CsvFile",
    "DjangoCache",
    "Erased",
    "Handover",
    "History",
    "IcebergTable",
    "JsonlFile",
    "Located",
    "Manual",
    "NotSupported",
    "ParquetFile",
    "PostgresTable",
    "RedisStore",
    "Reported",
    "SqlTable",
    "SqliteTable",
    "TargetUnavailable",
    "TextLog",
    "Verified",
    "Webhook",
    "connector_for",
]
