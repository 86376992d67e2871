"""Database engine, declarative base and column types shared by every package."""

from __future__ import annotations

import datetime as dt
import fcntl
import logging
import os
import sqlite3
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, DateTime, Engine, MetaData, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import DeclarativeBase, sessionmaker
from sqlalchemy.types import TypeDecorator

from bridge.core.clock import SYSTEM_CLOCK, Clock
from bridge.core.settings import Settings

if TYPE_CHECKING:
    from bridge.core.replica import Replica

logger = logging.getLogger(__name__)

# Named constraints so Alembic migrations are deterministic on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every model in GxP Bridge."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> dt.datetime:
    """Return the server's current time, timezone-aware in UTC."""
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp stored in UTC and always returned timezone-aware.

    SQLite keeps no zone, PostgreSQL keeps ``timestamptz``; both come back as aware UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        """Refuse naive times; store UTC (naive on SQLite)."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are refused: times must be timezone-aware")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        """Return an aware UTC time."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


# JSON everywhere, JSONB on PostgreSQL.
JSONType = JSON().with_variant(postgresql.JSONB(), "postgresql")


# Without a background checkpointer, a committing writer copies the WAL into the database once
# it holds this many pages (about 80 MB; SQLite's own default is 1,000, 4 MB): a page that many
# batches rewrite is copied back once per checkpoint, not once per batch.
DEFAULT_WAL_AUTOCHECKPOINT = 20000
# With a background checkpointer, writers only copy the WAL themselves past this size (256 MB).
# Under steady writes the thread's passive copies never let the log restart, so the writer that
# crosses this line copies the rest and syncs the log and the database while it holds the write
# lock (0.3-0.6 s at 1,000,000 statements); a larger backstop makes that rarer: 2,600-2,700
# against 2,300-2,480 statements/s over HTTP at 1M with the 80 MB above.
BACKSTOP_WAL_AUTOCHECKPOINT = 65536
# Per SQLite engine: settings its new connections read.
_sqlite_settings: weakref.WeakKeyDictionary[Engine, dict[str, int]] = weakref.WeakKeyDictionary()


