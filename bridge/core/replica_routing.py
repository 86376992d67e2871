"""Which requests read from the read replica (``bridge.core.replica``), decided per request.

``bridge.core.web.in_unit_of_work`` asks :func:`may_serve` before opening a read-only unit of
work, calls :func:`remember_write` after a write commits, and the app names the answering
database in every response with :func:`read_source_headers`.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, g, request, session
from flask.sessions import NullSession

from bridge.core.db import Database
from bridge.core.settings import Settings

# The browser session's last write (a console session's cookie): its reads stay on the primary
# for the replica's allowed lag afterwards, so a user sees what they just did.
WROTE_AT_KEY = "gxp_wrote_at"


def may_serve(db: Database, config: Settings) -> bool:
    """Whether this request's read-only unit of work may read from the read replica.

    Only a GET or HEAD on one of the ``replica_paths`` (reports, inspection pages), while the
    replica answers and lags at most ``replica_max_lag_seconds``, and not within that many
    seconds of a write by the same console session (read-your-writes). Sign-in, the session and
    token checks, lockout and every write use the primary whatever this says.
    """
    if db.replica is None or request.method not in ("GET", "HEAD"):
        return False
    prefixes = tuple(p.strip() for p in config.replica_paths.split(",") if p.strip())
    if not prefixes or not request.path.startswith(prefixes):
        return False
    wrote_at = session.get(WROTE_AT_KEY) if not isinstance(session, NullSession) else None
    now = current_app.clock.now()  # type: ignore[attr-defined]
    if wrote_at is not None and now.timestamp() - float(wrote_at) < max(config.replica_max_lag_seconds, 1.0):
        return False
    status = db.replica.status()
    if not status.usable(db.replica.max_lag_seconds):
        return False
    g.gxp_consistent_through = db.replica.consistent_through(now, status)
    return True


def remember_write(db: Database) -> None:
    """Keep this console session's next reads on the primary (see :func:`may_serve`)."""
    # Bearer-token clients keep no cookie: they read the consistent-through header instead.
    if db.replica is None or isinstance(session, NullSession) or request.headers.get("Authorization"):
        return
    session[WROTE_AT_KEY] = current_app.clock.now().timestamp()  # type: ignore[attr-defined]


def read_source_headers(response: Any) -> Any:
    """Name the database that answered (and, for the replica, the moment its data holds)."""
    source = g.get("gxp_read_source")
    if source:
        response.headers["X-GxPBridge-Read-Source"] = source
        through = g.get("gxp_consistent_through") if source == "replica" else None
        if through is not None:
            response.headers["X-GxPBridge-Consistent-Through"] = through.isoformat(timespec="seconds")
    return response
