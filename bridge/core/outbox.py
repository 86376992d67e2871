"""The outbox: messages that leave the process (AGS scores, e-mail, webhooks) are written
in the same transaction as the change that caused them, and sent after commit by the
relay that ``gxpbridge worker`` runs.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import Index, Integer, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column

from bridge.core.actor import SYSTEM
from bridge.core.clock import column_now
from bridge.core.db import Base, Database, JSONType, UTCDateTime
from bridge.core.uow import UnitOfWork

logger = logging.getLogger(__name__)

# A sender gets the relay's unit of work (its session, clock and settings) and the payload;
# it flushes what it changes and never commits: the relay commits the send and its mark together.
Sender = Callable[[UnitOfWork, dict[str, Any]], None]
_senders: dict[str, Sender] = {}


class PermanentFailure(Exception):
    """Raised by a sender when retrying cannot help (the message is dead-lettered)."""


class OutboxMessage(Base):
    """One message waiting to leave, or the record that it left."""

    __tablename__ = "outbox_message"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    topic: Mapped[str] = mapped_column(String(64), nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=column_now)
    available_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=column_now)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_outbox_message_due", "status", "available_at"),)


def register_sender(topic: str, sender: Sender) -> None:
    """Route messages of ``topic`` to ``sender(uow, payload)``."""
    _senders[topic] = sender


def enqueue(uow: UnitOfWork, topic: str, payload: dict[str, Any],
            available_at: dt.datetime | None = None) -> OutboxMessage:
    """Write a message into the outbox, in the caller's transaction."""
    message = OutboxMessage(topic=topic, payload=payload, available_at=available_at or uow.clock.now())
    uow.session.add(message)
    return message


def _backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(seconds=min(2 ** attempts * 5, 3600))


def relay_once(db: Database, *, batch: int = 50, max_attempts: int = 8) -> tuple[int, int]:
    """Send the due messages once. Returns ``(sent, failed)``.

    Each message is claimed, sent and marked in its own transaction; on PostgreSQL rows are
    claimed with ``FOR UPDATE SKIP LOCKED`` so several workers can run side by side.
    """
    sent = failed = 0
    while True:
        with UnitOfWork(db, SYSTEM) as uow:
            session = uow.session
            now = uow.clock.now()
            query = (
                select(OutboxMessage)
                .where(OutboxMessage.status == "pending", OutboxMessage.available_at <= now)
                .order_by(OutboxMessage.id)
                .limit(1)
            )
            if db.dialect == "postgresql":
                query = query.with_for_update(skip_locked=True)
            message = session.scalar(query)
            if message is None:
                return sent, failed
            sender = _senders.get(message.topic)
            message.attempts += 1
            try:
                if sender is None:
                    raise PermanentFailure(f"no sender registered for topic {message.topic!r}")
                with session.begin_nested():
                    sender(uow, dict(message.payload))
            except PermanentFailure as exc:
                message.status = "dead"
                message.last_error = str(exc)
                failed += 1
                logger.error("outbox message %s dead: %s", message.id, exc)
            except Exception as exc:
                message.last_error = f"{type(exc).__name__}: {exc}"
                if message.attempts >= max_attempts:
                    message.status = "dead"
                else:
                    message.available_at = now + _backoff(message.attempts)
                failed += 1
                logger.warning("outbox message %s attempt %d failed: %s", message.id,
                               message.attempts, exc)
            else:
                message.status = "sent"
                message.sent_at = uow.clock.now()
                message.last_error = None
                sent += 1
            uow.commit()
        if sent + failed >= batch:
            return sent, failed
