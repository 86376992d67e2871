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
# Messages claimed per claiming transaction (each is then sent and marked on its own).
CLAIM_SIZE = 10


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


def _claim(db: Database, lease: dt.timedelta, limit: int) -> list[tuple[int, str, dict[str, Any], int]]:
    """Claim up to ``limit`` due messages in a transaction of their own: ``sending`` until the
    lease ends.

    A ``pending`` message whose time has come, or a ``sending`` one whose lease ran out (its
    worker died mid-send), is claimed; on PostgreSQL with ``FOR UPDATE SKIP LOCKED``, so of
    several workers exactly one claims each message. The claim is committed before anything is
    sent: no transaction (and on SQLite no write lock) stays open across the network call.
    """
    with UnitOfWork(db, SYSTEM) as uow:
        now = uow.clock.now()
        found: list[OutboxMessage] = []
        # One status at a time: each query walks the (status, available_at) index in order.
        for status in ("sending", "pending"):
            query = (
                select(OutboxMessage)
                .where(OutboxMessage.status == status, OutboxMessage.available_at <= now)
                .order_by(OutboxMessage.available_at)
                .limit(limit - len(found))
            )
            if db.dialect == "postgresql":
                query = query.with_for_update(skip_locked=True)
            found.extend(uow.session.scalars(query))
            if len(found) >= limit:
                break
        claimed = []
        for message in found:
            if message.status == "sending":
                logger.warning("outbox message %s: lease of a previous attempt ran out; resuming",
                               message.id)
            message.status = "sending"
            message.attempts += 1
            message.available_at = now + lease
            claimed.append((message.id, message.topic, dict(message.payload), message.attempts))
        uow.commit()
    return claimed


def relay_once(db: Database, *, batch: int = 50, max_attempts: int = 8,
               lease_seconds: int | None = None) -> tuple[int, int]:
    """Send the due messages once. Returns ``(sent, failed)``.

    Each message goes through two transactions: the claim (``sending``, committed, invisible to
    other workers for the lease; up to ``CLAIM_SIZE`` messages per claim) and the send with its
    mark (``sent``, back to ``pending`` with exponential back-off, or ``dead``). A worker killed
    between the two leaves the message to be claimed again when the lease ends: senders are told
    nothing else, so a sender whose effect must not repeat checks its own record before acting
    (see qms.notifications.delivery).
    """
    sent = failed = 0
    lease = dt.timedelta(seconds=lease_seconds or db.settings.outbox_lease_seconds)
    while sent + failed < batch:
        claimed = _claim(db, lease, min(CLAIM_SIZE, batch - sent - failed))
        if not claimed:
            break
        for message_id, topic, payload, attempts in claimed:
            ok = _send(db, message_id, topic, payload, attempts, max_attempts)
            sent, failed = (sent + 1, failed) if ok else (sent, failed + 1)
    return sent, failed


def _send(db: Database, message_id: int, topic: str, payload: dict[str, Any], attempts: int,
          max_attempts: int) -> bool:
    """Run the sender of one claimed message and mark the outcome; True when sent."""
    with UnitOfWork(db, SYSTEM) as uow:
        sender = _senders.get(topic)
        outcome: tuple[str, str | None]
        try:
            if sender is None:
                raise PermanentFailure(f"no sender registered for topic {topic!r}")
            # No savepoint: a sender may call the network before touching the session, and
            # then holds no transaction (nor, on SQLite, the write lock) while it waits.
            sender(uow, payload)
            uow.flush()
        except PermanentFailure as exc:
            outcome = ("dead", str(exc))
            logger.error("outbox message %s dead: %s", message_id, exc)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            outcome = ("dead" if attempts >= max_attempts else "pending", error)
            logger.warning("outbox message %s attempt %d failed: %s", message_id, attempts, exc)
        else:
            outcome = ("sent", None)
        if outcome[0] != "sent":  # the failed sender's writes go; the mark stays
            uow.rollback()
            uow.act_as(SYSTEM)
        message = uow.session.get(OutboxMessage, message_id)
        if message is not None:
            now = uow.clock.now()
            message.status, message.last_error = outcome
            if outcome[0] == "sent":
                message.sent_at = now
            elif outcome[0] == "pending":
                message.available_at = now + _backoff(attempts)
        uow.commit()
    return outcome[0] == "sent"
