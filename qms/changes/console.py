"""Change control in the console: the list, opening one (affected versions, major/minor
decision), submitting, the preview of the assignments approval will create, approval or rejection
by e-signature, and the assignments it created.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlalchemy import func, select

from bridge.core import signatures
from bridge.core.console import console_page, signature_input
from bridge.core.console.tables import Column, paginate, table_request
from bridge.core.errors import ValidationFailed
from bridge.core.people import Person
from bridge.core.uow import UnitOfWork
from qms.changes import services as changes
from qms.changes.models import CHANGE_CONTROL_STATUSES, ChangeControl, ChangeControlDocument
from qms.documents.models import Document, DocumentVersion
from qms.policy import QmsPolicy
from qms.roles import APPROVERS, AUTHORS, READERS
from qms.training.models import Assignment

pages = Blueprint("changes_console", __name__, url_prefix="/console/changes", template_folder="../templates")

COLUMNS = [
    Column("number", "Number", sort=ChangeControl.number),
    Column("title", "Title", sort=ChangeControl.title),
    Column("status", "Status", sort=ChangeControl.status),
    Column("effective", "Effective", sort=ChangeControl.effective_at),
    Column("affected", "Affected documents"),
]

CREATED_SHOWN = 100  # people listed on the page; the assignment list pages through all of them


def parse_datetime(value: str, field: str) -> dt.datetime:
    """A date or date-time from a form, as UTC (a bare date means its start, 00:00 UTC)."""
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValidationFailed(f"{field.replace('_', ' ')} is not a date (YYYY-MM-DD)", field=field) from None
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)


@pages.get("/")
@console_page(*READERS)
def index(uow: UnitOfWork) -> Any:
    """Change controls, filtered by status and searched by number or title."""
    table = table_request(COLUMNS, default_sort="number", default_descending=True)
    statement = select(ChangeControl)
    if status := request.args.get("status"):
        statement = statement.where(ChangeControl.status == status)
    if q := request.args.get("q", "").strip():
        like = f"%{q.lower()}%"
        statement = statement.where(func.lower(ChangeControl.number).like(like)
                                    | func.lower(ChangeControl.title).like(like))
    page = paginate(uow.session, statement, table, tiebreak=[ChangeControl.id.desc()])
    return render_template("console/changes/index.html", page=page, table=table, columns=COLUMNS,
                           statuses=CHANGE_CONTROL_STATUSES, page_title="Change control")


def _changeable_versions(uow: UnitOfWork) -> list[Any]:
    taken = select(ChangeControlDocument.document_version_id)
    return list(uow.session.execute(
        select(DocumentVersion.id, DocumentVersion.label, DocumentVersion.revision,
               DocumentVersion.retrain, Document.code, Document.title)
        .join(Document, Document.id == DocumentVersion.document_id)
        .where(DocumentVersion.status.in_(("draft", "in_review")), DocumentVersion.id.not_in(taken))
        .order_by(Document.code, DocumentVersion.seq).limit(500)
    ).all())


@pages.route("/new", methods=["GET", "POST"])
@console_page(*AUTHORS)
def new(uow: UnitOfWork) -> Any:
    """Open a change control naming draft versions (their major/minor decision shown)."""
    if request.method == "POST":
        form = request.form
        ids = [int(v) for v in form.getlist("document_version_ids") if v.isdigit()]
        gate = form.get("min_trained_pct", "").strip()
        try:
            min_pct = float(gate) if gate else None
        except ValueError:
            raise ValidationFailed("the trained-percentage gate is a number",
                                   field="min_trained_pct") from None
        change = changes.create_change_control(
            uow, title=form.get("title", ""), description=form.get("description") or None,
            impact=form.get("impact") or None,
            effective_at=parse_datetime(form.get("effective_at", ""), "effective_at"),
            document_version_ids=ids, min_trained_pct=min_pct)
        flash(f"Change control {change.number} opened.")
        return redirect(url_for(".detail", change_id=change.id), code=303)
    return render_template("console/changes/new.html", versions=_changeable_versions(uow),
                           page_title="Open a change control")


@pages.get("/<id:change_id>")
@console_page(*READERS)
def detail(change_id: int, uow: UnitOfWork) -> Any:
    """One change control: affected versions, training impact, preview or created assignments."""
    session = uow.session
    change = changes.get_change_control(session, change_id)
    preview = changes.approval_preview(session, change, sample=CREATED_SHOWN) \
        if change.status in ("draft", "submitted") else []
    created = created_total = None
    if change.status in ("approved", "implemented"):
        mine = (Assignment.source_type == "change_control", Assignment.source_id == change.id)
        created_total = session.scalar(select(func.count()).select_from(Assignment).where(*mine))
        created = session.execute(
            select(Assignment.id, Assignment.status, Assignment.due_at, Assignment.item_version_id,
                   Person.id.label("person_id"), Person.display_name)
            .join(Person, Person.id == Assignment.person_id)
            .where(*mine).order_by(Person.display_name, Assignment.id).limit(CREATED_SHOWN)
        ).all()
    status = changes.training_status(session, change, uow.policy(QmsPolicy)) \
        if change.status in ("approved", "implemented") else []
    return render_template(
        "console/changes/detail.html", change=change, preview=preview, created=created,
        created_total=created_total,
        versions={link.document_version.item_version_id: link.document_version for link in change.affected},
        training=status, signed=signatures.signatures_of(session, "qms_change_control", change.id),
        page_title=f"{change.number} · {change.title}")


@pages.post("/<id:change_id>/submit")
@console_page(*AUTHORS)
def submit(change_id: int, uow: UnitOfWork) -> Any:
    """Submit a draft change control for approval."""
    change = changes.submit_change_control(uow, change_id)
    flash(f"{change.number} submitted for approval.")
    return redirect(url_for(".detail", change_id=change_id), code=303)


@pages.post("/<id:change_id>/approve")
@console_page(*APPROVERS)
def approve(change_id: int, uow: UnitOfWork) -> Any:
    """Approve with an e-signature: the versions are approved and the assignments created."""
    signed = signature_input()
    change, created = changes.approve_change_control(uow, change_id, **signed.credentials())
    flash(f"{change.number} approved and signed; {created} assignments created.")
    return redirect(url_for(".detail", change_id=change_id), code=303)


@pages.post("/<id:change_id>/reject")
@console_page(*APPROVERS)
def reject(change_id: int, uow: UnitOfWork) -> Any:
    """Reject with an e-signature and a reason; the versions return to draft."""
    signed = signature_input(comment_required=True)
    change = changes.reject_change_control(uow, change_id, comment=signed.comment, **signed.credentials())
    flash(f"{change.number} rejected and signed.")
    return redirect(url_for(".detail", change_id=change_id), code=303)