def _configure_sqlite(engine: Engine, settings: dict[str, int]) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself so we can choose IMMEDIATE for writers.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute(f"PRAGMA wal_autocheckpoint={int(settings['wal_autocheckpoint'])}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers take the write lock up front: a deferred transaction that read first
        # would fail with SQLITE_BUSY_SNAPSHOT when another writer committed meanwhile.
        mode = "DEFERRED" if conn.get_execution_options().get("gxp_readonly") else "IMMEDIATE"
        # On the driver itself: every write request begins here, and SQLAlchemy's result
        # machinery around exec_driver_sql cost more than the statement.
        conn.connection.dbapi_connection.execute(f"BEGIN {mode}")


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create the engine for ``url`` with the settings each backend needs.

    Args:
        url: SQLAlchemy database URL (``sqlite:///…`` or ``postgresql+psycopg://…``).
        **kwargs: Extra keyword arguments passed to :func:`sqlalchemy.create_engine`.

    Returns:
        The configured engine.
    """
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
        engine = create_engine(url, **kwargs)
        # Read by each new connection; Database.start_background_checkpoints raises it.
        _sqlite_settings[engine] = {"wal_autocheckpoint": DEFAULT_WAL_AUTOCHECKPOINT}
        _configure_sqlite(engine, _sqlite_settings[engine])
    else:
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 20)
        engine = create_engine(url, **kwargs)
        if not kwargs.get("pool_pre_ping"):
            _ping_when_idle(engine, IDLE_PING_SECONDS)
    return engine


# SQLSTATE classes and codes of a server connection that is gone: connection exceptions and
# the server shutting down (administrator, crash) or not yet accepting connections.
_LOST_SQLSTATES = ("08", "57P01", "57P02", "57P03")


def is_lost_connection(error: BaseException) -> bool:
    """Whether ``error`` says the database connection is gone (not that a query was wrong)."""
    if isinstance(error, sa_exc.DBAPIError):
        if error.connection_invalidated:
            return True
        error = error.orig
    if isinstance(error, sqlite3.Error):
        return False  # a file, not a connection
    sqlstate = getattr(error, "sqlstate", None)
    if sqlstate:
        return sqlstate.startswith(_LOST_SQLSTATES)
    # psycopg raises OperationalError without SQLSTATE when the socket closed under it.
    return type(error).__name__ == "OperationalError"


def replace_pool_if_lost(engine: Engine, error: BaseException, dbapi_conn: Any) -> bool:
    """Whether ``error``, raised by a driver call SQLAlchemy did not make, means the server
    connection is gone; if so, every pooled connection is replaced (as SQLAlchemy does for the
    errors it sees), so the caller can retry on a fresh one.
    """
    dbapi = engine.dialect.loaded_dbapi
    if not isinstance(error, dbapi.Error) or not engine.dialect.is_disconnect(error, dbapi_conn, None):
        return False
    logger.warning("database connection lost (%s): replacing the pooled connections", error)
    engine.dispose()
    return True


# A pooled PostgreSQL connection unused for this long is pinged before it is handed out.
IDLE_PING_SECONDS = 1.0


def _ping_when_idle(engine: Engine, idle: float) -> None:
    """Check a pooled connection with a ping only when it has been idle ``idle`` seconds.

    SQLAlchemy's ``pool_pre_ping`` pings at every checkout: two of the seven round trips of a
    single-statement POST. A connection used a moment ago is as alive as the ping would say;
    one left idle (when a server restart or a dropped socket goes unnoticed) is checked. A
    failed ping replaces every pooled connection, as ``pool_pre_ping`` does. A connection lost
    while in use is reported by SQLAlchemy (which then replaces the pool) or, for the record
    store's raw reads, by :func:`replace_pool_if_lost`.
    """

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_conn: Any, record: Any) -> None:
        record.info["gxp_checked_in"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        checked_in = record.info.get("gxp_checked_in")
        if checked_in is None or time.monotonic() - checked_in < idle:
            return  # new, or in use a moment ago
        try:
            engine.dialect.do_ping(dbapi_conn)
        except engine.dialect.loaded_dbapi.Error as error:
            if engine.dialect.is_disconnect(error, dbapi_conn, None):
                raise sa_exc.InvalidatePoolError(f"pooled connection lost: {error}") from error
            raise


class Database:
    """The engine and session factories of one application."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        """Open (lazily) the database at ``url``, with the system clock and default settings."""
        self.url = url
        # What every unit of work on this database inherits; the app sets them (configure).
        self.clock: Clock = SYSTEM_CLOCK
        self.settings: Settings = Settings.model_construct()
        self.policies: dict[type, Any] = {}
        self.engine = make_engine(url, **engine_kwargs)
        # Each session knows its database (the audit trail finds its key through it).
        self.write_sessions = sessionmaker(self.engine, expire_on_commit=False, info={"gxp_db": self})
        self.read_sessions = sessionmaker(
            self.engine.execution_options(gxp_readonly=True), expire_on_commit=False,
            info={"gxp_db": self},
        )
        # The read replica, when the site has one (bridge.core.web sets it from the settings):
        # only units of work opened with ``replica=True`` read from it.
        self.replica: Replica | None = None

    def configure(self, *, clock: Clock | None = None, settings: Settings | None = None,
                  policies: dict[type, Any] | None = None) -> None:
        """Give every unit of work on this database the app's clock, settings and policies."""
        if clock is not None:
            self.clock = clock
        if settings is not None:
            self.settings = settings
        if policies is not None:
            self.policies = policies

    @property
    def dialect(self) -> str:
        """The backend's name: ``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    def dispose(self) -> None:
        """Close every pooled connection (the replica's too)."""
        self.engine.dispose()
        if self.replica is not None:
            self.replica.dispose()

    def start_background_checkpoints(self, interval: float = 0.05) -> bool:
        """Copy the SQLite write-ahead log into the database file from a background thread.

        By default the writer whose commit takes the WAL past 20,000 pages copies it (and fsyncs
        the file) before it returns, while it still holds the record store's writer lock, so
        every other writer waits for that copy. A server process calls this once: a daemon
        thread then runs passive checkpoints, which never block writers, and writers copy the
        log themselves only past 256 MB. Returns False (and does nothing) unless the database is
        a SQLite file.
        """
        database = self.engine.url.database if self.dialect == "sqlite" else None
        if not database or database == ":memory:":
            return False
        _sqlite_settings[self.engine]["wal_autocheckpoint"] = BACKSTOP_WAL_AUTOCHECKPOINT
        self.engine.dispose()  # pooled connections were opened with the default
        thread = threading.Thread(
            target=_checkpoint_loop, args=(database, interval), name="sqlite-checkpointer", daemon=True
        )
        thread.start()
        return True


def _checkpoint_loop(path: str, interval: float) -> None:
    """Run passive checkpoints of the SQLite file at ``path``: every ``interval`` seconds while
    a copy is incomplete, backing off to once a second after each complete one.
    """
    # One checkpointer per file: every server process starts one, the first takes this lock and
    # the others wait on it, taking over should that process end.
    lock_fd = os.open(f"{path}.checkpointer-lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(lock_fd, fcntl.LOCK_EX)
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    idle = interval
    while True:
        time.sleep(idle)
        try:
            # (busy, frames in the log, frames copied); a passive checkpoint waits for nobody.
            _busy, log_frames, copied = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as exc:
            logger.warning("background checkpoint of %s failed: %s", path, exc)
            idle = min(idle * 2, 5.0)
            continue
        # After a complete copy the next one waits twice as long (up to a second), also while
        # writes go on: fewer, larger copies write each hot page once (bench/lrs.py, 300,000
        # statements: 5,893/s, against 5,317/s when copying every 50 ms during writes).
        idle = interval if log_frames > 0 and copied < log_frames else min(idle * 2, 1.0)
