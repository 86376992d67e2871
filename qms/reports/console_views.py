"""Console pages of the inspector's canned questions (``/console/inspection``): one click answers
each as of the console's inspection moment (``bridge.core.console.as_of_or_now``), as HTML, CSV or
PDF, with the moment printed on the page and in every export. Readers and auditors; read-only.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Response, render_template, request
from sqlalchemy import select

from bridge.core.console import as_of_or_now, console_page
from bridge.core.errors import NotFound, ValidationFailed
from bridge.core.people import Person
from bridge.core.uow import UnitOfWork
from qms.capa.models import Capa
from qms.changes.models import ChangeControl
from qms.deviations.models import Deviation
from qms.org.models import Department
from qms.reports import inspection
from qms.reports import render as rendering
from qms.reports.models import Report
from qms.roles import READERS

logger = logging.getLogger(__name__)

pages = Blueprint("inspection_console", __name__, url_prefix="/console/inspection",
                  template_folder="templates")
SHOWN_ROWS = 500


def _generated_by(uow: UnitOfWork) -> str:
    return f"{uow.actor.display_name or uow.actor.username} ({uow.actor.username})"


def _int(args: Mapping[str, str], name: str) -> int | None:
    raw = (args.get(name) or "").strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise ValidationFailed(f"{name} must be a number", field=name)
    return int(raw)


def _person(uow: UnitOfWork, args: Mapping[str, str]) -> int | None:
    """The person the question names: ``person_id``, or a unique match of ``person`` (a name)."""
    if (pid := _int(args, "person_id")) is not None:
        return pid
    name = (args.get("person") or "").strip()
    if not name:
        return None
    found = list(uow.session.scalars(select(Person.id).where(Person.display_name.ilike(f"%{name}%"))
                                     .order_by(Person.display_name).limit(2)))
    if not found:
        raise NotFound(f"nobody is called {name!r}", field="person")
    if len(found) > 1:
        raise ValidationFailed(f"more than one person matches {name!r}: type more of the name",
                               field="person")
    return found[0]


def build(uow: UnitOfWork, question: str, args: Mapping[str, str], at: dt.datetime) -> Report:
    """The answer to ``question`` (its parameters in ``args``) as of ``at``."""
    common = {"at": at, "generated_by": _generated_by(uow), "now": uow.clock.now()}
    session = uow.session
    if question == "trained-before-effective":
        version_id = _int(args, "version_id")
        if version_id is None:
            raise ValidationFailed("choose a document version", field="version_id")
        return inspection.trained_before_effective(session, version_id, **common)
    if question == "qualified-at":
        return inspection.qualified_at(session, person_id=_person(uow, args),
                                       department_id=_int(args, "department_id"), **common)
    if question == "deviation-adequacy":
        deviation_id = _int(args, "deviation_id")
        if deviation_id is None:
            raise ValidationFailed("choose a deviation", field="deviation_id")
        return inspection.deviation_adequacy(session, deviation_id, **common)
    if question == "change-control-assignments":
        change_id = _int(args, "change_id")
        if change_id is None:
            raise ValidationFailed("choose a change control", field="change_id")
        return inspection.change_control_assignments(session, change_id, **common)
    if question == "open-capa-training":
        return inspection.open_capa_training(session, **common)
    if question == "overdue-by-department":
        return inspection.overdue_by_department(session, department_id=_int(args, "department_id"),
                                                **common)
    raise NotFound(f"no inspection question {question!r}", field="question")


@pages.get("/")
@console_page(*READERS)
def index(uow: UnitOfWork) -> Any:
    """The canned questions with their pickers."""
    session = uow.session
    at = as_of_or_now(uow)
    choices = {
        "versions": inspection.version_choices(session),
        "departments": [(d.id, f"{d.code} {d.name}") for d in
                        session.scalars(select(Department).order_by(Department.code))],
        "deviations": [(d.id, f"{d.number} {d.title}") for d in session.scalars(
            select(Deviation).where(Deviation.created_at <= at).order_by(Deviation.number))],
        "changes": [(c.id, f"{c.number} {c.title}") for c in session.scalars(
            select(ChangeControl).where(ChangeControl.created_at <= at)
            .order_by(ChangeControl.number))],
        "capas": session.scalar(select(Capa.id).limit(1)) is not None,
    }
    return render_template("reports/console/inspection_index.html", questions=inspection.QUESTIONS,
                           choices=choices, moment=at, page_title="Inspection questions")


@pages.get("/<question>")
@console_page(*READERS)
def answer(question: str, uow: UnitOfWork) -> Any:
    """One question answered as of the inspection moment: HTML, or ``?format=csv|pdf``."""
    report = build(uow, question, request.args, as_of_or_now(uow))
    fmt = request.args.get("format", "html")
    logger.info("inspection question %s as of %s for %s (%s)", question,
                report.filters.get("as_of"), uow.actor.username, fmt)
    if fmt in ("csv", "pdf"):
        content, media_type = rendering.render(report, fmt)
        if fmt == "csv":
            head = (f"# {report.title}\r\n# as of {report.filters['as_of']:%Y-%m-%d %H:%M:%S} UTC, "
                    f"generated by {report.generated_by}\r\n").encode()
            content = content.replace(b"\xef\xbb\xbf", b"", 1)
            content = b"\xef\xbb\xbf" + head + content
        return Response(content, content_type=media_type, headers={
            "Content-Disposition": f'attachment; filename="{report.key}.{fmt}"',
            "Cache-Control": "no-store"})
    if fmt != "html":
        raise ValidationFailed("format is html, csv or pdf", field="format")
    return render_template("reports/console/inspection_answer.html", report=report,
                           question=question, asked=inspection.QUESTIONS.get(question),
                           moment=report.filters["as_of"], shown=SHOWN_ROWS,
                           page_title=inspection.QUESTIONS.get(question, question))


def export_pdf(uow: UnitOfWork, params: dict[str, Any], progress: Any) -> tuple[bytes, str, str]:
    """The worker's export of a question's answer as PDF (``bridge.core.pages.exports_jobs``)."""
    at = dt.datetime.fromisoformat(params["as_of"])
    progress(20, "answering the question")
    report = build(uow, params.get("question", ""), params, at)
    rows = sum(len(s.rows) for s in report.sections)
    progress(60, f"writing the PDF ({rows} rows)")
    content, media_type = rendering.render(report, "pdf")
    return content, media_type, f"{report.key}.pdf"
