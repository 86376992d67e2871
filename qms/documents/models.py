"""Models of controlled documents: files, documents, their versions, and the training items and
versions that deliver them (a document's read-and-understand, a course, a session, an OJT).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bridge.core.clock import column_now
from bridge.core.db import Base, JSONType, UTCDateTime

DOCUMENT_STATUSES = ("draft", "in_review", "approved", "effective", "superseded", "obsolete")
VERSION_STATUSES = ("draft", "in_review", "approved", "effective", "superseded", "obsolete")
REVISION_KINDS = ("major", "minor")
ITEM_KINDS = ("read_and_understand", "course", "instructor_led", "ojt")


class ControlledFile(Base):
    """The bytes of a controlled file, stored once, named by their SHA-256."""

    __tablename__ = "qms_controlled_file"
    __audited__ = True
    __audit_exclude__ = ("content",)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    media_type: Mapped[str] = mapped_column(String(200), nullable=False)
    content: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    stored_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=column_now)


class Document(Base):
    """A controlled document (SOP, work instruction, form) across its versions."""

    __tablename__ = "qms_document"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), nullable=False, unique=True)
    title: Mapped[str] = mapped_column(String(300), nullable=False)
    doc_type: Mapped[str] = mapped_column(String(32), nullable=False, default="SOP")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=column_now)
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    versions: Mapped[list[DocumentVersion]] = relationship(
        back_populates="document", order_by="DocumentVersion.seq", lazy="selectin"
    )


class DocumentVersion(Base):
    """One version of a document and its lifecycle.

    ``retrain`` is the training-impact decision recorded on the change: true for a major
    revision, false for a minor one unless the change says otherwise.
    """

    __tablename__ = "qms_document_version"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("qms_document.id"), nullable=False)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    label: Mapped[str] = mapped_column(String(32), nullable=False)
    revision: Mapped[str] = mapped_column(String(8), nullable=False)
    retrain: Mapped[bool] = mapped_column(Boolean, nullable=False)
    impact_rationale: Mapped[str | None] = mapped_column(Text)
    change_summary: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="draft")
    effective_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    min_trained_pct: Mapped[float | None] = mapped_column(Float)
    file_id: Mapped[int | None] = mapped_column(ForeignKey("qms_controlled_file.id"))
    file_name: Mapped[str | None] = mapped_column(String(255))
    author_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=column_now)
    submitted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    approved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    approval_signature_id: Mapped[int | None] = mapped_column(ForeignKey("electronic_signature.id"))
    item_version_id: Mapped[int | None] = mapped_column(ForeignKey("qms_training_item_version.id"))

    document: Mapped[Document] = relationship(back_populates="versions")
    file: Mapped[ControlledFile | None] = relationship(lazy="select")
    item_version: Mapped[TrainingItemVersion | None] = relationship(lazy="joined")

    __table_args__ = (
        UniqueConstraint("document_id", "seq", name="uq_qms_document_version_seq"),
        UniqueConstraint("document_id", "label", name="uq_qms_document_version_label"),
        CheckConstraint("revision in ('major', 'minor')", name="revision_kind"),
    )


class TrainingItem(Base):
    """What a person completes: a document's read-and-understand, a course, a session, an OJT.

    Completion rule: ``requires_signature`` (the learner signs), ``pass_score`` (scaled 0..1),
    ``requires_trainer`` (a trainer signs off).
    """

    __tablename__ = "qms_training_item"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(48), nullable=False, unique=True)
    kind: Mapped[str] = mapped_column(String(24), nullable=False)
    title: Mapped[str] = mapped_column(String(300), nullable=False)
    document_id: Mapped[int | None] = mapped_column(ForeignKey("qms_document.id"), unique=True)
    requires_signature: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    pass_score: Mapped[float | None] = mapped_column(Float)
    requires_trainer: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=column_now)

    versions: Mapped[list[TrainingItemVersion]] = relationship(
        back_populates="item",
        order_by="TrainingItemVersion.seq",
        lazy="selectin",
        foreign_keys="TrainingItemVersion.training_item_id",
    )

    __table_args__ = (
        CheckConstraint(
            "kind in ('read_and_understand', 'course', 'instructor_led', 'ojt')", name="item_kind"
        ),
    )

    @property
    def current_version(self) -> TrainingItemVersion | None:
        """The effective version, if any."""
        return next((v for v in reversed(self.versions) if v.status == "effective"), None)


class TrainingItemVersion(Base):
    """A version of a training item: what an assignment targets and a completion names.

    ``baseline_seq`` is the sequence of the latest version at or before this one that
    required retraining: a completion on any version from the baseline on satisfies it.
    ``effective_since`` / ``ended_at`` are the actual moments the version was in force.
    """

    __tablename__ = "qms_training_item_version"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    training_item_id: Mapped[int] = mapped_column(ForeignKey("qms_training_item.id"), nullable=False)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    label: Mapped[str] = mapped_column(String(32), nullable=False)
    retrain: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    baseline_seq: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="draft")
    effective_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    effective_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    min_trained_pct: Mapped[float | None] = mapped_column(Float)
    activity_iris: Mapped[list[str]] = mapped_column(JSONType, nullable=False, default=list)
    lms_url: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=column_now)
    approved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    approval_signature_id: Mapped[int | None] = mapped_column(ForeignKey("electronic_signature.id"))
    author_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    item: Mapped[TrainingItem] = relationship(
        back_populates="versions", lazy="joined", foreign_keys=[training_item_id]
    )

    __table_args__ = (
        UniqueConstraint("training_item_id", "seq", name="uq_qms_training_item_version_seq"),
        Index("ix_qms_training_item_version_due", "status", "effective_at"),
    )


class DocumentPresentation(Base):
    """A controlled file presented to a person: who opened which version, when, through what.

    Append-only and audited; a "read and understood" signature needs one by the signer on the
    version signed, made before the signature (issue 14 #5).
    """

    __tablename__ = "qms_document_presentation"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), nullable=False)
    document_version_id: Mapped[int] = mapped_column(ForeignKey("qms_document_version.id"), nullable=False)
    item_version_id: Mapped[int | None] = mapped_column(ForeignKey("qms_training_item_version.id"))
    file_sha256: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16), nullable=False)
    presented_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (
        Index("ix_qms_document_presentation_person", "person_id", "item_version_id", "presented_at"),
    )
