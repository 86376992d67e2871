"""Models of CAPA: the record, its actions, and the assignments its training actions rely on."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bridge.core.clock import column_now
from bridge.core.db import Base, JSONType, UTCDateTime

CAPA_STATUSES = ("open", "investigation", "actions_in_progress", "effectiveness_check", "closed", "cancelled")
CAPA_SOURCES = ("deviation", "audit", "complaint", "inspection", "trend", "other")
ACTION_KINDS = ("corrective", "preventive", "training")
ACTION_STATUSES = ("open", "done", "cancelled")
# States in which actions may still be added (the plan is frozen from the effectiveness check on).
PLANNING_STATUSES = ("open", "investigation", "actions_in_progress")


class Capa(Base):
    """A corrective and preventive action record."""

    __tablename__ = "qms_capa"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), nullable=False, unique=True)
    title: Mapped[str] = mapped_column(String(300), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16), nullable=False)
    source_reference: Mapped[str | None] = mapped_column(String(200))
    deviation_id: Mapped[int | None] = mapped_column(ForeignKey("qms_deviation.id"))
    owner_person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), nullable=False)
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    status: Mapped[str] = mapped_column(String(24), nullable=False, default="open")
    root_cause: Mapped[str | None] = mapped_column(Text)
    effectiveness_summary: Mapped[str | None] = mapped_column(Text)
    author_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=column_now)
    approved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    approval_signature_id: Mapped[int | None] = mapped_column(ForeignKey("electronic_signature.id"))
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    closure_signature_id: Mapped[int | None] = mapped_column(ForeignKey("electronic_signature.id"))
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    cancel_reason: Mapped[str | None] = mapped_column(Text)

    actions: Mapped[list[CapaAction]] = relationship(
        back_populates="capa", order_by="CapaAction.seq", lazy="selectin"
    )

    __table_args__ = (
        Index("ix_qms_capa_status", "status", "due_at"),
        Index("ix_qms_capa_deviation", "deviation_id"),
    )


class CapaAction(Base):
    """One action of a CAPA. A training action names items and people and/or job functions."""

    __tablename__ = "qms_capa_action"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    capa_id: Mapped[int] = mapped_column(ForeignKey("qms_capa.id"), nullable=False)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False)
    owner_person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="open")
    training_item_ids: Mapped[list[int]] = mapped_column(JSONType, nullable=False, default=list)
    person_ids: Mapped[list[int]] = mapped_column(JSONType, nullable=False, default=list)
    job_function_ids: Mapped[list[int]] = mapped_column(JSONType, nullable=False, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=column_now)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    completion_note: Mapped[str | None] = mapped_column(Text)

    capa: Mapped[Capa] = relationship(back_populates="actions")
    links: Mapped[list[CapaActionAssignment]] = relationship(
        back_populates="action", order_by="CapaActionAssignment.id", lazy="selectin"
    )

    __table_args__ = (UniqueConstraint("capa_id", "seq", name="uq_qms_capa_action_seq"),)


class CapaActionAssignment(Base):
    """An assignment a training action relies on: created by it, or already open when it was added."""

    __tablename__ = "qms_capa_action_assignment"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    action_id: Mapped[int] = mapped_column(ForeignKey("qms_capa_action.id"), nullable=False)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("qms_assignment.id"), nullable=False)
    created_by_action: Mapped[bool] = mapped_column(nullable=False, default=True)

    action: Mapped[CapaAction] = relationship(back_populates="links")

    __table_args__ = (
        UniqueConstraint("action_id", "assignment_id", name="uq_qms_capa_action_assignment_pair"),
        Index("ix_qms_capa_action_assignment_assignment", "assignment_id"),
    )
