"""One SQLite writer at a time, handed over without sleeping.

SQLite lets one transaction write at a time; a writer that finds the database locked waits in
SQLite's busy handler, which polls with sleeps of up to 100 ms. Under concurrent statement
batches from several server processes that polling, not the work, sets the pace. Writers of the
record store therefore queue on an exclusive ``flock`` beside the database file (and on a thread
lock inside the process): the kernel wakes the next writer the moment the previous one commits.
PostgreSQL needs none of this.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from bridge.core.db import Database

logger = logging.getLogger(__name__)

_thread_locks: dict[str, threading.Lock] = {}
_fds: dict[str, int] = {}
_registry_lock = threading.Lock()


def _lock_for(path: str) -> tuple[threading.Lock, int]:
    with _registry_lock:
        if path not in _thread_locks:
            _thread_locks[path] = threading.Lock()
            _fds[path] = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        return _thread_locks[path], _fds[path]


@contextmanager
def serialized_writes(db: Database) -> Iterator[None]:
    """Hold the writer lock of ``db`` (a no-op on PostgreSQL or in-memory SQLite)."""
    database = db.engine.url.database if db.dialect == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    thread_lock, fd = _lock_for(f"{database}.writer-lock")
    with thread_lock:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
