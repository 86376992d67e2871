"""Request models of the onboarding routes."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from qms.schemas import Reason, Signature, Strict


class RegisterImportQuery(Strict):
    """Format of the document register file."""

    format: Literal["csv", "xlsx"] = "csv"


class LegacyImportQuery(Strict):
    """Format and mode of a legacy training import."""

    format: Literal["csv", "xlsx"] = "csv"
    preview: bool = Field(default=False, description="check and simulate only: nothing is written")
    skip_refused: bool = Field(
        default=False,
        description="import the good rows and record the refused ones (default: all rows or none)",
    )
    source_system: str | None = Field(
        default=None, max_length=200, description="default for the rows' source"
    )


class MatchDecision(Strict):
    """A human decision on a candidate identity match."""

    source: Literal["lti", "xapi"]
    source_key: str = Field(min_length=1, max_length=1100)
    person_id: int
    decision: Literal["accepted", "rejected"]
    reason: str = Reason


class CutoverRequest(Signature):
    """QA's e-signature on the day-0 cut-over (the moment defaults to now)."""

    at: AwareDatetime | None = Field(default=None, description="the cut-over moment (not in the future)")
