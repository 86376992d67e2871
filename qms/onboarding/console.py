"""Onboarding a site in the console: the document register and legacy training imports (each file
checked row by row before anything is saved, the legacy batch e-signed by its importer), identity
reconciliation with a human decision on each match, and the signed day-0 cut-over with its report.

Every page calls the same services as ``/api/v1`` (``qms.onboarding.*``); nothing here decides.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

from flask import Blueprint, Flask, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from bridge.core.console import console_page, register_menu, signature_input
from bridge.core.errors import ValidationFailed
from bridge.core.uow import UnitOfWork
from qms import console_forms as forms
from qms.onboarding import cutover, document_register, reconciliation, training_history
from qms.onboarding.models import Cutover, ImportBatch
from qms.roles import APPROVERS, AUTHORS, ORG_MANAGERS, READERS

pages = Blueprint(
    "onboarding_console", __name__, url_prefix="/console/onboarding", template_folder="templates"
)

# A browser upload; larger files go through the API or `gxpbridge qms onboarding` (with progress).
MAX_UPLOAD = 20 * 1024 * 1024


def _format_of(name: str) -> str:
    return "xlsx" if name.lower().endswith(".xlsx") else "csv"


def _upload() -> tuple[bytes, str]:
    """The chosen file, or the checked file carried by the confirmation form (base64)."""
    return forms.checked_upload(
        request.files,
        request.form,
        max_bytes=MAX_UPLOAD,
        too_large="the file is larger than 20 MB: import it with the API or `gxpbridge qms onboarding`",
    )


def _row_errors(uow: UnitOfWork, exc: ValidationFailed) -> list[dict[str, Any]]:
    """The bad rows of a refused file (nothing was written: the refusal comes before any write)."""
    uow.rollback()
    return list(
        (exc.details or {}).get("errors") or [{"row": None, "field": exc.field, "message": exc.message}]
    )


@pages.get("/")
@console_page(*READERS)
def index(uow: UnitOfWork) -> Any:
    """The steps of onboarding and the files imported so far, newest first."""
    batches = list(uow.session.scalars(select(ImportBatch).order_by(ImportBatch.id.desc()).limit(200)))
    cutovers = list(uow.session.scalars(select(Cutover).order_by(Cutover.id.desc()).limit(50)))
    return render_template(
        "onboarding/console/index.html", batches=batches, cutovers=cutovers, page_title="Onboarding"
    )


@pages.route("/documents", methods=["GET", "POST"])
@console_page(*AUTHORS)
def documents(uow: UnitOfWork) -> Any:
    """Import the document register: every row or none, the bad rows shown."""
    context: dict[str, Any] = {"page_title": "Import the document register"}
    if request.method == "POST":
        content, name = _upload()
        uploaded = {f.filename: f.read() for f in request.files.getlist("files") if f.filename}
        try:
            outcome = document_register.import_register(
                uow, content, file_format=_format_of(name), file_name=name, uploaded=uploaded
            )
        except ValidationFailed as exc:
            context.update(errors=_row_errors(uow, exc), refusal=exc.message, filename=name)
        else:
            flash(
                f"{name}: {outcome['documents']} document(s) and {outcome['versions']} version(s) imported "
                f"({outcome['files']} controlled file(s)); batch {outcome['batch_id']}, "
                f"SHA-256 {outcome['sha256']}."
            )
            return redirect(url_for(".index"), code=303)
    return render_template("onboarding/console/documents.html", **context)


@pages.get("/training")
@console_page(*AUTHORS)
def training_form(uow: UnitOfWork) -> Any:
    """Choose a file of legacy training records to check."""
    return render_template("onboarding/console/training.html", page_title="Import legacy training records")


@pages.post("/training/check")
@console_page(*AUTHORS)
def training_check(uow: UnitOfWork) -> Any:
    """What the file would create, its refused rows with the reason, and the compliance picture
    before and after; nothing is saved.
    """
    content, name = _upload()
    source = (request.form.get("source_system") or "").strip() or None
    try:
        preview = training_history.import_history(
            uow, content, file_format=_format_of(name), file_name=name, source_system=source, preview=True
        )
    except ValidationFailed as exc:
        return render_template(
            "onboarding/console/training.html",
            errors=_row_errors(uow, exc),
            refusal=exc.message,
            filename=name,
            page_title="Import legacy training records",
        )
    uow.rollback()  # the preview ran inside a savepoint that was undone; keep nothing else either
    return render_template(
        "onboarding/console/training.html",
        preview=preview,
        filename=name,
        source_system=source or "",
        content=base64.b64encode(content).decode("ascii"),
        page_title="Import legacy training records",
    )


@pages.post("/training")
@console_page(*AUTHORS)
def training_import(uow: UnitOfWork) -> Any:
    """Import the checked file under the importer's e-signature (all rows, or the good ones)."""
    content, name = _upload()
    signature = signature_input()
    outcome = training_history.import_history(
        uow,
        content,
        file_format=_format_of(name),
        file_name=name,
        source_system=(request.form.get("source_system") or "").strip() or None,
        skip_refused=request.form.get("skip_refused") == "1",
        username=signature.username,
        password=signature.password,
    )
    after = outcome["compliance"]["after"]
    flash(
        f"{name}: {outcome['completions']} migrated completion(s) imported and signed (batch "
        f"{outcome['batch_id']}); {outcome['refused']} row(s) refused; {after['qualified']} of "
        f"{after['people']} people qualified now."
    )
    return redirect(url_for(".index"), code=303)


