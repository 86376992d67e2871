"""Request models of the report routes."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from qms.reports.models import AUDIT_TRAIL_MAX_ROWS
from qms.schemas import Strict

FORMAT_DESCRIPTION = "json, csv or pdf; without it the Accept header decides (JSON by default)"
Format = Literal["json", "csv", "pdf"]


class FormatQuery(Strict):
    """The output format."""

    format: Format | None = Field(default=None, description=FORMAT_DESCRIPTION)


AT_DESCRIPTION = "as of this RFC 3339 moment with a zone (default: now)"


class DepartmentReportQuery(FormatQuery):
    """Optional department filter and moment."""

    department_id: int | None = None
    at: AwareDatetime | None = Field(default=None, description=AT_DESCRIPTION)


class CapaReportQuery(FormatQuery):
    """One CAPA, or every CAPA (optionally in one status)."""

    capa_id: int | None = None
    at: AwareDatetime | None = Field(default=None, description=AT_DESCRIPTION)
    status: (
        Literal["open", "investigation", "actions_in_progress", "effectiveness_check", "closed", "cancelled"]
        | None
    ) = None


class AuditTrailQuery(FormatQuery):
    """Which audit rows: by record and by time (``since`` inclusive, ``until`` exclusive)."""

    entity_type: str | None = Field(default=None, min_length=1, max_length=64, description="e.g. qms_capa")
    entity_id: str | None = Field(default=None, min_length=1, max_length=64)
    since: AwareDatetime | None = None
    until: AwareDatetime | None = None
    limit: int = Field(default=1000, ge=1, le=AUDIT_TRAIL_MAX_ROWS)
    verify: bool = Field(default=False, description="recompute the whole hash chain and state its integrity")
