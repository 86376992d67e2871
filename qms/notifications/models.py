"""Models of notifications: every notice sent (or skipped) to whom, about what, when and with
what result; the marks that make each notice once-only; people's preferences; webhook
subscriptions.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bridge.core.clock import column_now
from bridge.core.db import Base, JSONType, UTCDateTime
from qms.training.models import Assignment

# kind -> mandatory (a person cannot turn a mandatory notice off)
KINDS: dict[str, bool] = {
    "assignment_digest": True,
    "reminder": False,
    "overdue": True,
    "escalation": True,
    "change_approved": False,
    "approval_waiting": True,
    "session_invitation": True,
    "session_cancellation": True,
}
NOTIFICATION_STATUSES = ("queued", "sending", "sent", "skipped", "suppressed", "failed")
CHANNELS = ("email", "webhook")
WEBHOOK_EVENTS = (
    "assignment.created",
    "assignment.completed",
    "assignment.overdue",
    "version.effective",
    "capa.closed",
)


class Notification(Base):
    """One notice to one recipient (a person's e-mail or a webhook URL), and what became of it.

    ``idempotency_key`` names the notice: the same key is never queued twice, and the e-mail's
    ``Message-ID`` derives from it. ``status``: queued → sending → sent, or skipped (no SMTP
    configured, no address), suppressed (turned off by the person), failed (dead-lettered).
    """

    __tablename__ = "notify_notification"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), nullable=False, default="email")
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    address: Mapped[str | None] = mapped_column(String(1000))
    subject: Mapped[str] = mapped_column(String(300), nullable=False)
    context: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
    idempotency_key: Mapped[str] = mapped_column(String(200), nullable=False, unique=True)
    mandatory: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="queued")
    message_id: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=column_now)
    not_before: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    sending_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_notify_notification_person", "person_id", "created_at"),)


# The morning digest looks for the assignments made since the last one.
Index("ix_qms_assignment_assigned_at", Assignment.assigned_at)


class NoticeMark(Base):
    """A record (an assignment, a version awaiting approval...) was the subject of a notice stage
    (``assigned``, ``remind_7``, ``overdue``, ``escalated``...): that stage is never noticed again.
    """

    __tablename__ = "notify_notice_mark"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_type: Mapped[str] = mapped_column(String(32), nullable=False)
    subject_id: Mapped[int] = mapped_column(Integer, nullable=False)
    stage: Mapped[str] = mapped_column(String(32), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=column_now)

    __table_args__ = (
        UniqueConstraint("subject_type", "stage", "subject_id", name="uq_notify_notice_mark"),
    )


class NotificationPreference(Base):
    """A person turned an optional notice off (or back on)."""

    __tablename__ = "notify_preference"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=column_now)

    __table_args__ = (UniqueConstraint("person_id", "kind", name="uq_notify_preference"),)


class WebhookSubscription(Base):
    """An HTTP endpoint that receives signed JSON for the events it subscribed to."""

    __tablename__ = "notify_webhook_subscription"
    __audited__ = True
    __audit_exclude__ = ("secret",)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    url: Mapped[str] = mapped_column(String(1000), nullable=False)
    secret: Mapped[str] = mapped_column(String(200), nullable=False)
    events: Mapped[list[str]] = mapped_column(JSONType, nullable=False, default=list)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=column_now)
