"""Deviations in the console: the list, recording one (when it happened, the people and documents
involved), its page with the training adequacy panel computed for the moment it occurred, the
signed assessment, linking a CAPA and the signed closure.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, flash, redirect, render_template, request, url_for

from bridge.core.console import console_page, register_menu, signature_input
from bridge.core.console.tables import Column, paginate, table_request
from bridge.core.signatures import signatures_of
from bridge.core.uow import UnitOfWork
from qms import console_forms as forms
from qms.deviations import assessments
from qms.deviations import services as deviations
from qms.deviations.models import ADEQUACY_CONCLUSIONS, CLASSIFICATIONS, DEVIATION_STATUSES, Deviation
from qms.roles import APPROVERS, AUTHORS, READERS

pages = Blueprint(
    "deviations_console", __name__, url_prefix="/console/deviations", template_folder="templates"
)

COLUMNS = [
    Column("number", "Number", sort=Deviation.number),
    Column("title", "Title", sort=Deviation.title),
    Column("classification", "Classification", sort=Deviation.classification),
    Column("status", "Status", sort=Deviation.status),
    Column("occurred", "Occurred", sort=Deviation.occurred_at),
]


@pages.get("/")
@console_page(*READERS)
def index(uow: UnitOfWork) -> Any:
    """Deviations filtered by status and classification, searched by number or title."""
    table = table_request(COLUMNS, default_sort="number", default_descending=True)
    statement = deviations.list_statement(
        status=request.args.get("status"),
        classification=request.args.get("classification"),
        search=request.args.get("q"),
    )
    page = paginate(uow.session, statement, table, tiebreak=[Deviation.id.desc()])
    return render_template(
        "deviations/console/index.html",
        page=page,
        table=table,
        columns=COLUMNS,
        statuses=DEVIATION_STATUSES,
        classifications=CLASSIFICATIONS,
        page_title="Deviations",
    )


@pages.route("/new", methods=["GET", "POST"])
@console_page(*AUTHORS)
def new(uow: UnitOfWork) -> Any:
    """Record a deviation: when it occurred and was discovered, the people and documents involved."""
    if request.method == "POST":
        form, session = request.form, uow.session
        deviation = deviations.create_deviation(
            uow,
            title=form.get("title", ""),
            description=form.get("description") or None,
            classification=form.get("classification", ""),
            occurred_at=forms.parse_datetime(form.get("occurred_at"), "occurred_at"),
            discovered_at=forms.parse_datetime(form.get("discovered_at"), "discovered_at", required=False),
            person_ids=forms.people(session, form.get("people"), "people"),
            document_ids=forms.documents(session, form.get("documents"), "documents"),
        )
        flash(f"{deviation.number} recorded.")
        return redirect(url_for(".detail", deviation_id=deviation.id), code=303)
    return render_template(
        "deviations/console/new.html", classifications=CLASSIFICATIONS, page_title="Record a deviation"
    )


@pages.get("/<int:deviation_id>")
@console_page(*READERS)
def detail(deviation_id: int, uow: UnitOfWork) -> Any:
    """A deviation: facts, people and documents, training adequacy at the moment it occurred."""
    session = uow.session
    deviation = deviations.get_deviation(session, deviation_id)
    return render_template(
        "deviations/console/detail.html",
        deviation=deviation,
        involved=deviations.involved(session, deviation),
        adequacy=assessments.training_adequacy(session, deviation),
        recorded=deviations.assessments_of(session, deviation.id),
        capas=deviations.linked_capa_rows(session, deviation.id),
        conclusions=ADEQUACY_CONCLUSIONS,
        signatures=signatures_of(session, "qms_deviation", deviation.id),
        page_title=f"{deviation.number}: {deviation.title}",
    )


def _back(deviation_id: int) -> Any:
    return redirect(url_for(".detail", deviation_id=deviation_id), code=303)


@pages.post("/<int:deviation_id>/involved")
@console_page(*AUTHORS)
def set_involved(deviation_id: int, uow: UnitOfWork) -> Any:
    """Replace the people and documents involved, with the reason."""
    form, session = request.form, uow.session
    deviations.set_involved(
        uow,
        deviation_id,
        person_ids=forms.people(session, form.get("people"), "people"),
        document_ids=forms.documents(session, form.get("documents"), "documents"),
        reason=form.get("reason", ""),
    )
    flash("People and documents involved updated.")
    return _back(deviation_id)


@pages.post("/<int:deviation_id>/investigation")
@console_page(*AUTHORS)
def start_investigation(deviation_id: int, uow: UnitOfWork) -> Any:
    """Open → under investigation."""
    deviations.start_investigation(uow, deviation_id)
    flash("Investigation started.")
    return _back(deviation_id)


@pages.post("/<int:deviation_id>/capa")
@console_page(*AUTHORS)
def link_capa(deviation_id: int, uow: UnitOfWork) -> Any:
    """Link an existing CAPA (by its id)."""
    capa = deviations.link_capa(uow, deviation_id, forms.int_arg(request.form.get("capa_id")) or 0)
    flash(f"{capa.number} linked.")
    return _back(deviation_id)


@pages.post("/<int:deviation_id>/assessment")
@console_page(*APPROVERS)
def assess(deviation_id: int, uow: UnitOfWork) -> Any:
    """Conclude and sign the training adequacy assessment (the computed result is frozen)."""
    sig = signature_input()
    assessments.record_assessment(
        uow,
        deviation_id,
        conclusion=request.form.get("conclusion", ""),
        rationale=request.form.get("rationale", ""),
        **sig.credentials(),
    )
    flash("Training adequacy assessment recorded and signed.")
    return _back(deviation_id)


@pages.post("/<int:deviation_id>/close")
@console_page(*APPROVERS)
def close(deviation_id: int, uow: UnitOfWork) -> Any:
    """Close with the investigation's conclusion (e-signature)."""
    sig = signature_input()
    deviations.close_deviation(
        uow, deviation_id, conclusion=request.form.get("conclusion", ""), **sig.credentials()
    )
    flash("Deviation closed and signed.")
    return _back(deviation_id)


def init_app(app: Flask) -> None:
    """Serve the deviation pages and list them under "Quality events"."""
    app.register_blueprint(pages)
    register_menu(app, "Quality events", "Deviations", "deviations_console.index", roles=READERS, order=20)
