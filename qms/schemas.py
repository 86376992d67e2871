"""Request models shared by the ``/api/v1`` routes (pydantic v2, unknown fields refused)."""

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


class ReasonOnly(Strict):
    """A reason for the record."""

    reason: str = Reason


class AsOfQuery(Strict):
    """A past (or present) moment."""

    at: AwareDatetime = Field(description="RFC 3339 moment with a zone, e.g. 2026-03-14T09:00:00Z")


class SweepName(Strict):
    """Which sweep to run."""

    name: Literal["effective", "overdue", "periodic"]
