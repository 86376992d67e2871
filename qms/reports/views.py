"""``/api/v1/reports`` routes: every report as JSON, CSV or PDF (``?format=`` or the Accept header).

Quality staff and auditors (read-only) read every report; a learner reads only their own
transcript.
"""

from __future__ import annotations

import logging

from flask import Response, request

from bridge.core.errors import Forbidden
from bridge.core.uow import UnitOfWork
from bridge.core.web import current_actor
from qms.api import api, json_response
from qms.reports import quality as quality_reports
from qms.reports import render as rendering
from qms.reports import services as reports
from qms.reports.models import FORMATS, Report
from qms.reports.schemas import AuditTrailQuery, CapaReportQuery, DepartmentReportQuery, FormatQuery
from qms.roles import READERS

logger = logging.getLogger(__name__)


TAGS = ("reports",)


CONTENT = {
    "application/json": {"schema": {"type": "object", "description": "metadata, summary, sections and data"}},
    "text/csv": {
        "schema": {"type": "string", "description": "a 'section' column, then the report's columns"}
    },
    "application/pdf": {"schema": {"type": "string", "format": "binary"}},
}


def _format(asked: str | None) -> str:
    if asked:
        return asked
    best = request.accept_mimetypes.best_match(list(FORMATS.values()), default="application/json")
    return next((k for k, v in FORMATS.items() if v == best), "json")


def _generated_by() -> str:
    actor = current_actor()
    assert actor is not None
    return f"{actor.display_name or actor.username} ({actor.username})"


def respond(report: Report, asked: str | None) -> Response:
    """The report in the format asked for (CSV and PDF as attachments)."""
    fmt = _format(asked)
    logger.info("report %s as %s for %s", report.key, fmt, report.generated_by)
    if fmt == "json":
        return json_response(rendering.to_json(report))
    content, media_type = rendering.render(report, fmt)
    stamp = report.generated_at.strftime("%Y%m%dT%H%M%SZ")
    return Response(
        content,
        mimetype=media_type.split(";")[0],
        content_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{report.key}-{stamp}.{fmt}"',
            "Cache-Control": "no-store",
        },
    )


@api.route(
    "GET",
    "/reports/transcript/{person_id}",
    summary="Person transcript (JSON, CSV, PDF)",
    tags=TAGS,
    query=FormatQuery,
    response_content=CONTENT,
)
def transcript_report(person_id: int, query: FormatQuery, uow: UnitOfWork) -> Response:
    """Signed completions, assignments and requirement status; a learner reads only their own."""
    actor = current_actor()
    assert actor is not None
    if actor.person_id != person_id and not actor.has_role(*READERS):
        raise Forbidden("a learner reads only their own transcript", field="person_id", code="not_own_record")
    report = reports.person_transcript(
        uow.session, person_id, generated_by=_generated_by(), now=uow.clock.now()
    )
    return respond(report, query.format)


@api.route(
    "GET",
    "/reports/document-training/{document_id}",
    summary="Document training status (JSON, CSV, PDF)",
    tags=TAGS,
    roles=READERS,
    query=FormatQuery,
    response_content=CONTENT,
)
def document_training_report(document_id: int, query: FormatQuery, uow: UnitOfWork) -> Response:
    """Per version: assigned and trained; each person's current state."""
    return respond(
        reports.document_status(uow.session, document_id, generated_by=_generated_by(), now=uow.clock.now()),
        query.format,
    )


@api.route(
    "GET",
    "/reports/matrix-compliance",
    summary="Matrix compliance by department and job function (JSON, CSV, PDF)",
    tags=TAGS,
    roles=READERS,
    query=DepartmentReportQuery,
    response_content=CONTENT,
)
def matrix_compliance_report(query: DepartmentReportQuery, uow: UnitOfWork) -> Response:
    """From the maintained compliance state, with department totals."""
    return respond(
        reports.matrix_compliance(
            uow.session,
            department_id=query.department_id,
            generated_by=_generated_by(),
            now=uow.clock.now(),
            at=query.at,
        ),
        query.format,
    )


@api.route(
    "GET",
    "/reports/overdue",
    summary="Overdue training (JSON, CSV, PDF)",
    tags=TAGS,
    roles=READERS,
    query=DepartmentReportQuery,
    response_content=CONTENT,
)
def overdue_report(query: DepartmentReportQuery, uow: UnitOfWork) -> Response:
    """Open assignments past their due date, oldest first."""
    return respond(
        reports.overdue(
            uow.session,
            department_id=query.department_id,
            generated_by=_generated_by(),
            now=uow.clock.now(),
            at=query.at,
        ),
        query.format,
    )


@api.route(
    "GET",
    "/reports/capa-training",
    summary="CAPA training linkage (JSON, CSV, PDF)",
    tags=TAGS,
    roles=READERS,
    query=CapaReportQuery,
    response_content=CONTENT,
)
def capa_training_report(query: CapaReportQuery, uow: UnitOfWork) -> Response:
    """Each assignment of each CAPA training action, open ones blocking closure; signatures of one CAPA."""
    return respond(
        quality_reports.capa_training(
            uow.session,
            capa_id=query.capa_id,
            status=query.status,
            generated_by=_generated_by(),
            now=uow.clock.now(),
            at=query.at,
        ),
        query.format,
    )


@api.route(
    "GET",
    "/reports/deviation-adequacy/{deviation_id}",
    summary="Deviation training adequacy (JSON, CSV, PDF)",
    tags=TAGS,
    roles=READERS,
    query=FormatQuery,
    response_content=CONTENT,
)
def deviation_adequacy_report(deviation_id: int, query: FormatQuery, uow: UnitOfWork) -> Response:
    """Computed now by the as-of rule, with every recorded assessment and its signature."""
    return respond(
        quality_reports.deviation_adequacy(
            uow.session, deviation_id, generated_by=_generated_by(), now=uow.clock.now()
        ),
        query.format,
    )


@api.route(
    "GET",
    "/reports/audit-trail",
    summary="Audit trail by record and time (JSON, CSV, PDF)",
    tags=TAGS,
    roles=READERS,
    query=AuditTrailQuery,
    response_content=CONTENT,
)
def audit_trail_report(query: AuditTrailQuery, uow: UnitOfWork) -> Response:
    """Who, when (UTC), what, old and new values, why; oldest first, up to ``limit`` rows."""
    return respond(
        quality_reports.audit_trail(
            uow.session,
            entity_type=query.entity_type,
            entity_id=query.entity_id,
            since=query.since,
            until=query.until,
            limit=query.limit,
            verify=query.verify,
            generated_by=_generated_by(),
            now=uow.clock.now(),
        ),
        query.format,
    )
