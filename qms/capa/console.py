"""CAPA in the console: the list with filters, opening one, and a CAPA's page (its actions, the
training its training actions assigned, the lifecycle steps with e-signatures, closure refused with
the reason and the open assignments listed, the signature manifest).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, flash, redirect, render_template, request, url_for

from bridge.core.console import console_page, register_menu, signature_input
from bridge.core.console.tables import Column, page_of, paginate, table_request
from bridge.core.signatures import signatures_of
from bridge.core.uow import UnitOfWork
from qms import console_forms as forms
from qms.capa import actions as capa_actions
from qms.capa import lifecycle
from qms.capa import services as capas
from qms.capa.models import ACTION_KINDS, CAPA_SOURCES, CAPA_STATUSES, Capa
from qms.roles import APPROVERS, AUTHORS, READERS

pages = Blueprint("capa_console", __name__, url_prefix="/console/capa", template_folder="templates")

COLUMNS = [
    Column("number", "Number", sort=Capa.number),
    Column("title", "Title", sort=Capa.title),
    Column("status", "Status", sort=Capa.status),
    Column("source", "Source", sort=Capa.source),
    Column("owner", "Owner"),
    Column("due", "Due", sort=Capa.due_at),
]
TRAINING_COLUMNS = [
    Column("action", "Action"),
    Column("person", "Person"),
    Column("item", "Item"),
    Column("version", "Version"),
    Column("status", "Status"),
    Column("due", "Due"),
]


@pages.get("/")
@console_page(*READERS)
def index(uow: UnitOfWork) -> Any:
    """CAPAs filtered by status and source, searched by number or title."""
    table = table_request(COLUMNS, default_sort="number", default_descending=True)
    statement = capas.list_statement(
        status=request.args.get("status"), source=request.args.get("source"), search=request.args.get("q")
    )
    page = paginate(uow.session, statement, table, scalars=False, tiebreak=[Capa.id.desc()])
    return render_template(
        "capa/console/index.html",
        page=page,
        table=table,
        columns=COLUMNS,
        statuses=CAPA_STATUSES,
        sources=CAPA_SOURCES,
        page_title="CAPA",
    )


@pages.route("/new", methods=["GET", "POST"])
@console_page(*AUTHORS)
def new(uow: UnitOfWork) -> Any:
    """Open a CAPA (the owner named by employee number)."""
    if request.method == "POST":
        form = request.form
        owner = forms.people(uow.session, form.get("owner"), "owner")
        capa = capas.create_capa(
            uow,
            title=form.get("title", ""),
            description=form.get("description") or None,
            source=form.get("source", ""),
            source_reference=form.get("source_reference") or None,
            owner_person_id=owner[0] if owner else 0,
            due_at=forms.parse_datetime(form.get("due_at"), "due_at"),
            deviation_id=forms.int_arg(form.get("deviation_id")),
        )
        flash(f"{capa.number} opened.")
        return redirect(url_for(".detail", capa_id=capa.id), code=303)
    return render_template("capa/console/new.html", sources=CAPA_SOURCES, page_title="Open a CAPA")


@pages.get("/<int:capa_id>")
@console_page(*READERS)
def detail(capa_id: int, uow: UnitOfWork) -> Any:
    """A CAPA: facts, actions, the training its training actions rely on, steps and signatures."""
    session = uow.session
    capa = capas.get_capa(session, capa_id)
    linkage = capas.training_linkage(session, capa)
    open_rows = [row for row in linkage if row["open"]]
    table = table_request(TRAINING_COLUMNS, per_page=50)
    training = page_of(linkage, table)
    return render_template(
        "capa/console/detail.html",
        capa=capa,
        training=training,
        training_table=table,
        training_columns=TRAINING_COLUMNS,
        open_rows=open_rows[:200],
        open_count=len(open_rows),
        names=capas.action_targets(session, capa),
        kinds=ACTION_KINDS,
        signatures=signatures_of(session, "qms_capa", capa.id),
        page_title=f"{capa.number}: {capa.title}",
    )


def _back(capa_id: int) -> Any:
    return redirect(url_for(".detail", capa_id=capa_id), code=303)


@pages.post("/<int:capa_id>/investigation")
@console_page(*AUTHORS)
def start_investigation(capa_id: int, uow: UnitOfWork) -> Any:
    """Open → investigation."""
    capas.start_investigation(uow, capa_id)
    flash("Investigation started.")
    return _back(capa_id)


@pages.post("/<int:capa_id>/root-cause")
@console_page(*AUTHORS)
def root_cause(capa_id: int, uow: UnitOfWork) -> Any:
    """Record the root cause (during the investigation)."""
    capas.record_root_cause(uow, capa_id, root_cause=request.form.get("root_cause", ""))
    flash("Root cause recorded.")
    return _back(capa_id)


@pages.post("/<int:capa_id>/actions")
@console_page(*AUTHORS)
def add_action(capa_id: int, uow: UnitOfWork) -> Any:
    """Add an action; a training action names items and people and/or job functions."""
    form, session = request.form, uow.session
    owner = forms.people(session, form.get("owner"), "owner")
    action, created = capa_actions.add_action(
        uow,
        capa_id,
        kind=form.get("kind", ""),
        description=form.get("description", ""),
        due_at=forms.parse_datetime(form.get("due_at"), "due_at"),
        owner_person_id=owner[0] if owner else None,
        training_item_ids=forms.items(session, form.get("items"), "items"),
        person_ids=forms.people(session, form.get("people"), "people"),
        job_function_ids=forms.job_functions(session, form.get("job_functions"), "job_functions"),
    )
    flash(f"Action {action.seq} added" + (f"; {len(created)} assignment(s) created." if created else "."))
    return _back(capa_id)


@pages.post("/<int:capa_id>/actions/<int:action_id>/complete")
@console_page(*AUTHORS)
def complete_action(capa_id: int, action_id: int, uow: UnitOfWork) -> Any:
    """Record a corrective or preventive action as done."""
    action = capa_actions.complete_action(uow, capa_id, action_id, note=request.form.get("note", ""))
    flash(f"Action {action.seq} recorded as done.")
    return _back(capa_id)


@pages.post("/<int:capa_id>/approve")
@console_page(*APPROVERS)
def approve(capa_id: int, uow: UnitOfWork) -> Any:
    """Approve the plan (e-signature)."""
    sig = signature_input()
    lifecycle.approve_plan(uow, capa_id, **sig.credentials())
    flash("Plan approved and signed.")
    return _back(capa_id)


@pages.post("/<int:capa_id>/effectiveness-check")
@console_page(*AUTHORS)
def effectiveness_check(capa_id: int, uow: UnitOfWork) -> Any:
    """Actions in progress → effectiveness check."""
    lifecycle.start_effectiveness_check(uow, capa_id)
    flash("Effectiveness check started.")
    return _back(capa_id)


@pages.post("/<int:capa_id>/close")
@console_page(*APPROVERS)
def close(capa_id: int, uow: UnitOfWork) -> Any:
    """Close (e-signature); refused while training is open (the page lists the open assignments)."""
    sig = signature_input()
    lifecycle.close_capa(
        uow, capa_id, effectiveness_summary=request.form.get("effectiveness_summary", ""), **sig.credentials()
    )
    flash("CAPA closed and signed.")
    return _back(capa_id)


@pages.post("/<int:capa_id>/cancel")
@console_page(*APPROVERS)
def cancel(capa_id: int, uow: UnitOfWork) -> Any:
    """Cancel (e-signature with the reason)."""
    sig = signature_input(comment_required=True)
    lifecycle.cancel_capa(uow, capa_id, reason=sig.comment, **sig.credentials())
    flash("CAPA cancelled and signed.")
    return _back(capa_id)


def init_app(app: Flask) -> None:
    """Serve the CAPA pages and list them under "Quality events"."""
    app.register_blueprint(pages)
    register_menu(app, "Quality events", "CAPA", "capa_console.index", roles=READERS, order=10)
