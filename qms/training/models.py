"""Models of training obligations and records: the matrix (requirements), assignments,
immutable completions and the maintained compliance state.

The compliance state is a derived cache of the immutable records, kept current by the services
in the same transaction as the events that change it; the as-of queries never read it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import Mapped, mapped_column

from bridge.core.clock import column_now
from bridge.core.db import Base, JSONType, UTCDateTime

# -- vocabularies (each spelled here only) -------------------------------------------------------

ASSIGNMENT_STATUSES = ("open", "content_complete", "completed", "overdue", "superseded", "cancelled")
# An assignment still to be done, late or not.
OPEN_ASSIGNMENT_STATUSES = ("open", "content_complete", "overdue")
# Assignments that exist because of the matrix; the others (CAPA, deviation, manual) stay
# when a person leaves the scope of a requirement.
MATRIX_REASONS = (
    "matrix",
    "new_hire",
    "role_change",
    "transfer",
    "equipment",
    "change_control",
    "document_revision",
    "periodic",
    "return_from_leave",
)
# Why an assignment was made: the matrix's reasons and the quality records outside it.
ASSIGNMENT_REASONS = (*MATRIX_REASONS, "capa", "deviation", "manual")
# ``not_in_force``: the requirement's item has no version effective yet; neither met nor a gap.
COMPLIANCE_STATUSES = ("compliant", "due", "overdue", "exempt", "not_in_force")
SCOPE_KINDS = ("job_function", "department", "equipment")
COMPLETION_METHODS = ("read_and_understood", "course", "attendance", "ojt_signoff")


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
