"""Console sessions kept server-side: revocable at once, ended after an idle and an absolute
timeout (Part 11 §11.10(d), §11.300).

The signed cookie only carries a random token; the ``console_session`` row (keyed by the
token's SHA-256) says whose session it is, when it began, when it was last used and whether it
was revoked. Sign-out revokes the row, so a copy of the cookie is worthless afterwards. Times
come from the app's clock, so tests move the clock past a timeout instead of sleeping.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import ForeignKey, Index, String, delete, or_, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from bridge.core.db import Base, UTCDateTime

# Seen-at is written at most this often per session (a write per request would serialise every
# console request on SQLite's write lock); the idle timeout is exact to within this.
TOUCH_EVERY = dt.timedelta(seconds=60)


class ConsoleSession(Base):
    """One signed-in console session. Only a hash of the cookie's token is stored."""

    __tablename__ = "console_session"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), nullable=False
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_reason: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (Index("ix_console_session_user", "user_id"),)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start(session: Session, user_id: int, now: dt.datetime) -> str:
    """Open a session for ``user_id``; returns the token to put in the cookie."""
    token = secrets.token_urlsafe(32)
    session.add(ConsoleSession(id=_digest(token), user_id=user_id, created_at=now, last_seen_at=now))
    return token


def live(session: Session, token: str, now: dt.datetime, *, idle: dt.timedelta,
         absolute: dt.timedelta) -> ConsoleSession | None:
    """The session of ``token`` if it is neither revoked nor past a timeout at ``now``."""
    if not token or not isinstance(token, str):
        return None
    row = session.get(ConsoleSession, _digest(token))
    if row is None or row.revoked_at is not None:
        return None
    if now - row.last_seen_at > idle or now - row.created_at > absolute:
        return None
    return row


def needs_touch(row: ConsoleSession, now: dt.datetime) -> bool:
    """Whether the session's last use should be written now."""
    return now - row.last_seen_at >= TOUCH_EVERY


def touch(session: Session, session_id: str, now: dt.datetime) -> None:
    """Record that session ``session_id`` was used at ``now``."""
    session.execute(
        update(ConsoleSession)
        .where(ConsoleSession.id == session_id, ConsoleSession.revoked_at.is_(None))
        .values(last_seen_at=now)
    )


def revoke(session: Session, token: str, now: dt.datetime, reason: str = "signed out") -> None:
    """End the session of ``token`` at once."""
    session.execute(
        update(ConsoleSession)
        .where(ConsoleSession.id == _digest(token), ConsoleSession.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason)
    )


def revoke_all(session: Session, user_id: int, now: dt.datetime, reason: str) -> None:
    """End every session of ``user_id`` (a lock, a deactivation, a password change)."""
    session.execute(
        update(ConsoleSession)
        .where(ConsoleSession.user_id == user_id, ConsoleSession.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason)
    )


def purge(session: Session, now: dt.datetime, *, idle: dt.timedelta, absolute: dt.timedelta,
          keep: dt.timedelta = dt.timedelta(days=1)) -> int:
    """Delete sessions that ended more than ``keep`` ago; returns how many."""
    result = session.execute(
        delete(ConsoleSession).where(or_(
            ConsoleSession.revoked_at < now - keep,
            ConsoleSession.last_seen_at < now - idle - keep,
            ConsoleSession.created_at < now - absolute - keep,
        ))
    )
    return int(result.rowcount or 0)


def active_count(session: Session, user_id: int) -> int:
    """Sessions of ``user_id`` not revoked (some may have timed out)."""
    rows = session.scalars(select(ConsoleSession.id).where(
        ConsoleSession.user_id == user_id, ConsoleSession.revoked_at.is_(None)))
    return len(list(rows))
