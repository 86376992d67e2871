"""``/api/v1`` routes of controlled documents, their versions and controlled files."""

from __future__ import annotations

from typing import Any

from flask import Response
from sqlalchemy import select

from bridge.core.headers import send_upload
from bridge.core.uow import UnitOfWork
from qms import views as qms_views
from qms.api import api
from qms.documents import approval, effective_dates, presentations
from qms.documents import services as documents
from qms.documents.models import Document
from qms.documents.schemas import (
    ApproveRequest,
    DocumentCreate,
    ObsoleteRequest,
    RejectRequest,
    SubmitRequest,
    VersionCreate,
    VersionUpdate,
)
from qms.roles import AUTHORS, READERS
from qms.views import FILE_CONTENT


def _document_dict(document: Document) -> dict[str, Any]:
    return {**qms_views.as_dict(document), "versions": [version_dict(v) for v in document.versions]}


def version_dict(version: Any) -> dict[str, Any]:
    """A document version as the API shows it: columns, file and content references."""
    data = qms_views.as_dict(version)
    data["document_code"] = version.document.code
    data["file"] = (
        {
            "sha256": version.file.sha256,
            "size": version.file.size,
            "media_type": version.file.media_type,
            "name": version.file_name,
            "url": f"/api/v1/document-versions/{version.id}/file",
        }
        if version.file_id
        else None
    )
    iv = version.item_version
    data["content"] = {"activity_iris": list(iv.activity_iris or []), "lms_url": iv.lms_url} if iv else None
    return data


@api.route("GET", "/documents", summary="List documents", tags=["documents"], roles=READERS)
def list_documents(uow: UnitOfWork) -> list[dict[str, Any]]:
    """Every controlled document with its versions."""
    return [_document_dict(d) for d in uow.session.scalars(select(Document).order_by(Document.code))]


@api.route(
    "POST",
    "/documents",
    summary="Create a document (and its read-and-understand item)",
    tags=["documents"],
    body=DocumentCreate,
    roles=AUTHORS,
    status=201,
)
def create_document(body: DocumentCreate, uow: UnitOfWork) -> dict[str, Any]:
    """A new controlled document; versions are added as drafts."""
    document = documents.create_document(uow, code=body.code, title=body.title, doc_type=body.doc_type)
    result = _document_dict(document)
    result["training_item_id"] = documents.item_of_document(uow.session, document.id).id
    return result


@api.route(
    "GET",
    "/documents/{document_id}",
    summary="One document with its versions",
    tags=["documents"],
    roles=READERS,
)
def get_document(document_id: int, uow: UnitOfWork) -> dict[str, Any]:
    """The document, its versions and its training item."""
    document = documents.get_document(uow.session, document_id)
    result = _document_dict(document)
    result["training_item_id"] = documents.item_of_document(uow.session, document.id).id
    return result


@api.route(
    "POST",
    "/documents/{document_id}/versions",
    summary="Draft a new version",
    tags=["documents"],
    body=VersionCreate,
    roles=AUTHORS,
    status=201,
)
def create_version(document_id: int, body: VersionCreate, uow: UnitOfWork) -> dict[str, Any]:
    """Major revisions retrain; minor ones only when ``retrain`` is true (with a rationale)."""
    version = documents.create_version(uow, document_id, **body.model_dump())
    result = version_dict(version)
    return result


@api.route(
    "GET",
    "/document-versions/{version_id}",
    summary="One document version",
    tags=["documents"],
    roles=READERS,
)
def get_version(version_id: int, uow: UnitOfWork) -> dict[str, Any]:
    """The version, its file, content references and trained figures."""
    version = documents.get_version(uow.session, version_id)
    result = version_dict(version)
    result["training"] = effective_dates.trained_percentage(uow.session, version.item_version_id)
    return result


