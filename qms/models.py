"""Models of the quality domain: organisation, documents, training items, the matrix,
change control, assignments, completions and the maintained compliance state.

Every regulated record is audited (``__audited__``); completions are immutable (a flush
that updates or deletes one raises). The compliance state is a derived cache of the
immutable records, kept current by the services in the same transaction as the events
that change it; the as-of queries never read it.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

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
    event,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bridge.core.clock import column_now
from bridge.core.db import Base, JSONType, UTCDateTime

logger = logging.getLogger(__name__)

# -- vocabularies ------------------------------------------------------------------------------

DOCUMENT_STATUSES = ("draft", "in_review", "approved", "effective", "superseded", "obsolete")
VERSION_STATUSES = ("draft", "in_review", "approved", "effective", "superseded", "obsolete")
REVISION_KINDS = ("major", "minor")
ITEM_KINDS = ("read_and_understand", "course", "instructor_led", "ojt")
ASSIGNMENT_STATUSES = ("open", "content_complete", "completed", "overdue", "superseded", "cancelled")
OPEN_ASSIGNMENT_STATUSES = ("open", "content_complete", "overdue")
ASSIGNMENT_REASONS = (
    "matrix",
    "new_hire",
    "role_change",
    "transfer",
    "equipment",
    "change_control",
    "document_revision",
    "capa",
    "deviation",
    "periodic",
    "manual",
    "return_from_leave",
)
COMPLIANCE_STATUSES = ("compliant", "due", "overdue", "exempt")
CHANGE_CONTROL_STATUSES = ("draft", "submitted", "approved", "implemented", "rejected", "cancelled")
SCOPE_KINDS = ("job_function", "department", "equipment")
COMPLETION_METHODS = ("read_and_understood", "course", "attendance", "ojt_signoff")


# -- organisation ------------------------------------------------------------------------------


class Department(Base):
    """A department of the plant (QC lab, Packaging...)."""

    __tablename__ = "qms_department"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), nullable=False, unique=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=column_now)


class JobFunction(Base):
    """A job function (role in the plant) that carries training requirements."""

    __tablename__ = "qms_job_function"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), nullable=False, unique=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=column_now)


class Equipment(Base):
    """A piece of equipment whose operators need specific training."""

    __tablename__ = "qms_equipment"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), nullable=False, unique=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=column_now)


class Employment(Base):
    """A person's employment in the plant: hired, possibly terminated (dated)."""

    __tablename__ = "qms_employment"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), nullable=False)
    hired_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    terminated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    termination_reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_qms_employment_person", "person_id"),)


