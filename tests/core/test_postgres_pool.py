"""PostgreSQL pool: connections are pinged only after being idle, and a lost one is replaced.

Defined only when ``TEST_DATABASE_URL`` names a PostgreSQL server (CI); SQLite has no server
connection to lose.
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text

from bridge.core import db as core_db
from tests.conftest import PG_URL, _pg_url, terminate_other_backends

if PG_URL:

    @pytest.fixture
    def counted_engine(pg_database, monkeypatch):
        monkeypatch.setattr(core_db, "IDLE_PING_SECONDS", 0.2)
        engine = core_db.make_engine(_pg_url(pg_database))
        pings: list[float] = []
        real_ping = engine.dialect.do_ping

        def counting_ping(dbapi_conn):
            pings.append(time.monotonic())
            return real_ping(dbapi_conn)

        monkeypatch.setattr(engine.dialect, "do_ping", counting_ping)
        yield engine, pings
        engine.dispose()

    def test_a_connection_used_a_moment_ago_is_not_pinged(counted_engine):
        engine, pings = counted_engine
        for _ in range(5):
            with engine.connect() as conn:
                assert conn.execute(text("SELECT 1")).scalar_one() == 1
        assert pings == []
        time.sleep(0.3)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        assert len(pings) == 1

    def test_an_idle_connection_the_server_dropped_is_replaced(counted_engine, pg_database):
        engine, pings = counted_engine
        with engine.connect() as conn:
            before = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        assert terminate_other_backends(_pg_url(pg_database)) >= 1
        time.sleep(0.3)
        with engine.connect() as conn:
            after = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        assert len(pings) == 1
        assert after != before

    def test_a_connection_lost_in_use_fails_once_then_is_replaced(counted_engine, pg_database):
        engine, pings = counted_engine
        raw = engine.raw_connection()
        terminate_other_backends(_pg_url(pg_database))
        cursor = raw.cursor()
        with pytest.raises(Exception, match="terminating connection"):
            cursor.execute("SELECT 1")  # a raw query: SQLAlchemy never sees its error
        raw.close()
        with engine.connect() as conn:  # at once: no idle time, no ping
            assert conn.execute(text("SELECT 1")).scalar_one() == 1
        assert pings == []