@api.route(
    "PATCH",
    "/document-versions/{version_id}",
    summary="Edit a draft version",
    tags=["documents"],
    body=VersionUpdate,
    roles=AUTHORS,
)
def update_version(version_id: int, body: VersionUpdate, uow: UnitOfWork) -> dict[str, Any]:
    """Only drafts change; every change is audited."""
    version = documents.update_version(uow, version_id, **body.model_dump(exclude_unset=True))
    result = version_dict(version)
    return result


@api.route(
    "PUT",
    "/document-versions/{version_id}/file",
    summary="Attach the controlled file of a draft",
    tags=["documents"],
    roles=AUTHORS,
    request_content=FILE_CONTENT,
)
def put_file(version_id: int, uow: UnitOfWork) -> dict[str, Any]:
    """Stored once by SHA-256; refused once the version has left draft."""
    content, name, media_type = qms_views.upload()
    version = documents.attach_file(uow, version_id, content=content, file_name=name, media_type=media_type)
    result = version_dict(version)
    return result


@api.route(
    "GET",
    "/document-versions/{version_id}/file",
    summary="Download the controlled file (its presentation to you is recorded)",
    tags=["documents"],
    response_content={"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    records_reads=True,
)
def get_file(version_id: int, uow: UnitOfWork) -> Response:
    """Quality staff, and learners who must read the document; each download is recorded (audited) as
    the document presented to the reader, which a "read and understood" signature requires first.
    """
    version, stored = presentations.present_file(uow, version_id, channel="rest")
    name = version.file_name or f"{version.document.code}-{version.label}"
    # A user upload: never served inline with the uploader's type on this origin (stored XSS).
    return send_upload(stored.content, name, headers={
        "X-Content-SHA256": stored.sha256, "ETag": f'"{stored.sha256}"', "Cache-Control": "private, no-store",
    })


@api.route(
    "POST",
    "/document-versions/{version_id}/submit",
    summary="Send a draft to review",
    tags=["documents"],
    body=SubmitRequest,
    roles=AUTHORS,
)
def submit_version(version_id: int, body: SubmitRequest, uow: UnitOfWork) -> dict[str, Any]:
    """Draft → in_review (needs its controlled file)."""
    version = approval.submit_version(uow, version_id, effective_at=body.effective_at)
    result = version_dict(version)
    return result


@api.route(
    "POST",
    "/document-versions/{version_id}/approve",
    summary="Approve a version (e-signature)",
    tags=["documents"],
    body=ApproveRequest,
    roles=("qa_approver",),
)
def approve_version(version_id: int, body: ApproveRequest, uow: UnitOfWork) -> dict[str, Any]:
    """in_review → approved; assignments for everyone who needs it, in the same transaction."""
    version, created = approval.approve_version(
        uow,
        version_id,
        username=body.username,
        password=body.password,
        effective_at=body.effective_at,
        lockout_threshold=qms_views.lockout(),
    )
    result = {**version_dict(version), "assignments_created": len(created)}
    return result


@api.route(
    "POST",
    "/document-versions/{version_id}/reject",
    summary="Return a version under review to draft",
    tags=["documents"],
    body=RejectRequest,
    roles=("qa_approver",),
)
def reject_version(version_id: int, body: RejectRequest, uow: UnitOfWork) -> dict[str, Any]:
    """in_review → draft, signed with the meaning 'rejected'."""
    version = approval.return_to_draft(
        uow,
        version_id,
        username=body.username,
        password=body.password,
        comment=body.comment,
        lockout_threshold=qms_views.lockout(),
    )
    result = version_dict(version)
    return result


@api.route(
    "POST",
    "/document-versions/{version_id}/obsolete",
    summary="Make an effective version obsolete",
    tags=["documents"],
    body=ObsoleteRequest,
    roles=("qa_approver",),
)
def obsolete_version(version_id: int, body: ObsoleteRequest, uow: UnitOfWork) -> dict[str, Any]:
    """Effective → obsolete; open assignments on the document are cancelled."""
    version = approval.make_obsolete(
        uow,
        version_id,
        username=body.username,
        password=body.password,
        reason=body.reason,
        lockout_threshold=qms_views.lockout(),
    )
    result = version_dict(version)
    return result
