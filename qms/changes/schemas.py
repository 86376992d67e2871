"""Request models of the change-control routes."""

from __future__ import annotations

from pydantic import AwareDatetime, Field

from qms.schemas import Strict


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