@pages.get("/identities")
@console_page(*READERS)
def identities(uow: UnitOfWork) -> Any:
    """LMS accounts and xAPI actors that may be HR people, with the evidence; decisions taken."""
    return render_template(
        "onboarding/console/identities.html",
        candidates=reconciliation.candidates(uow.session),
        decisions=reconciliation.decisions(uow.session, limit=100),
        page_title="Identity reconciliation",
    )


@pages.post("/identities/decide")
@console_page(*ORG_MANAGERS)
def decide(uow: UnitOfWork) -> Any:
    """Accept (link the identities) or reject one match, with the reason (audited)."""
    form = request.form
    try:
        person_id = int(form.get("person_id", ""))
    except ValueError:
        raise ValidationFailed("the match names no person", field="person_id") from None
    reconciliation.decide(
        uow,
        source=form.get("source", ""),
        source_key=form.get("source_key", ""),
        person_id=person_id,
        decision=form.get("decision", ""),
        reason=form.get("reason", "").strip(),
    )
    flash(f"Match {form.get('decision')}: {form.get('source_label') or form.get('source_key')}.")
    return redirect(url_for(".identities"), code=303)


@pages.get("/cutover")
@console_page(*READERS)
def cutover_page(uow: UnitOfWork) -> Any:
    """Sign the day-0 cut-over; the cut-overs signed and their reports."""
    return render_template(
        "onboarding/console/cutover.html",
        cutovers=list(uow.session.scalars(select(Cutover).order_by(Cutover.id.desc()).limit(50))),
        now=uow.clock.now(),
        page_title="Day-0 cut-over",
    )


@pages.post("/cutover")
@console_page(*APPROVERS)
def cutover_sign(uow: UnitOfWork) -> Any:
    """QA signs every person's qualification as of the cut-over moment (UTC; now when empty)."""
    signature = signature_input()
    text = (request.form.get("at") or "").strip()
    at = None
    if text:
        try:
            at = dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)
        except ValueError:
            raise ValidationFailed("the cut-over moment is a date and time (UTC)", field="at") from None
    signed = cutover.sign_cutover(uow, username=signature.username, password=signature.password, at=at)
    flash(
        f"Cut-over signed: {signed.qualified} of {signed.people} people qualified at "
        f"{signed.cutover_at:%Y-%m-%d %H:%M} UTC."
    )
    return redirect(url_for(".cutover_page"), code=303)


def init_app(app: Flask) -> None:
    """Serve the onboarding pages and list them under "Administration"."""
    app.register_blueprint(pages)
    register_menu(app, "Administration", "Onboarding", "onboarding_console.index", roles=READERS, order=60)
