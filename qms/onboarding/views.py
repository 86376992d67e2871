"""``/api/v1`` routes of onboarding: document register and legacy training imports, identity
reconciliation, the signed day-0 cut-over and its report.
"""

from __future__ import annotations

from typing import Any

from flask import Response, request
from sqlalchemy import select

from bridge.core.errors import ValidationFailed
from bridge.core.uow import UnitOfWork
from bridge.core.web import current_actor
from qms import views as qms_views
from qms.api import api
from qms.onboarding import cutover, document_register, reconciliation, training_history
from qms.onboarding.models import ImportBatch
from qms.onboarding.schemas import CutoverRequest, LegacyImportQuery, MatchDecision, RegisterImportQuery
from qms.reports import views as report_views
from qms.reports.schemas import FormatQuery
from qms.roles import APPROVERS, AUTHORS, ORG_MANAGERS, READERS
from qms.training.matrix_files import XLSX_TYPE
from qms.views import FILE_CONTENT

TAGS = ("onboarding",)
UPLOAD = {
    "text/csv": {"schema": {"type": "string"}},
    XLSX_TYPE: {"schema": {"type": "string", "format": "binary"}},
    **FILE_CONTENT,
}


def _generated_by() -> str:
    actor = current_actor()
    assert actor is not None
    return f"{actor.display_name or actor.username} ({actor.username})"


@api.route(
    "POST",
    "/documents/import",
    summary="Import the document register (CSV/XLSX, all rows or none)",
    tags=TAGS,
    roles=AUTHORS,
    query=RegisterImportQuery,
    request_content=UPLOAD,
    status=201,
)
def import_document_register(query: RegisterImportQuery, uow: UnitOfWork) -> dict[str, Any]:
    """Documents with current and past versions (past effective dates allowed: migrated history).

    Multipart: the register in ``file``, the controlled files its ``file_name`` column names in
    ``files`` (each named by its file name). A bad row is reported with its row number, column
    and reason, and nothing is imported.
    """
    content, name, _media = qms_views.upload()
    uploaded = {f.filename: f.read() for f in request.files.getlist("files") if f.filename}
    return document_register.import_register(
        uow, content, file_format=query.format, file_name=name, uploaded=uploaded
    )


@api.route(
    "POST",
    "/training/legacy-import",
    summary="Import legacy training records (CSV/XLSX; ?preview=true)",
    tags=TAGS,
    roles=AUTHORS,
    query=LegacyImportQuery,
    request_content=UPLOAD,
)
def import_legacy_training(query: LegacyImportQuery, uow: UnitOfWork) -> dict[str, Any]:
    """Completions from a spreadsheet or an old LMS, marked migrated.

    ``preview=true`` answers what would be created, the refused rows with their reasons and the
    compliance picture before and after, and writes nothing. The import itself (multipart form
    fields ``username`` and ``password``: the importer's e-signature on the batch and its SHA-256)
    takes every row or none unless ``skip_refused=true``.
    """
    content, name, _media = qms_views.upload()
    if not content:
        raise ValidationFailed("the file is empty", field="file")
    return training_history.import_history(
        uow,
        content,
        file_format=query.format,
        file_name=name,
        source_system=query.source_system,
        preview=query.preview,
        skip_refused=query.skip_refused,
        username=request.form.get("username"),
        password=request.form.get("password"),
    )


@api.route(
    "GET",
    "/import-batches",
    summary="Imported files (batches) and their signatures",
    tags=TAGS,
    roles=READERS,
)
def list_import_batches(uow: UnitOfWork) -> list[dict[str, Any]]:
    """Newest first: kind, file, SHA-256, counts, importer, signature."""
    return [
        qms_views.as_dict(b) for b in uow.session.scalars(select(ImportBatch).order_by(ImportBatch.id.desc()))
    ]


@api.route(
    "GET", "/identity-matches", summary="Candidate identity matches (LTI, xAPI, HR)", tags=TAGS, roles=READERS
)
def list_identity_matches(uow: UnitOfWork) -> list[dict[str, Any]]:
    """LMS accounts and xAPI actors that may be HR people, with the evidence of each match."""
    return reconciliation.candidates(uow.session)


@api.route(
    "POST",
    "/identity-matches/decide",
    summary="Accept or reject a candidate identity match",
    tags=TAGS,
    roles=ORG_MANAGERS,
    body=MatchDecision,
)
def decide_identity_match(body: MatchDecision, uow: UnitOfWork) -> dict[str, Any]:
    """Accepting links the identities (no silent merge); every decision is audited with its reason."""
    return reconciliation.decide(uow, **body.model_dump())


@api.route(
    "GET", "/identity-matches/decisions", summary="Identity match decisions taken", tags=TAGS, roles=READERS
)
def list_identity_decisions(uow: UnitOfWork) -> list[dict[str, Any]]:
    """Newest first."""
    return [qms_views.as_dict(d) for d in reconciliation.decisions(uow.session)]


@api.route(
    "POST",
    "/cutovers",
    summary="Sign the day-0 cut-over (e-signature)",
    tags=TAGS,
    roles=APPROVERS,
    body=CutoverRequest,
    status=201,
)
def sign_cutover(body: CutoverRequest, uow: UnitOfWork) -> dict[str, Any]:
    """Qualification of every person as of the cut-over moment, from the imported history, signed by QA."""
    signed = cutover.sign_cutover(uow, username=body.username, password=body.password, at=body.at)
    return qms_views.as_dict(signed)


@api.route(
    "GET",
    "/reports/cutover/{cutover_id}",
    summary="Day-0 cut-over report (JSON, CSV, PDF)",
    tags=TAGS,
    roles=READERS,
    query=FormatQuery,
    response_content=report_views.CONTENT,
)
def cutover_report(cutover_id: int, query: FormatQuery, uow: UnitOfWork) -> Response:
    """Every person's qualification at the cut-over, the signature and whether it still matches."""
    made = cutover.report(uow.session, cutover_id, generated_by=_generated_by(), now=uow.clock.now())
    return report_views.respond(made, query.format)
