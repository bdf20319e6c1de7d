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
    HeldByStore,
    History,
    Located,
    NotSupported,
    Reported,
    TargetUnavailable,
    Verified,
)
from .csv_file import CsvFile
from .delta_table import DeltaLakeTable
from .django_cache import DjangoCache
from .hf_dataset import HfDataset
from .iceberg_table import IcebergTable
from .jsonl_file import JsonlFile
from .lance_table import LanceTable
from .manual import Manual
from .parquet_file import ParquetFile
from .postgres_table import PostgresTable
from .redis_store import RedisStore
from .s3_objects import S3Objects
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
    S3Objects.kind: S3Objects,
    DeltaLakeTable.kind: DeltaLakeTable,
    HfDataset.kind: HfDataset,
    LanceTable.kind: LanceTable,
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
    "DeltaLakeTable",
    "DjangoCache",
    "Erased",
    "Handover",
    "HeldByStore",
    "HfDataset",
    "History",
    "IcebergTable",
    "JsonlFile",
    "LanceTable",
    "Located",
    "Manual",
    "NotSupported",
    "ParquetFile",
    "PostgresTable",
    "RedisStore",
    "Reported",
    "S3Objects",
    "SqlTable",
    "SqliteTable",
    "TargetUnavailable",
    "TextLog",
    "Verified",
    "Webhook",
    "connector_for",
]