class _Membership:
    """Columns shared by the dated memberships (from inclusive, to exclusive)."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    valid_from: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    valid_to: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class PersonJobFunction(_Membership, Base):
    """A person holds a job function from ``valid_from`` until ``valid_to``."""

    __tablename__ = "qms_person_job_function"
    __audited__ = True

    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), nullable=False)
    job_function_id: Mapped[int] = mapped_column(ForeignKey("qms_job_function.id"), nullable=False)

    __table_args__ = (
        Index("ix_qms_person_job_function_person", "person_id", "valid_to"),
        Index("ix_qms_person_job_function_jf", "job_function_id", "valid_to"),
    )


class PersonDepartment(_Membership, Base):
    """A person belongs to a department from ``valid_from`` until ``valid_to``."""

    __tablename__ = "qms_person_department"
    __audited__ = True

    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), nullable=False)
    department_id: Mapped[int] = mapped_column(ForeignKey("qms_department.id"), nullable=False)

    __table_args__ = (
        Index("ix_qms_person_department_person", "person_id", "valid_to"),
        Index("ix_qms_person_department_dept", "department_id", "valid_to"),
    )


class PersonEquipment(_Membership, Base):
    """A person operates a piece of equipment from ``valid_from`` until ``valid_to``."""

    __tablename__ = "qms_person_equipment"
    __audited__ = True

    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), nullable=False)
    equipment_id: Mapped[int] = mapped_column(ForeignKey("qms_equipment.id"), nullable=False)

    __table_args__ = (
        Index("ix_qms_person_equipment_person", "person_id", "valid_to"),
        Index("ix_qms_person_equipment_eq", "equipment_id", "valid_to"),
    )


class Leave(Base):
    """A leave of absence: the person is exempt from obligations while it lasts."""

    __tablename__ = "qms_leave"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), nullable=False)
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    ends_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_qms_leave_person", "person_id"),)


# -- controlled files and documents -------------------------------------------------------------


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


# -- training items ------------------------------------------------------------------------------


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


# -- the matrix ------------------------------------------------------------------------------------


class Requirement(Base):
    """A matrix cell: everyone in a job function, department or equipment needs an item.

    Requirements are never deleted: retiring one sets ``valid_to`` so that as-of questions
    about the past still see it.
    """

    __tablename__ = "qms_requirement"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope: Mapped[str] = mapped_column(String(16), nullable=False)
    job_function_id: Mapped[int | None] = mapped_column(ForeignKey("qms_job_function.id"))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("qms_department.id"))
    equipment_id: Mapped[int | None] = mapped_column(ForeignKey("qms_equipment.id"))
    training_item_id: Mapped[int] = mapped_column(ForeignKey("qms_training_item.id"), nullable=False)
    retrain_interval_days: Mapped[int | None] = mapped_column(Integer)
    grace_days: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    valid_from: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    valid_to: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        CheckConstraint(
            "(scope = 'job_function' AND job_function_id IS NOT NULL AND department_id IS NULL "
            "AND equipment_id IS NULL) OR (scope = 'department' AND department_id IS NOT NULL "
            "AND job_function_id IS NULL AND equipment_id IS NULL) OR (scope = 'equipment' AND "
            "equipment_id IS NOT NULL AND job_function_id IS NULL AND department_id IS NULL)",
            name="one_scope",
        ),
        Index("ix_qms_requirement_item", "training_item_id", "valid_to"),
        Index("ix_qms_requirement_jf", "job_function_id", "valid_to"),
        Index("ix_qms_requirement_dept", "department_id", "valid_to"),
        Index("ix_qms_requirement_eq", "equipment_id", "valid_to"),
    )


# -- change control -------------------------------------------------------------------------------


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


# -- assignments and completions ------------------------------------------------------------------


class Assignment(Base):
    """An obligation: a person must complete a training item version by a due date.

    ``source_type``/``source_id`` name the quality record that caused it (``change_control``,
    ``requirement``, ``capa``, ``deviation``, ``document_version``, ``person``...).
    """

    __tablename__ = "qms_assignment"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), nullable=False)
    training_item_id: Mapped[int] = mapped_column(ForeignKey("qms_training_item.id"), nullable=False)
    item_version_id: Mapped[int] = mapped_column(ForeignKey("qms_training_item_version.id"), nullable=False)
    reason: Mapped[str] = mapped_column(String(24), nullable=False)
    source_type: Mapped[str | None] = mapped_column(String(32))
    source_id: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="open")
    assigned_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    completion_id: Mapped[int | None] = mapped_column(Integer)
    superseded_by_id: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (
        Index("ix_qms_assignment_person", "person_id", "status"),
        Index("ix_qms_assignment_item", "training_item_id", "status"),
        Index("ix_qms_assignment_version", "item_version_id", "status"),
        Index("ix_qms_assignment_source", "source_type", "source_id"),
        Index("ix_qms_assignment_due", "status", "due_at"),
    )


class Completion(Base):
    """An immutable, version-specific record that a person completed a training item.

    Never updated nor deleted (enforced at flush). ``signature_id`` is the learner's
    signature, ``trainer_signature_id`` the trainer's when the rule needs one.
    """

    __tablename__ = "qms_completion"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), nullable=False)
    training_item_id: Mapped[int] = mapped_column(ForeignKey("qms_training_item.id"), nullable=False)
    item_version_id: Mapped[int] = mapped_column(ForeignKey("qms_training_item_version.id"), nullable=False)
    assignment_id: Mapped[int | None] = mapped_column(ForeignKey("qms_assignment.id"))
    method: Mapped[str] = mapped_column(String(24), nullable=False)
    completed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=column_now)
    score_scaled: Mapped[float | None] = mapped_column(Float)
    passed: Mapped[bool | None] = mapped_column(Boolean)
    trainer_person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    signature_id: Mapped[int | None] = mapped_column(ForeignKey("electronic_signature.id"))
    trainer_signature_id: Mapped[int | None] = mapped_column(ForeignKey("electronic_signature.id"))
    evidence: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)

    __table_args__ = (
        Index("ix_qms_completion_person_item", "person_id", "training_item_id", "completed_at"),
        Index("ix_qms_completion_version", "item_version_id"),
    )


@event.listens_for(Completion, "before_update")
@event.listens_for(Completion, "before_delete")
def _completions_are_immutable(_mapper: Any, _connection: Any, target: Completion) -> None:
    raise RuntimeError(f"completion {target.id} is immutable: record a new completion instead")


class ComplianceState(Base):
    """Maintained state of one person × requirement: kept current as events happen.

    ``trained_version_id`` is the version whose completion satisfies the item's effective
    version now; ``expires_at`` is when periodic retraining lapses (interval + grace).
    Department and job function are copied here so that the matrix report is one
    grouped scan of an index.
    """

    __tablename__ = "qms_compliance_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), nullable=False)
    requirement_id: Mapped[int] = mapped_column(ForeignKey("qms_requirement.id"), nullable=False)
    training_item_id: Mapped[int] = mapped_column(ForeignKey("qms_training_item.id"), nullable=False)
    department_id: Mapped[int | None] = mapped_column(Integer)
    job_function_id: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    trained_version_id: Mapped[int | None] = mapped_column(Integer)
    last_completion_id: Mapped[int | None] = mapped_column(Integer)
    last_completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=column_now)

    __table_args__ = (
        UniqueConstraint("person_id", "requirement_id", name="uq_qms_compliance_state_pair"),
        Index("ix_qms_compliance_state_item", "training_item_id", "person_id"),
        Index("ix_qms_compliance_state_requirement", "requirement_id", "last_completed_at"),
        Index(
            "ix_qms_compliance_state_matrix",
            "department_id",
            "job_function_id",
            "status",
            "due_at",
            "expires_at",
        ),
    )
