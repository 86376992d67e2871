"""Request models of the deviation routes."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from qms.schemas import Signature, Strict


class DeviationCreate(Strict):
    """A deviation: what happened, when, who and which documents were involved."""

    title: str = Field(min_length=1, max_length=300)
    description: str | None = Field(default=None, max_length=8000)
    classification: Literal["minor", "major", "critical"]
    occurred_at: AwareDatetime = Field(description="when it happened (now or in the past)")
    discovered_at: AwareDatetime | None = Field(
        default=None, description="when it was found (now by default)"
    )
    person_ids: list[int] = Field(default_factory=list)
    document_ids: list[int] = Field(default_factory=list)


class DeviationListQuery(Strict):
    """Filter of the deviation list."""

    status: Literal["open", "under_investigation", "closed"] | None = None


class InvolvedUpdate(Strict):
    """The new people and documents involved, and why they change."""

    person_ids: list[int]
    document_ids: list[int]
    reason: str = Field(min_length=1, max_length=2000)


class CapaLink(Strict):
    """An existing CAPA to link."""

    capa_id: int


class AssessmentRecord(Signature):
    """QA's conclusion on the computed training adequacy, signed."""

    conclusion: Literal["adequate", "inadequate"]
    rationale: str = Field(min_length=1, max_length=8000)


class DeviationClose(Signature):
    """Closure: the investigation's conclusion, signed."""

    conclusion: str = Field(min_length=1, max_length=8000)
