"""Background checkpoints of a SQLite file (``gxpbridge serve`` starts them in each worker)."""

from __future__ import annotations

import os
import time
from pathlib import Path

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
