"""Request models of ``/api/v1`` (pydantic v2, unknown fields refused)."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class Strict(BaseModel):
    """Base of every request model: unknown fields are refused, strings trimmed."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


Code = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
Reason = Field(min_length=1, max_length=2000, description="why (recorded in the audit trail)")


class Signature(Strict):
    """The two components of an electronic signature (§11.200), re-entered at each signing."""

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=200)


class UnitCreate(Strict):
    """A department, job function or piece of equipment."""

    code: str = Code
    name: str = Field(min_length=1, max_length=200)


class HireRequest(Strict):
    """A new hire: a new person (name) or an existing one (person_id)."""

    display_name: str | None = Field(default=None, min_length=1, max_length=200)
    person_id: int | None = None
    email: str | None = Field(default=None, max_length=320)
    employee_no: str | None = Field(default=None, max_length=64)
    department_id: int
    job_function_ids: list[int] = Field(min_length=1)
    equipment_ids: list[int] = Field(default_factory=list)


class RoleChange(Strict):
    """New set of job functions."""

    job_function_ids: list[int] = Field(min_length=1)
    reason: str = Reason


class TransferRequest(Strict):
    """Move to another department."""

    department_id: int
    reason: str = Reason


class EquipmentChange(Strict):
    """New set of equipment operated."""

    equipment_ids: list[int]
    reason: str = Reason


class ReasonOnly(Strict):
    """A reason for the record."""

    reason: str = Reason


class AsOfQuery(Strict):
    """A past (or present) moment."""

    at: AwareDatetime = Field(description="RFC 3339 moment with a zone, e.g. 2026-03-14T09:00:00Z")


class DocumentCreate(Strict):
    """A new controlled document."""

    code: str = Code
    title: str = Field(min_length=1, max_length=300)
    doc_type: str = Field(default="SOP", min_length=1, max_length=32)


class VersionCreate(Strict):
    """A new draft version with its training-impact decision."""

    label: str = Field(min_length=1, max_length=32)
    revision: Literal["major", "minor"]
    retrain: bool | None = Field(default=None, description="minor revisions retrain only when true")
    impact_rationale: str | None = Field(default=None, max_length=4000)
    change_summary: str | None = Field(default=None, max_length=4000)
    activity_iris: list[str] = Field(default_factory=list, description="xAPI activity IRIs delivering it")
    lms_url: str | None = Field(default=None, max_length=1000)
    min_trained_pct: float | None = Field(default=None, ge=0, le=100)


class VersionUpdate(Strict):
    """Edits to a draft version."""

    change_summary: str | None = Field(default=None, max_length=4000)
    impact_rationale: str | None = Field(default=None, max_length=4000)
    activity_iris: list[str] | None = None
    lms_url: str | None = Field(default=None, max_length=1000)
    min_trained_pct: float | None = Field(default=None, ge=0, le=100)


class SubmitRequest(Strict):
    """Submission for review, optionally with the planned effective date."""

    effective_at: AwareDatetime | None = None


class ApproveRequest(Signature):
    """Approval with its signature and the effective date."""

    effective_at: AwareDatetime


class RejectRequest(Signature):
    """Rejection with its signature and a comment."""

    comment: str = Field(min_length=1, max_length=4000)


class ObsoleteRequest(Signature):
    """Withdrawal of an effective version."""

    reason: str = Reason


class TrainingItemCreate(Strict):
    """A course, instructor-led session or OJT assessment."""

    code: str = Field(min_length=1, max_length=48, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    kind: Literal["course", "instructor_led", "ojt"]
    title: str = Field(min_length=1, max_length=300)
    requires_signature: bool = False
    pass_score: float | None = Field(default=None, ge=0, le=1)
    requires_trainer: bool = False


class ItemVersionCreate(Strict):
    """A draft version of a course, session or OJT item."""

    label: str = Field(min_length=1, max_length=32)
    retrain: bool = True
    activity_iris: list[str] = Field(default_factory=list)
    lms_url: str | None = Field(default=None, max_length=1000)


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


class ChangeControlCreate(Strict):
    """A change control."""

    title: str = Field(min_length=1, max_length=300)
    description: str | None = Field(default=None, max_length=8000)
    impact: str | None = Field(default=None, max_length=8000)
    effective_at: AwareDatetime
    document_version_ids: list[int] = Field(min_length=1)
    min_trained_pct: float | None = Field(
        default=None, ge=0, le=100, description="gate: trained % needed to become effective"
    )


class AssignRequest(Strict):
    """A manual assignment."""

    person_ids: list[int] = Field(min_length=1)
    item_version_id: int
    due_at: AwareDatetime
    reason: Literal["manual"] = "manual"


class AssignmentQuery(Strict):
    """Filters of the assignment list."""

    person_id: int | None = None
    status: Literal["open", "content_complete", "completed", "overdue", "superseded", "cancelled"] | None = (
        None
    )
    training_item_id: int | None = None
    limit: int = Field(default=200, ge=1, le=2000)


class ItemQuery(Strict):
    """Filter of the training item list."""

    kind: Literal["read_and_understand", "course", "instructor_led", "ojt"] | None = None


class SweepName(Strict):
    """Which sweep to run."""

    name: Literal["effective", "overdue", "periodic"]


class MatrixReportQuery(Strict):
    """Filter of the matrix compliance report."""

    department_id: int | None = None


class PeopleQuery(Strict):
    """Filters of the people list (memberships in force now)."""

    department_id: int | None = None
    job_function_id: int | None = None
    equipment_id: int | None = None
    employed: bool | None = None
    limit: int = Field(default=500, ge=1, le=5000)
    offset: int = Field(default=0, ge=0)
