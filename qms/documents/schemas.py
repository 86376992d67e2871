"""Request models of the documents and training items routes."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from qms.schemas import Code, Reason, Signature, Strict


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


class ItemQuery(Strict):
    """Filter of the training item list."""

    kind: Literal["read_and_understand", "course", "instructor_led", "ojt"] | None = None
