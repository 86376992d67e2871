"""Reads from a PostgreSQL read replica (hot standby), for the requests that tolerate lag.

A :class:`Replica` holds the standby's engine and knows, at most ``check_seconds`` old, whether
the standby answers and how far behind the primary it is. Which requests may read from it is
decided by the web layer (``bridge.core.web``): only read-only units of work of GET requests on
the configured paths (reports, inspection pages), never the sign-in and lockout checks, never
a read inside a write unit of work, and not for a browser session that wrote a moment ago.

Every connection to the replica runs with ``default_transaction_read_only``: a read-only unit
of work that tried to write would fail there exactly as it fails on a hot standby.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
import time
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.orm import sessionmaker

from bridge.core.db import make_engine

logger = logging.getLogger(__name__)

# The standby's state in one round trip. On a standby that has replayed everything it received
# the data is current up to the moment the last WAL arrived ("now" as far as it knows); while it
# is replaying, its data is as of the last transaction it replayed. A server that is not in
# recovery (a stand-in database, or a promoted standby) is current by definition.
STATUS_SQL = text(
    "SELECT pg_is_in_recovery(), "
    "CASE WHEN NOT pg_is_in_recovery() THEN 0.0 "
    "     WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0.0 "
    "     ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) END"
)


@dataclasses.dataclass(frozen=True)
class ReplicaStatus:
    """What the last check of the replica found."""

    reachable: bool
    in_recovery: bool = False
    lag_seconds: float | None = None
    error: str | None = None

    def usable(self, max_lag_seconds: float) -> bool:
        """Whether reads may go to the replica: it answers and lags at most ``max_lag_seconds``."""
        return self.reachable and self.lag_seconds is not None and self.lag_seconds <= max_lag_seconds

    def as_dict(self, max_lag_seconds: float) -> dict[str, Any]:
        """The status as ``/healthz`` shows it."""
        body: dict[str, Any] = {"configured": True, "reachable": self.reachable,
                                "in_use": self.usable(max_lag_seconds),
                                "max_lag_seconds": max_lag_seconds}
        if self.reachable:
            body["standby"] = self.in_recovery
            body["lag_seconds"] = self.lag_seconds
        if self.error:
            body["message"] = self.error
        return body


class Replica:
    """The read replica of one application's database."""

    def __init__(self, url: str, *, max_lag_seconds: float, check_seconds: float = 1.0,
                 session_info: dict[str, Any] | None = None) -> None:
        """Open (lazily) the replica at ``url``; ``session_info`` goes into every session's info."""
        if not url.startswith("postgresql"):
            raise ValueError("a read replica is a PostgreSQL standby: the replica URL must be "
                             "postgresql://…")
        self.url = url
        self.max_lag_seconds = max_lag_seconds
        self.check_seconds = check_seconds
        # Read-only at the server, and a short connect timeout: an unreachable replica must not
        # hold requests up (they fall back to the primary).
        self.engine: Engine = make_engine(url, connect_args={
            "connect_timeout": 3, "options": "-c default_transaction_read_only=on"})
        self.sessions = sessionmaker(self.engine.execution_options(gxp_readonly=True),
                                     expire_on_commit=False, info=dict(session_info or {}))
        self._lock = threading.Lock()
        self._status: ReplicaStatus | None = None
        self._checked = 0.0

    def status(self, *, fresh: bool = False) -> ReplicaStatus:
        """The replica's status, checked again once the last check is ``check_seconds`` old.

        An unreachable replica is checked again only after five times that, so requests do not
        each wait for a connection that will not come.
        """
        with self._lock:
            status, age = self._status, time.monotonic() - self._checked
            if not fresh and status is not None:
                wait = self.check_seconds * (1 if status.reachable else 5)
                if age < wait:
                    return status
            status = self._check()
            self._status, self._checked = status, time.monotonic()
            return status

    def mark_lost(self, error: BaseException) -> None:
        """Record that a read on the replica lost its connection: the primary serves for now."""
        logger.error("read replica connection lost: %s", error)
        with self._lock:
            self._status = ReplicaStatus(reachable=False, error=str(error).splitlines()[0])
            self._checked = time.monotonic()
        self.engine.dispose()

    def _check(self) -> ReplicaStatus:
        try:
            with self.engine.connect() as conn:
                in_recovery, lag = conn.execute(STATUS_SQL).one()
        except Exception as exc:  # any failure means "do not read from it"
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            if self._status is None or self._status.reachable:
                logger.error("read replica unreachable, reads go to the primary: %s", message)
            return ReplicaStatus(reachable=False, error=message)
        lag_seconds = max(0.0, float(lag)) if lag is not None else None
        status = ReplicaStatus(reachable=True, in_recovery=bool(in_recovery), lag_seconds=lag_seconds)
        if not status.usable(self.max_lag_seconds):
            logger.warning("read replica lags %s s (at most %s s allowed): reads go to the primary",
                           lag_seconds, self.max_lag_seconds)
        return status

    def consistent_through(self, now: dt.datetime, status: ReplicaStatus) -> dt.datetime:
        """The moment up to which the replica's answer holds every commit (``now`` minus its lag)."""
        return now - dt.timedelta(seconds=status.lag_seconds or 0.0)

    def dispose(self) -> None:
        """Close every pooled connection to the replica."""
        self.engine.dispose()
