"""Documents in the console: the register (search and filters), a document with its versions and
who is trained on which version, and a version's lifecycle: draft, attach the controlled file,
submit, approve or reject, make obsolete (each signature through the e-signature dialog).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlalchemy import func, select

from bridge.core import signatures
from bridge.core.console import console_page, signature_input
from bridge.core.console.tables import Column, paginate, table_request
from bridge.core.errors import ValidationFailed
from bridge.core.people import Person
from bridge.core.uow import UnitOfWork
from qms.changes.console import parse_datetime
from qms.changes.models import ChangeControlDocument
from qms.documents import approval, effective_dates
from qms.documents import services as documents
from qms.documents.models import Document, DocumentVersion
from qms.policy import QmsPolicy
from qms.roles import APPROVERS, AUTHORS, READERS
from qms.training.models import COMPLIANCE_STATUSES, ComplianceState

pages = Blueprint("documents_console", __name__, url_prefix="/console/documents",
                  template_folder="../templates")

COLUMNS = [
    Column("code", "Code", sort=Document.code),
    Column("title", "Title", sort=Document.title),
    Column("type", "Type", sort=Document.doc_type),
    Column("versions", "Versions"),
]
PEOPLE_COLUMNS = [
    Column("name", "Person", sort=Person.display_name),
    Column("status", "Status", sort=ComplianceState.status),
    Column("trained", "Trained on"),
    Column("due", "Due", sort=ComplianceState.due_at),
]
VERSION_STATUSES = ("draft", "in_review", "approved", "effective", "superseded", "obsolete")
MAX_UPLOAD = 50 * 1024 * 1024


@pages.get("/")
@console_page(*READERS)
def register(uow: UnitOfWork) -> Any:
    """The document register: search by code or title, filter by type and version status."""
    table = table_request(COLUMNS, default_sort="code")
    statement = select(Document)
    if q := request.args.get("q", "").strip():
        like = f"%{q.lower()}%"
        statement = statement.where(func.lower(Document.code).like(like)
                                    | func.lower(Document.title).like(like))
    if doc_type := request.args.get("type"):
        statement = statement.where(Document.doc_type == doc_type)
    if status := request.args.get("status"):
        statement = statement.where(Document.id.in_(
            select(DocumentVersion.document_id).where(DocumentVersion.status == status)))
    page = paginate(uow.session, statement.with_only_columns(
        Document.id, Document.code, Document.title, Document.doc_type), table, scalars=False,
        tiebreak=[Document.id])
    versions: dict[int, list[Any]] = {}
    for row in uow.session.execute(
            select(DocumentVersion.id, DocumentVersion.document_id, DocumentVersion.label,
                   DocumentVersion.status)
            .where(DocumentVersion.document_id.in_([d.id for d in page.items]))
            .order_by(DocumentVersion.document_id, DocumentVersion.seq)):
        versions.setdefault(row.document_id, []).append(row)
    types = list(uow.session.scalars(select(Document.doc_type).distinct().order_by(Document.doc_type)))
    return render_template("console/documents/register.html", page=page, table=table, columns=COLUMNS,
                           versions=versions,
                           type_options=[(t, t) for t in types],
                           status_options=[(s, s.replace('_', ' ')) for s in VERSION_STATUSES],
                           page_title="Documents")


@pages.post("/")
@console_page(*AUTHORS)
def create(uow: UnitOfWork) -> Any:
    """Register a new document."""
    document = documents.create_document(uow, code=request.form.get("code", ""),
                                         title=request.form.get("title", ""),
                                         doc_type=request.form.get("doc_type") or "SOP")
    flash(f"{document.code} registered; draft its first version.")
    return redirect(url_for(".document", document_id=document.id), code=303)


@pages.get("/<id:document_id>")
@console_page(*READERS)
def document(document_id: int, uow: UnitOfWork) -> Any:
    """A document: its versions with their trained percentage, and who is trained on which."""
    session = uow.session
    doc = documents.get_document(session, document_id)
    item = documents.item_of_document(session, document_id)
    figures = {v.id: effective_dates.trained_percentage(session, v.item_version_id)
               for v in doc.versions if v.item_version_id and v.status in ("approved", "effective")}
    labels = {v.item_version_id: v.label for v in doc.versions}
    table = table_request(PEOPLE_COLUMNS, default_sort="name")
    statement = (select(ComplianceState.person_id, Person.display_name, ComplianceState.status,
                        ComplianceState.trained_version_id, ComplianceState.due_at)
                 .join(Person, Person.id == ComplianceState.person_id)
                 .where(ComplianceState.training_item_id == item.id))
    if status := request.args.get("status"):
        statement = statement.where(ComplianceState.status == status)
    people = paginate(session, statement, table, scalars=False, tiebreak=[ComplianceState.id])
    return render_template("console/documents/document.html", doc=doc, figures=figures, labels=labels,
                           people=people, table=table, columns=PEOPLE_COLUMNS,
                           statuses=COMPLIANCE_STATUSES, page_title=f"{doc.code} · {doc.title}")


@pages.post("/<id:document_id>/versions")
@console_page(*AUTHORS)
def draft(document_id: int, uow: UnitOfWork) -> Any:
    """Draft a new version with its major/minor decision."""
    form = request.form
    revision = form.get("revision", "major")
    retrain = True if revision == "major" else form.get("retrain") == "yes"
    iris = [line.strip() for line in form.get("activity_iris", "").splitlines() if line.strip()]
    version = documents.create_version(
        uow, document_id, label=form.get("label", "").strip(), revision=revision, retrain=retrain,
        impact_rationale=form.get("impact_rationale") or None,
        change_summary=form.get("change_summary") or None, activity_iris=iris)
    flash(f"Version {version.label} drafted; attach its controlled file.")
    return redirect(url_for(".version", version_id=version.id), code=303)


@pages.get("/versions/<id:version_id>")
@console_page(*READERS)
def version(version_id: int, uow: UnitOfWork) -> Any:
    """A version: facts, lifecycle actions, its change control and its signatures."""
    session = uow.session
    ver = documents.get_version(session, version_id)
    link = session.scalar(select(ChangeControlDocument).where(
        ChangeControlDocument.document_version_id == ver.id))
    figures = gate = None
    if ver.item_version is not None:
        figures = effective_dates.trained_percentage(session, ver.item_version.id)
        gate = effective_dates.effective_gate(ver.item_version, uow.policy(QmsPolicy))
    return render_template(
        "console/documents/version.html", ver=ver, change=link.change_control if link else None,
        figures=figures, gate=gate,
        signed=_signatures_of_version(session, ver),
        page_title=f"{ver.document.code} version {ver.label}")


def _signatures_of_version(session: Any, ver: DocumentVersion) -> list[Any]:
    """The version's own signatures and the approval it carries (a change control's, if so)."""
    signed = signatures.signatures_of(session, "qms_document_version", ver.id)
    if ver.approval_signature_id and all(s.id != ver.approval_signature_id for s in signed):
        approval_signature = session.get(signatures.ElectronicSignature, ver.approval_signature_id)
        signed = sorted([*signed, approval_signature], key=lambda s: s.id)
    return signed


@pages.post("/versions/<id:version_id>/file")
@console_page(*AUTHORS)
def attach(version_id: int, uow: UnitOfWork) -> Any:
    """Attach the controlled file of a draft version."""
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ValidationFailed("choose the controlled file to attach", field="file")
    content = upload.read(MAX_UPLOAD + 1)
    if len(content) > MAX_UPLOAD:
        raise ValidationFailed("the file is larger than 50 MB", field="file")
    documents.attach_file(uow, version_id, content=content, file_name=upload.filename,
                          media_type=upload.mimetype or "application/octet-stream")
    flash("Controlled file attached.")
    return redirect(url_for(".version", version_id=version_id), code=303)


@pages.post("/versions/<id:version_id>/submit")
@console_page(*AUTHORS)
def submit(version_id: int, uow: UnitOfWork) -> Any:
    """Send a draft version to review."""
    approval.submit_version(uow, version_id)
    flash("Version sent to review.")
    return redirect(url_for(".version", version_id=version_id), code=303)


@pages.post("/versions/<id:version_id>/approve")
@console_page(*APPROVERS)
def approve(version_id: int, uow: UnitOfWork) -> Any:
    """Approve a version under review with an e-signature and an effective date."""
    signed = signature_input()
    effective_at = parse_datetime(request.form.get("effective_at", ""), "effective_at")
    _version, created = approval.approve_version(uow, version_id, effective_at=effective_at,
                                                 **signed.credentials())
    flash(f"Version approved and signed; {len(created)} assignments created.")
    return redirect(url_for(".version", version_id=version_id), code=303)


@pages.post("/versions/<id:version_id>/reject")
@console_page(*APPROVERS)
def reject(version_id: int, uow: UnitOfWork) -> Any:
    """Return a version under review to draft, signed, with the reason."""
    signed = signature_input(comment_required=True)
    approval.return_to_draft(uow, version_id, comment=signed.comment, **signed.credentials())
    flash("Version returned to draft; rejection signed.")
    return redirect(url_for(".version", version_id=version_id), code=303)


@pages.post("/versions/<id:version_id>/obsolete")
@console_page(*APPROVERS)
def obsolete(version_id: int, uow: UnitOfWork) -> Any:
    """Withdraw an effective version, signed, with the reason."""
    signed = signature_input(comment_required=True)
    approval.make_obsolete(uow, version_id, reason=signed.comment, **signed.credentials())
    flash("Version made obsolete; its open assignments were cancelled.")
    return redirect(url_for(".version", version_id=version_id), code=303)
