"""Models of change control: the change and the document versions it introduces."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bridge.core.clock import column_now
from bridge.core.db import Base, UTCDateTime
from qms.documents.models import DocumentVersion

CHANGE_CONTROL_STATUSES = ("draft", "submitted", "approved", "implemented", "rejected", "cancelled")


class ChangeControl(Base):
    """A change control: affected document versions, impact, approval, effective date."""

    __tablename__ = "qms_change_control"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), nullable=False, unique=True)
    title: Mapped[str] = mapped_column(String(300), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    impact: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="draft")
    effective_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    min_trained_pct: Mapped[float | None] = mapped_column(Float)
    author_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=column_now)
    submitted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    approved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    approval_signature_id: Mapped[int | None] = mapped_column(ForeignKey("electronic_signature.id"))
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    affected: Mapped[list[ChangeControlDocument]] = relationship(
        back_populates="change_control",
        cascade="all, delete-orphan",
        lazy="selectin",
        order_by="ChangeControlDocument.id",
    )


class ChangeControlDocument(Base):
    """A document version the change control introduces."""

    __tablename__ = "qms_change_control_document"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    change_control_id: Mapped[int] = mapped_column(ForeignKey("qms_change_control.id"), nullable=False)
    document_version_id: Mapped[int] = mapped_column(
        ForeignKey("qms_document_version.id"), nullable=False, unique=True
    )

    change_control: Mapped[ChangeControl] = relationship(back_populates="affected")
    document_version: Mapped[DocumentVersion] = relationship(lazy="joined")
