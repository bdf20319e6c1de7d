"""Databases added as Django aliases for one test only: a CRM or an app database on another
server, as a `sql_table` target names it by its `alias`."""

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.db import connections


def sqlite_database(path: Path) -> dict[str, Any]:
    """The settings of a SQLite file as an extra alias."""
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(path),
        "ATOMIC_REQUESTS": False,
        "AUTOCOMMIT": True,
        "CONN_MAX_AGE": 0,
        "CONN_HEALTH_CHECKS": False,
        "OPTIONS": {},
        "TIME_ZONE": None,
        "USER": "",
        "PASSWORD": "",
        "HOST": "",
        "PORT": "",
        "TEST": {},
    }


@contextlib.contextmanager
def extra_alias(name: str, database: dict[str, Any]) -> Iterator[str]:
    """`database` reachable as `connections[name]` until the block ends."""
    connections.settings[name] = database
    # Connected here: the test case refuses to open aliases it did not know when it started.
    connections[name].connect()
    try:
        yield name
    finally:
        connections[name].close()
        del connections[name]
        del connections.settings[name]
