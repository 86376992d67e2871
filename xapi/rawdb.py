"""Plain DB-API access for the record store's hot paths.

Authenticating a credential and reading a page of statements are single indexed queries; through
SQLAlchemy's connection and compilation layers they cost ten to thirty times what the database
does. These helpers run hand-written SQL (``?`` placeholders, rewritten for psycopg) on a pooled
raw connection. Writes keep going through the unit of work, whose transaction they share.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from contextvars import ContextVar
from typing import Any

import orjson
from sqlalchemy import Connection

from bridge.core.db import Database, replace_pool_if_lost

logger = logging.getLogger(__name__)


def sql(dialect: str, text: str) -> str:
    """``text`` with its ``?`` placeholders in the style of ``dialect``'s driver."""
    return text.replace("?", "%s") if dialect == "postgresql" else text


# The reads of one request share one pooled connection in autocommit: one checkout (and its
# liveness ping) per request instead of one per query, and no transaction to roll back.
_scope: ContextVar[dict[int, Any] | None] = ContextVar("xapi_raw_scope", default=None)


def begin_scope() -> None:
    """Start sharing read connections (called when a request starts)."""
    _scope.set({})


def end_scope() -> None:
    """Give the shared read connections back to the pool (called when a request ends)."""
    held = _scope.get()
    _scope.set(None)
    for raw in (held or {}).values():
        _release(raw)


def _checkout(db: Database) -> Any:
    raw = db.engine.raw_connection()
    if db.dialect == "postgresql":
        raw.driver_connection.autocommit = True
    return raw


def _release(raw: Any) -> None:
    try:
        driver = raw.driver_connection
        if getattr(driver, "autocommit", False) and hasattr(driver, "pgconn"):
            driver.autocommit = False  # the pool's next user expects a transaction
    finally:
        raw.close()


def fetch(
    db: Database, query: str, params: Sequence[Any] = (), *, custom_plan: bool = False
) -> list[tuple[Any, ...]]:
    """Run a read-only query and return every row (on the request's shared connection if any).

    ``custom_plan`` keeps PostgreSQL from reusing a generic plan for the query (psycopg
    prepares a query after five runs, and the server may then plan it once for any parameter
    values): each run is planned with its own values and their statistics.
    """
    options = {"prepare": False} if custom_plan and db.dialect == "postgresql" else {}
    statement, values = sql(db.dialect, query), tuple(params)
    for attempt in (1, 2):
        held = _scope.get()
        raw = held.get(id(db)) if held is not None else None
        if raw is None:
            raw = _checkout(db)
            if held is not None:
                held[id(db)] = raw
        try:
            cursor = raw.cursor()
            try:
                cursor.execute(statement, values, **options)
                return list(cursor.fetchall())
            finally:
                cursor.close()
        except Exception as error:
            # Pooled connections are pinged only after being idle (bridge.core.db): one the
            # server dropped a moment ago fails here. The read changed nothing: retry it once
            # on a fresh connection.
            if attempt == 2 or not replace_pool_if_lost(db.engine, error, raw.driver_connection):
                raise
            raw.invalidate(error)
            if held is not None:
                del held[id(db)]
                _release(raw)
        finally:
            if held is None:
                _release(raw)
    raise AssertionError("unreachable")


def fetch_in(conn: Connection, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Run a query on the transaction of ``conn`` and return every row."""
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql(conn.dialect.name, query), tuple(params))
        return list(cursor.fetchall())
    finally:
        cursor.close()


def as_utc(value: Any) -> dt.datetime:
    """A timestamp column as an aware UTC datetime (SQLite returns SQLAlchemy's text form)."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def as_bound(dialect: str, value: dt.datetime) -> Any:
    """A timestamp as a query parameter for ``dialect`` (SQLite compares SQLAlchemy's text form)."""
    value = value.astimezone(dt.UTC)
    if dialect == "postgresql":
        return value
    return value.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


def as_json(value: Any) -> Any:
    """A JSON column's value (text on SQLite, decoded already by psycopg)."""
    if isinstance(value, str | bytes):
        return orjson.loads(value)
    return value
