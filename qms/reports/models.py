"""What a report is before it is rendered: metadata, sections (tables) and the raw data."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

FORMATS = {"json": "application/json", "csv": "text/csv", "pdf": "application/pdf"}
AUDIT_TRAIL_MAX_ROWS = 10_000


@dataclass
class Section:
    """One table of a report: its title, its columns (key, heading) and its rows."""

    title: str
    columns: list[tuple[str, str]]
    rows: list[dict[str, Any]]


@dataclass
class Report:
    """A report ready to render: metadata, signed-record manifestations, tables and the raw data."""

    key: str
    title: str
    generated_by: str
    filters: dict[str, Any]
    sections: list[Section]
    data: Any
    generated_at: dt.datetime
    summary: list[tuple[str, Any]] = field(default_factory=list)
    signatures: list[str] = field(default_factory=list)
