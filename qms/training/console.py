"""Assignments in the console: the filtered list (person, department, item, status, due, source),
bulk actions (extend the due date, cancel; each with a reason, audited), trainer actions on the
listed item (attendance roster, OJT sign-off, course result), and a learner's own training.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlalchemy import func, select

from bridge.core.console import console_page, signature_input
from bridge.core.console.tables import Column, paginate, table_request
from bridge.core.errors import ValidationFailed
from bridge.core.people import Person
from bridge.core.uow import UnitOfWork
from qms.changes.console import parse_datetime
from qms.documents.models import TrainingItem, TrainingItemVersion
from qms.org import services as org
from qms.org.models import PersonDepartment
from qms.roles import ASSIGNERS, READERS, TRAINERS
from qms.training import assignment_admin, completions
from qms.training import services as training
from qms.training.models import ASSIGNMENT_STATUSES, Assignment

pages = Blueprint("training_console", __name__, url_prefix="/console/training",
                  template_folder="../templates")

COLUMNS = [
    Column("person", "Person", sort=Person.display_name),
    Column("item", "Item", sort=TrainingItem.code),
    Column("version", "Version"),
    Column("reason", "Reason", sort=Assignment.reason),
    Column("due", "Due", sort=Assignment.due_at),
    Column("status", "Status", sort=Assignment.status),
]
DUE_SOON_DAYS = 14


def assignment_query(now: dt.datetime, args: Any) -> Any:
    """The assignment rows the list's filters select (``args``: the query string)."""
    statement = (select(Assignment.id, Assignment.status, Assignment.due_at, Assignment.reason,
                        Assignment.source_type, Assignment.source_id, Assignment.item_version_id,
                        Person.id.label("person_id"), Person.display_name, TrainingItem.code,
                        TrainingItem.title, TrainingItem.kind, TrainingItemVersion.label)
                 .join(Person, Person.id == Assignment.person_id)
                 .join(TrainingItem, TrainingItem.id == Assignment.training_item_id)
                 .join(TrainingItemVersion, TrainingItemVersion.id == Assignment.item_version_id))
    if person := args.get("person", "").strip():
        statement = statement.where(Person.id == int(person)) if person.isdigit() else \
            statement.where(func.lower(Person.display_name).like(f"%{person.lower()}%"))
    if (department := args.get("department", "")).isdigit():
        statement = statement.where(Assignment.person_id.in_(select(PersonDepartment.person_id).where(
            PersonDepartment.department_id == int(department), PersonDepartment.valid_from <= now,
            PersonDepartment.valid_to.is_(None) | (PersonDepartment.valid_to > now))))
    if item := args.get("item", "").strip():
        statement = statement.where(TrainingItem.code == item)
    status = args.get("status", "")
    if status == "due_soon":
        statement = statement.where(Assignment.status.in_(("open", "content_complete")),
                                    Assignment.due_at >= now,
                                    Assignment.due_at < now + dt.timedelta(days=DUE_SOON_DAYS))
    elif status == "open_any":
        statement = statement.where(Assignment.status.in_(("open", "content_complete", "overdue")))
    elif status in ASSIGNMENT_STATUSES:
        statement = statement.where(Assignment.status == status)
    for name, compare in (("due_from", Assignment.due_at.__ge__), ("due_to", Assignment.due_at.__lt__)):
        if value := args.get(name, "").strip():
            statement = statement.where(compare(parse_datetime(value, name)))
    if source := args.get("source", "").strip():
        kind, _, ident = source.partition(":")
        statement = statement.where(Assignment.source_type == kind)
        if ident.isdigit():
            statement = statement.where(Assignment.source_id == int(ident))
    return statement


