"""The outbox: messages that leave the process (AGS scores, e-mail, webhooks) are written
in the same transaction as the change that caused them, and sent after commit by the
relay that ``gxpbridge worker`` runs.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Index, Integer, String, Text, select, update
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

    Each claimed message is sent by its sender, whose own writes commit at once; the ``sent``
    marks of a claim (up to ``CLAIM_SIZE`` messages) are committed together after it, and a
    failure is marked at once (back to ``pending`` with exponential back-off, or ``dead``). A
    worker killed before the marks leaves the messages to be claimed again when the lease ends:
    senders are told nothing else, so a sender whose effect must not repeat records it and checks
    that record before acting (see qms.notifications.delivery). One commit of marks per claim
    instead of one per message is what lets one relay thread keep up with a local SMTP server.
    """
    sent = failed = 0
    lease = dt.timedelta(seconds=lease_seconds or db.settings.outbox_lease_seconds)
    while sent + failed < batch:
        claimed = _claim(db, lease, min(CLAIM_SIZE, batch - sent - failed))
        if not claimed:
            break
        done: list[int] = []
        try:
            for message_id, topic, payload, attempts in claimed:
                if _send(db, message_id, topic, payload, attempts, max_attempts):
                    done.append(message_id)
                else:
                    failed += 1
        finally:  # what was sent is marked even when a later message of the claim raised
            _mark_sent(db, done)
        sent += len(done)
    return sent, failed


def drain(db: Database, *, threads: int = 1, max_attempts: int = 8, budget_seconds: float = 60.0,
          batch: int = 200) -> tuple[int, int]:
    """Relay until nothing is due (or ``budget_seconds`` have passed), in ``threads`` threads.

    This is the worker's relay: a morning digest of thousands of mails goes out in one run, not 50
    every few seconds. Threads help on PostgreSQL, where ``SKIP LOCKED`` gives each claim its own
    messages and the time goes to waiting on the database and the SMTP server; on SQLite the
    claims would race, so :func:`relay_threads_for` gives one. Returns ``(sent, failed)``.
    """
    deadline = time.monotonic() + budget_seconds
    totals = [0, 0]
    lock = threading.Lock()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            while time.monotonic() < deadline:
                sent, failed = relay_once(db, batch=batch, max_attempts=max_attempts)
                with lock:
                    totals[0] += sent
                    totals[1] += failed
                if sent + failed < batch:
                    return
        except BaseException as exc:  # reported by the caller's thread
            errors.append(exc)
        finally:
            close_thread_resources()

    if threads <= 1:
        run()
    else:
        workers = [threading.Thread(target=run, name=f"outbox-relay-{i}") for i in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    if errors:
        raise errors[0]
    return totals[0], totals[1]


def relay_threads_for(db: Database) -> int:
    """Relay threads the worker runs by default: 4 on PostgreSQL, 1 on SQLite."""
    return 4 if db.dialect == "postgresql" else 1


def close_thread_resources() -> None:
    """Close what senders keep per thread (the SMTP connection) when a relay thread ends."""
    for closer in _thread_closers:
        closer()


_thread_closers: list[Callable[[], None]] = []


def on_thread_end(closer: Callable[[], None]) -> None:
    """Register ``closer`` to run when a relay thread ends (e.g. close its SMTP connection)."""
    if closer not in _thread_closers:
        _thread_closers.append(closer)


def _mark_sent(db: Database, message_ids: list[int]) -> None:
    if not message_ids:
        return
    with UnitOfWork(db, SYSTEM) as uow:
        table = OutboxMessage.__table__
        uow.session.execute(
            update(table)
            .where(table.c.id.in_(message_ids), table.c.status == "sending")
            .values(status="sent", sent_at=uow.clock.now(), last_error=None)
        )
        uow.commit()


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
            uow.commit()  # the sender's own writes; the relay marks the claim sent after it
            return True
        uow.rollback()  # the failed sender's writes go; the mark stays
        uow.act_as(SYSTEM)
        message = uow.session.get(OutboxMessage, message_id)
        if message is not None:
            message.status, message.last_error = outcome
            if outcome[0] == "pending":
                message.available_at = uow.clock.now() + _backoff(attempts)
        uow.commit()
    return False
