"""Connections to a target database kept open between calls, one process's own.

A run opens a connection to erase and another to post-check, and a busy target sees one run
after another: connecting costs more than the statements (a new server process each time).
A connection that ended its call committed and idle is given back here and taken again by the
next call on the same DSN, for up to `MAX_IDLE_SECONDS`. A connection is used by one call at a
time (taken out while in use), never crosses a fork (a child process opens its own), and one
that failed is closed, not given back, so a retry starts on a new one.
"""

import os
import threading
import time

import psycopg
from psycopg.pq import TransactionStatus

# Longer idle than this, a connection is closed rather than reused: a target database is not
# held open by a quiet worker.
MAX_IDLE_SECONDS = 60.0

_lock = threading.Lock()
_idle: dict[str, list[tuple[psycopg.Connection, int, float]]] = {}


def take(dsn: str) -> psycopg.Connection | None:
    """An idle connection to `dsn` of this process, or None (connect anew)."""
    now = time.monotonic()
    with _lock:
        kept = _idle.get(dsn, [])
        while kept:
            conn, pid, since = kept.pop()
            if pid != os.getpid():
                continue  # the parent's: its socket is not this process's to use or close
            if now - since > MAX_IDLE_SECONDS or conn.closed:
                conn.close()
                continue
            return conn
    return None


def give_back(dsn: str, conn: psycopg.Connection) -> None:
    """Keep a connection whose call ended well, committed; close any other."""
    if conn.closed or conn.autocommit or conn.info.transaction_status != TransactionStatus.IDLE:
        conn.close()
        return
    with _lock:
        _idle.setdefault(dsn, []).append((conn, os.getpid(), time.monotonic()))


def close_all() -> None:
    """Close this process's idle connections (tests, shutdown)."""
    with _lock:
        kept = [entry for entries in _idle.values() for entry in entries]
        _idle.clear()
    for conn, pid, _ in kept:
        if pid == os.getpid():
            conn.close()