@pages.get("/assignments")
@console_page(*READERS)
def assignments(uow: UnitOfWork) -> Any:
    """The assignment list with its filters, bulk and trainer actions."""
    now = uow.clock.now()
    table = table_request(COLUMNS, default_sort="due")
    page = paginate(uow.session, assignment_query(now, request.args), table, scalars=False,
                    tiebreak=[Assignment.id])
    item = None
    if code := request.args.get("item", "").strip():
        item = uow.session.scalar(select(TrainingItem).where(TrainingItem.code == code))
    statuses = [(s, s.replace("_", " ")) for s in ("open_any", *ASSIGNMENT_STATUSES, "due_soon")]
    departments = [(u.id, u.code) for u in org.list_units(uow.session, "department")]
    return render_template("console/training/assignments.html", page=page, table=table, columns=COLUMNS,
                           item=item, status_options=statuses, department_options=departments,
                           page_title="Assignments")


def _checked() -> list[int]:
    ids = [int(v) for v in request.form.getlist("assignment_ids") if v.isdigit()]
    if not ids:
        raise ValidationFailed("tick at least one assignment", field="assignment_ids")
    return ids


def _people_of(uow: UnitOfWork, ids: list[int]) -> tuple[int, list[int]]:
    """The one item version and the people of the ticked assignments (trainer actions)."""
    rows = uow.session.execute(select(Assignment.item_version_id, Assignment.person_id)
                               .where(Assignment.id.in_(ids))).all()
    versions = {r.item_version_id for r in rows}
    if len(versions) != 1:
        raise ValidationFailed("a trainer action applies to assignments of one item version; "
                               "filter the list by item first", field="assignment_ids")
    return versions.pop(), sorted({r.person_id for r in rows})


@pages.post("/assignments")
@console_page(*ASSIGNERS)
def bulk(uow: UnitOfWork) -> Any:
    """Apply the chosen bulk or trainer action to the ticked assignments."""
    action = request.form.get("action", "")
    ids = _checked()
    reason = request.form.get("reason", "").strip()
    if action == "extend":
        due = parse_datetime(request.form.get("due_at", ""), "due_at")
        done = assignment_admin.extend_due_dates(uow, ids, due, reason=reason)
        flash(f"{len(done)} due dates moved to {due:%Y-%m-%d}.")
    elif action == "cancel":
        done = assignment_admin.cancel(uow, ids, reason=reason)
        flash(f"{len(done)} assignments cancelled.")
    elif action in ("attendance", "ojt", "course"):
        uow.actor.require(*TRAINERS, action="a trainer action")
        version_id, people = _people_of(uow, ids)
        if action == "course":
            score = request.form.get("score", "").strip()
            try:
                scaled = float(score) / 100 if score else None
            except ValueError:
                raise ValidationFailed("the score is a percentage", field="score") from None
            passed = True if request.form.get("passed") else None
            recorded = [completions.record_course_result(uow, person_id=p, item_version_id=version_id,
                                                         score_scaled=scaled, passed=passed)
                        for p in people]
            flash(f"Course result recorded for {sum(1 for r in recorded if r)} of {len(people)} people.")
        else:
            signed = signature_input()
            if action == "attendance":
                completions.record_attendance(uow, version_id, person_ids=people,
                                              session_note=signed.comment or None, **signed.credentials())
                flash(f"Attendance of {len(people)} people signed.")
            else:
                for person_id in people:
                    completions.record_ojt_signoff(uow, version_id, person_id=person_id,
                                                   comment=signed.comment or None, **signed.credentials())
                flash(f"On-the-job assessment signed off for {len(people)} people.")
    else:
        raise ValidationFailed("choose an action", field="action")
    return redirect(request.full_path if request.query_string else url_for(".assignments"), code=303)


@pages.get("/mine")
@console_page()
def mine(uow: UnitOfWork) -> Any:
    """The signed-in person's own assignments and completions."""
    person_id = uow.actor.person_id
    if person_id is None:
        raise ValidationFailed("your account is not linked to a person", field="person_id")
    record = training.transcript(uow.session, person_id, now=uow.clock.now())
    return render_template("console/training/mine.html", record=record, page_title="My training")
