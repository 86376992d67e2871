"""Every report of the REST API by key, with the parameters it takes: the console builds each one
from a form (people, documents and departments named by code) and an "as of" moment.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from bridge.core.errors import NotFound, ValidationFailed
from qms.reports import quality, services
from qms.reports.models import AUDIT_TRAIL_MAX_ROWS, Report


@dataclass(frozen=True)
class Param:
    """A form field of a report: name, label, kind (``person``, ``document``, ``department``,
    ``int``, ``text``, ``date``, ``select``) and whether it is required.
    """

    name: str
    label: str
    kind: str = "text"
    required: bool = False
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReportKind:
    """A report the console offers."""

    key: str
    title: str
    description: str
    params: tuple[Param, ...]
    build: Callable[[Session, Mapping[str, Any], str, dt.datetime], Report]


def _need(values: Mapping[str, Any], name: str) -> Any:
    if values.get(name) in (None, ""):
        raise ValidationFailed(f"{name.replace('_', ' ')} is required", field=name)
    return values[name]


CAPA_STATUSES = ("open", "investigation", "actions_in_progress", "effectiveness_check", "closed", "cancelled")

KINDS: dict[str, ReportKind] = {
    k.key: k
    for k in (
        ReportKind(
            "matrix-compliance",
            "Matrix compliance",
            "By department and job function, from the maintained state.",
            (Param("department", "Department", "department"),),
            lambda s, v, by, now: services.matrix_compliance(
                s, department_id=v.get("department"), generated_by=by, now=now
            ),
        ),
        ReportKind(
            "overdue",
            "Overdue training",
            "Open assignments past their due date at the as-of moment.",
            (Param("department", "Department", "department"),),
            lambda s, v, by, now: services.overdue(
                s, department_id=v.get("department"), generated_by=by, now=now
            ),
        ),
        ReportKind(
            "transcript",
            "Person transcript",
            "Signed completions, assignments and requirement status.",
            (Param("person", "Person (employee number)", "person", required=True),),
            lambda s, v, by, now: services.person_transcript(s, _need(v, "person"), generated_by=by, now=now),
        ),
        ReportKind(
            "document-training",
            "Document training status",
            "Per version: assigned and trained.",
            (Param("document", "Document code", "document", required=True),),
            lambda s, v, by, now: services.document_status(s, _need(v, "document"), generated_by=by, now=now),
        ),
        ReportKind(
            "capa-training",
            "CAPA training linkage",
            "Each assignment of each CAPA training action.",
            (
                Param("capa_id", "CAPA id", "int"),
                Param("status", "CAPA status", "select", options=CAPA_STATUSES),
            ),
            lambda s, v, by, now: quality.capa_training(
                s, capa_id=v.get("capa_id"), status=v.get("status") or None, generated_by=by, now=now
            ),
        ),
        ReportKind(
            "deviation-adequacy",
            "Deviation training adequacy",
            "As-of training of the people involved.",
            (Param("deviation_id", "Deviation id", "int", required=True),),
            lambda s, v, by, now: quality.deviation_adequacy(
                s, _need(v, "deviation_id"), generated_by=by, now=now
            ),
        ),
        ReportKind(
            "audit-trail",
            "Audit trail",
            "Who, when, what, old and new values, why (first 1,000 rows).",
            (
                Param("entity_type", "Record type (e.g. qms_capa)"),
                Param("entity_id", "Record id"),
                Param("since", "Since", "date"),
                Param("until", "Until", "date"),
            ),
            lambda s, v, by, now: quality.audit_trail(
                s,
                entity_type=v.get("entity_type") or None,
                entity_id=v.get("entity_id") or None,
                since=v.get("since"),
                until=v.get("until") or now,
                limit=min(1000, AUDIT_TRAIL_MAX_ROWS),
                verify=False,
                generated_by=by,
                now=now,
            ),
        ),
    )
}


def get_kind(key: str) -> ReportKind:
    """The report ``key`` or :class:`NotFound`."""
    if key not in KINDS:
        raise NotFound(f"there is no report {key!r}", field="report")
    return KINDS[key]
