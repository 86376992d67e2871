"""Models of deviations: the people and documents involved and the signed, immutable training
adequacy assessments.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bridge.core.clock import column_now
from bridge.core.db import Base, JSONType, UTCDateTime

DEVIATION_STATUSES = ("open", "under_investigation", "closed")
CLASSIFICATIONS = ("minor", "major", "critical")
ADEQUACY_CONCLUSIONS = ("adequate", "inadequate")


class Deviation(Base):
    """An unplanned departure from an approved procedure or specification."""

    __tablename__ = "qms_deviation"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), nullable=False, unique=True)
    title: Mapped[str] = mapped_column(String(300), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    classification: Mapped[str] = mapped_column(String(16), nullable=False)
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    discovered_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    status: Mapped[str] = mapped_column(String(24), nullable=False, default="open")
    conclusion: Mapped[str | None] = mapped_column(Text)
    author_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=column_now)
    investigation_started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    closure_signature_id: Mapped[int | None] = mapped_column(ForeignKey("electronic_signature.id"))

    people: Mapped[list[DeviationPerson]] = relationship(
        order_by="DeviationPerson.person_id", lazy="selectin"
    )
    documents: Mapped[list[DeviationDocument]] = relationship(
        order_by="DeviationDocument.document_id", lazy="selectin"
    )

    __table_args__ = (Index("ix_qms_deviation_status", "status", "occurred_at"),)


class DeviationPerson(Base):
    """A person involved in a deviation."""

    __tablename__ = "qms_deviation_person"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deviation_id: Mapped[int] = mapped_column(ForeignKey("qms_deviation.id"), nullable=False)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), nullable=False)

    __table_args__ = (UniqueConstraint("deviation_id", "person_id", name="uq_qms_deviation_person_pair"),)


class DeviationDocument(Base):
    """A controlled document involved in a deviation."""

    __tablename__ = "qms_deviation_document"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deviation_id: Mapped[int] = mapped_column(ForeignKey("qms_deviation.id"), nullable=False)
    document_id: Mapped[int] = mapped_column(ForeignKey("qms_document.id"), nullable=False)

    __table_args__ = (UniqueConstraint("deviation_id", "document_id", name="uq_qms_deviation_document_pair"),)


class TrainingAdequacyAssessment(Base):
    """A recorded, signed snapshot of a deviation's training adequacy. Immutable."""

    __tablename__ = "qms_training_assessment"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deviation_id: Mapped[int] = mapped_column(ForeignKey("qms_deviation.id"), nullable=False)
    assessed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    as_of: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    pairs: Mapped[int] = mapped_column(Integer, nullable=False)
    trained: Mapped[int] = mapped_column(Integer, nullable=False)
    conclusion: Mapped[str] = mapped_column(String(16), nullable=False)
    rationale: Mapped[str] = mapped_column(Text, nullable=False)
    result: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    content_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    signature_id: Mapped[int] = mapped_column(ForeignKey("electronic_signature.id"), nullable=False)
    assessed_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    __table_args__ = (Index("ix_qms_training_assessment_deviation", "deviation_id", "assessed_at"),)


@event.listens_for(TrainingAdequacyAssessment, "before_update")
@event.listens_for(TrainingAdequacyAssessment, "before_delete")
def _assessments_are_immutable(_mapper: Any, _connection: Any, target: TrainingAdequacyAssessment) -> None:
    raise RuntimeError(f"training adequacy assessment {target.id} is immutable: record a new one")
