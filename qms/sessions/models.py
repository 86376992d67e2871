"""Models of instructor-led sessions: when and where a session of a training item takes place,
and who is invited.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bridge.core.clock import column_now
from bridge.core.db import Base, UTCDateTime

SESSION_STATUSES = ("scheduled", "cancelled")


class TrainingSession(Base):
    """A scheduled session of an (instructor-led) training item.

    ``uid`` is the iCalendar UID of its invitations; ``sequence`` grows with each change sent.
    """

    __tablename__ = "qms_training_session"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String(200), nullable=False, unique=True)
    training_item_id: Mapped[int] = mapped_column(ForeignKey("qms_training_item.id"), nullable=False)
    title: Mapped[str] = mapped_column(String(300), nullable=False)
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    ends_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    location: Mapped[str | None] = mapped_column(String(300))
    instructor_person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="scheduled")
    sequence: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=column_now)

    __table_args__ = (Index("ix_qms_training_session_item", "training_item_id", "starts_at"),)


class SessionInvitee(Base):
    """A person invited to a session."""

    __tablename__ = "qms_training_session_invitee"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("qms_training_session.id"), nullable=False)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), nullable=False)

    __table_args__ = (UniqueConstraint("session_id", "person_id", name="uq_qms_training_session_invitee"),)
