"""Background checkpoints of a SQLite file (``gxpbridge serve`` starts them in each worker)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from bridge.core.db import BACKSTOP_WAL_AUTOCHECKPOINT, DEFAULT_WAL_AUTOCHECKPOINT, Database


def _autocheckpoint(db: Database) -> int:
    with db.engine.connect() as conn:
        return conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one()


def test_the_background_thread_copies_the_log_into_the_file(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    db = Database(f"sqlite:///{path}")
    try:
        assert _autocheckpoint(db) == DEFAULT_WAL_AUTOCHECKPOINT
        assert db.start_background_checkpoints(interval=0.02)
        # Writers now leave the copying to the thread (up to the backstop).
        assert _autocheckpoint(db) == BACKSTOP_WAL_AUTOCHECKPOINT
        with db.engine.begin() as conn:
            conn.execute(text("CREATE TABLE filler (id INTEGER PRIMARY KEY, data BLOB)"))
        file_size = os.path.getsize(path)
        with db.engine.begin() as conn:
            # About 2 MB: far below the writers' backstop, so only the thread can copy it.
            conn.execute(
                text("INSERT INTO filler (data) VALUES (:data)"), [{"data": os.urandom(4000)}] * 500
            )
        deadline = time.monotonic() + 10
        while os.path.getsize(path) < file_size + 500 * 4000 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert os.path.getsize(path) >= file_size + 500 * 4000, "the log was not copied into the file"
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM filler")).scalar_one() == 500
    finally:
        db.dispose()


def test_only_sqlite_files_get_a_checkpointer(tmp_path: Path) -> None:
    memory = Database("sqlite://")
    assert memory.start_background_checkpoints() is False
    assert _autocheckpoint(memory) == DEFAULT_WAL_AUTOCHECKPOINT
    memory.dispose()


def test_the_whole_application_keeps_the_checkpoint_settings(tmp_path: Path) -> None:
    """No package's connection hook may override the interval the checkpointer relies on (the
    record store's once set it to 20,000 pages after the core, so the backstop never applied)."""
    import xapi
    from bridge.app import create_app

    app = create_app(testing=True, database_url=f"sqlite:///{tmp_path / 'app.sqlite3'}",
                     instance_path=tmp_path / "instance", secret_key="test-secret-key")
    db = app.extensions["gxpbridge.db"]
    try:
        assert _autocheckpoint(db) == DEFAULT_WAL_AUTOCHECKPOINT
        assert db.start_background_checkpoints()
        assert _autocheckpoint(db) == BACKSTOP_WAL_AUTOCHECKPOINT
        with db.engine.connect() as conn:  # the record store's own tuning still applies
            assert conn.exec_driver_sql("PRAGMA cache_size").scalar_one() == -xapi.SQLITE_CACHE_KIB
            assert conn.exec_driver_sql("PRAGMA mmap_size").scalar_one() == xapi.SQLITE_MMAP_BYTES
    finally:
        db.dispose()


def test_one_checkpointer_per_file(tmp_path: Path) -> None:
    """Every server process starts a checkpointer; only the one holding the file's lock runs."""
    import fcntl

    path = tmp_path / "shared.sqlite3"
    first, second = Database(f"sqlite:///{path}"), Database(f"sqlite:///{path}")
    try:
        assert first.start_background_checkpoints(interval=0.02)
        assert second.start_background_checkpoints(interval=0.02)
        lock_path = f"{path}.checkpointer-lock"
        deadline = time.monotonic() + 5
        while not os.path.exists(lock_path) and time.monotonic() < deadline:
            time.sleep(0.02)
        probe = os.open(lock_path, os.O_RDWR)
        try:
            with pytest.raises(BlockingIOError):  # held by one of the two threads
                fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(probe)
    finally:
        first.dispose()
        second.dispose()
