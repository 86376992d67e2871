"""Scale-out on PostgreSQL (issue 20): two ``gxpbridge serve`` instances and two workers behind
nginx on one database. Statements posted through the proxy land once, console sessions work on
either instance, an outbox message is sent once, sweeps run once.
"""

from __future__ import annotations

from sqlalchemy import text

from bridge.core import jobs


def test_a_sweep_another_worker_is_running_is_skipped(db):
    ran: list[int] = []
    sweep = jobs.Sweep("test.sweep", lambda uow: ran.append(1) or len(ran), 60)
    if db.dialect != "postgresql":
        assert sweep.run(db) == 1  # SQLite: the write lock serialises sweeps
        return
    with db.engine.connect() as other:
        other.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": jobs.lock_key("test.sweep")})
        assert sweep.run(db) == jobs.SKIPPED and ran == []
        other.rollback()  # the other worker's transaction ends: its lock goes with it
    assert sweep.run(db) == 1 and ran == [1]
    assert jobs.lock_key("test.sweep") != jobs.lock_key("test.other")
