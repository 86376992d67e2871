"""Request models of the training, matrix, assignment and compliance routes."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from qms.schemas import Reason, Signature, Strict
from qms.training.models import ASSIGNMENT_STATUSES


class AttendanceRequest(Signature):
    """The trainer's signed roster."""

    person_ids: list[int] = Field(min_length=1)
    note: str | None = Field(default=None, max_length=2000)


class OjtSignoffRequest(Signature):
    """The trainer's signed verification."""

    person_id: int
    comment: str | None = Field(default=None, max_length=2000)


class CourseResultRequest(Strict):
    """An eLearning result recorded outside the LRS."""

    person_id: int
    score_scaled: float | None = Field(default=None, ge=-1, le=1)
    passed: bool | None = None
    statement_ids: list[str] = Field(default_factory=list)


class RequirementCreate(Strict):
    """A matrix cell."""

    scope: Literal["job_function", "department", "equipment"]
    scope_id: int
    training_item_id: int
    retrain_interval_days: int | None = Field(default=None, gt=0)
    grace_days: int = Field(default=0, ge=0)


class RequirementUpdate(Strict):
    """A change of periodic retraining."""

    retrain_interval_days: int | None = Field(default=None, gt=0)
    grace_days: int = Field(default=0, ge=0)
    reason: str = Reason


class MatrixFormat(Strict):
    """File format of a matrix export."""

    format: Literal["csv", "xlsx"] = "csv"


class MatrixImportQuery(Strict):
    """Format and mode of a matrix import."""

    format: Literal["csv", "xlsx"] = "csv"
    replace: bool = Field(default=False, description="retire the requirements the file does not list")


class AssignRequest(Strict):
    """A manual assignment."""

    person_ids: list[int] = Field(min_length=1)
    item_version_id: int
    due_at: AwareDatetime
    reason: Literal["manual"] = "manual"


class AssignmentQuery(Strict):
    """Filters of the assignment list."""

    person_id: int | None = None
    status: Literal[ASSIGNMENT_STATUSES] | None = None
    training_item_id: int | None = None
    source_type: str | None = Field(
        default=None, min_length=1, max_length=32, description="change_control, capa, deviation, requirement…"
    )
    source_id: int | None = Field(default=None, description="with source_type: the source record's id")
    source_number: str | None = Field(
        default=None,
        min_length=1,
        max_length=32,
        description="the source record's number (change control, CAPA or deviation), e.g. CC-2026-0001",
    )
    limit: int = Field(default=200, ge=1, le=2000)


class MatrixReportQuery(Strict):
    """Filter of the matrix compliance report, and the moment (now by default)."""

    department_id: int | None = None
    at: AwareDatetime | None = Field(
        default=None,
        description="as of this RFC 3339 moment with a zone (default: now, from the maintained state)",
    )
