"""``/api/v1`` routes of the training matrix: requirements, import/export and matrix compliance."""

from __future__ import annotations

from typing import Any

from flask import Response

from bridge.core.errors import ValidationFailed
from bridge.core.uow import UnitOfWork
from qms import views as qms_views
from qms.api import api
from qms.roles import AUTHORS, READERS
from qms.schemas import ReasonOnly
from qms.training import matrix, matrix_files, standing
from qms.training import services as training
from qms.training.matrix_files import XLSX_TYPE
from qms.training.schemas import (
    MatrixFormat,
    MatrixImportQuery,
    MatrixReportQuery,
    RequirementCreate,
    RequirementUpdate,
)
from qms.views import FILE_CONTENT


@api.route("GET", "/requirements", summary="The matrix in force", tags=["matrix"], roles=READERS)
def list_requirements(uow: UnitOfWork) -> list[dict[str, Any]]:
    """Every requirement in force (retired ones remain for as-of questions)."""
    return [qms_views.as_dict(r) for r in matrix.active_requirements(uow.session, uow.clock.now())]


@api.route(
    "POST",
    "/requirements",
    summary="Add a matrix cell",
    tags=["matrix"],
    body=RequirementCreate,
    roles=AUTHORS,
    status=201,
)
def add_requirement(body: RequirementCreate, uow: UnitOfWork) -> dict[str, Any]:
    """Everyone in scope who is not trained gets an assignment in the same transaction."""
    requirement, created = matrix.add_requirement(uow, **body.model_dump())
    result = {**qms_views.as_dict(requirement), "assignments_created": len(created)}
    return result


@api.route(
    "PATCH",
    "/requirements/{requirement_id}",
    summary="Change periodic retraining",
    tags=["matrix"],
    body=RequirementUpdate,
    roles=AUTHORS,
)
def update_requirement(requirement_id: int, body: RequirementUpdate, uow: UnitOfWork) -> dict[str, Any]:
    """Interval and grace period; audited with the reason."""
    requirement = matrix.update_requirement(uow, requirement_id, **body.model_dump())
    result = qms_views.as_dict(requirement)
    return result


@api.route(
    "POST",
    "/requirements/{requirement_id}/retire",
    summary="Retire a matrix cell",
    tags=["matrix"],
    body=ReasonOnly,
    roles=AUTHORS,
)
def retire_requirement(requirement_id: int, body: ReasonOnly, uow: UnitOfWork) -> dict[str, Any]:
    """Kept for the past; obligations only it caused are cancelled."""
    requirement = matrix.retire_requirement(uow, requirement_id, reason=body.reason)
    result = qms_views.as_dict(requirement)
    return result


@api.route(
    "GET",
    "/matrix/export",
    summary="Export the matrix as CSV or XLSX",
    tags=["matrix"],
    roles=READERS,
    query=MatrixFormat,
    response_content={
        "text/csv": {"schema": {"type": "string"}},
        XLSX_TYPE: {"schema": {"type": "string", "format": "binary"}},
    },
)
def export_matrix(query: MatrixFormat, uow: UnitOfWork) -> Response:
    """Columns: scope, scope_code, item_code, retrain_interval_days, grace_days."""
    if query.format == "xlsx":
        return Response(
            matrix_files.export_xlsx(uow.session, uow.clock.now()),
            mimetype=XLSX_TYPE,
            headers={"Content-Disposition": 'attachment; filename="training-matrix.xlsx"'},
        )
    return Response(
        matrix_files.export_csv(uow.session, uow.clock.now()),
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="training-matrix.csv"'},
    )


@api.route(
    "POST",
    "/matrix/import",
    summary="Import the matrix from CSV or XLSX (all rows or none)",
    tags=["matrix"],
    roles=AUTHORS,
    query=MatrixImportQuery,
    request_content={
        "text/csv": {"schema": {"type": "string"}},
        XLSX_TYPE: {"schema": {"type": "string", "format": "binary"}},
        **FILE_CONTENT,
    },
)
def import_matrix(query: MatrixImportQuery, uow: UnitOfWork) -> dict[str, Any]:
    """A bad row is reported with its row number and nothing is imported."""
    content, _name, _media = qms_views.upload()
    if not content:
        raise ValidationFailed("the file is empty", field="file")
    rows = matrix_files.parse_xlsx(content) if query.format == "xlsx" else matrix_files.parse_csv(content)
    outcome = matrix_files.import_matrix(
        uow, rows, content=content, file_format=query.format, replace=query.replace
    )
    return outcome.__dict__


@api.route(
    "GET",
    "/matrix/compliance",
    summary="Matrix compliance by department and job function",
    tags=["compliance"],
    roles=READERS,
    query=MatrixReportQuery,
)
def matrix_compliance(query: MatrixReportQuery, uow: UnitOfWork) -> dict[str, Any]:
    """Now: from the maintained compliance state (one grouped scan); at a moment: by the as-of rule."""
    if query.at is not None:
        return standing.matrix_as_of(uow.session, query.at, department_id=query.department_id)
    return training.matrix_report(uow.session, now=uow.clock.now(), department_id=query.department_id)
