"""People in the console: the directory, a person's profile (memberships and their history,
transcript, "qualified as of" any date) and the organisation events: hire, transfer, role change,
leave and return, termination (supervisors and QA authors, qms/roles.py ORG_MANAGERS).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlalchemy import func, select

from bridge.core.console import console_page
from bridge.core.console.tables import Column, paginate, table_request
from bridge.core.errors import ValidationFailed
from bridge.core.people import Person
from bridge.core.uow import UnitOfWork
from qms.changes.console import parse_datetime
from qms.org import directory
from qms.org import services as org
from qms.org.models import Department, Employment, PersonDepartment
from qms.roles import ORG_MANAGERS, READERS
from qms.training import asof
from qms.training import services as training

pages = Blueprint("people_console", __name__, url_prefix="/console/people",
                  template_folder="../templates")

COLUMNS = [
    Column("name", "Name", sort=Person.display_name),
    Column("number", "Employee no.", sort=Person.employee_no),
    Column("department", "Department"),
    Column("active", "Active"),
]


def _ids(name: str) -> list[int]:
    return [int(v) for v in request.form.getlist(name) if v.isdigit()]


def _reason() -> str:
    reason = request.form.get("reason", "").strip()
    if not reason:
        raise ValidationFailed("give the reason for this change", field="reason")
    return reason


def _units(uow: UnitOfWork) -> dict[str, list[Any]]:
    return {kind: [u for u in org.list_units(uow.session, kind) if u.active]
            for kind in ("department", "job_function", "equipment")}


@pages.get("/")
@console_page(*READERS)
def index(uow: UnitOfWork) -> Any:
    """The directory: search by name or number, filter by department (memberships in force now)."""
    now = uow.clock.now()
    table = table_request(COLUMNS, default_sort="name")
    in_force = (PersonDepartment.valid_from <= now) & (
        PersonDepartment.valid_to.is_(None) | (PersonDepartment.valid_to > now))
    statement = (select(Person.id, Person.display_name, Person.employee_no, Person.active,
                        Department.code.label("department"))
                 .outerjoin(PersonDepartment, (PersonDepartment.person_id == Person.id) & in_force)
                 .outerjoin(Department, Department.id == PersonDepartment.department_id))
    if q := request.args.get("q", "").strip():
        like = f"%{q.lower()}%"
        statement = statement.where(func.lower(Person.display_name).like(like)
                                    | func.lower(func.coalesce(Person.employee_no, "")).like(like))
    if department := request.args.get("department", ""):
        if department.isdigit():
            statement = statement.where(PersonDepartment.department_id == int(department))
    page = paginate(uow.session, statement, table, scalars=False, tiebreak=[Person.id])
    units = _units(uow)
    return render_template("console/people/index.html", page=page, table=table, columns=COLUMNS,
                           units=units, department_options=[(u.id, u.code) for u in units["department"]],
                           page_title="People")


@pages.post("/hire")
@console_page(*ORG_MANAGERS)
def hire(uow: UnitOfWork) -> Any:
    """Hire a new person into a department and job functions; their training is assigned."""
    form = request.form
    department = form.get("department_id", "")
    if not department.isdigit():
        raise ValidationFailed("choose the department", field="department_id")
    person, created = org.hire(uow, display_name=form.get("display_name", "").strip() or None,
                               email=form.get("email") or None, employee_no=form.get("employee_no") or None,
                               department_id=int(department), job_function_ids=_ids("job_function_ids"),
                               equipment_ids=_ids("equipment_ids"))
    flash(f"{person.display_name} hired; {len(created)} assignments created.")
    return redirect(url_for(".person", person_id=person.id), code=303)


@pages.get("/<id:person_id>")
@console_page(*READERS)
def person(person_id: int, uow: UnitOfWork) -> Any:
    """A person's profile: memberships and history, open assignments, transcript, as-of check."""
    session = uow.session
    now = uow.clock.now()
    summary = directory.person_summary(session, person_id, now=now)
    history = org.membership_history(session, person_id)
    all_units = {kind: org.list_units(session, kind) for kind in ("department", "job_function", "equipment")}
    names = {kind: {u.id: u for u in units} for kind, units in all_units.items()}
    record = training.transcript(session, person_id, now=now)
    at_text = request.args.get("at", "").strip()
    as_of = asof.as_of_person(session, person_id, parse_datetime(at_text, "at")) if at_text else None
    employments = list(session.scalars(select(Employment).where(Employment.person_id == person_id)
                                       .order_by(Employment.hired_at)))
    return render_template("console/people/person.html", summary=summary, history=history, names=names,
                           record=record, as_of=as_of, at_text=at_text, employments=employments,
                           units={kind: [u for u in units if u.active] for kind, units in all_units.items()},
                           page_title=summary["display_name"])


def _done(person_id: int, message: str) -> Any:
    flash(message)
    return redirect(url_for(".person", person_id=person_id), code=303)


@pages.post("/<id:person_id>/transfer")
@console_page(*ORG_MANAGERS)
def transfer(person_id: int, uow: UnitOfWork) -> Any:
    """Move the person to another department."""
    department = request.form.get("department_id", "")
    if not department.isdigit():
        raise ValidationFailed("choose the new department", field="department_id")
    created = org.transfer(uow, person_id, int(department), reason=_reason())
    return _done(person_id, f"Transferred; {len(created)} assignments created.")


@pages.post("/<id:person_id>/roles")
@console_page(*ORG_MANAGERS)
def roles(person_id: int, uow: UnitOfWork) -> Any:
    """Set the person's job functions (a role change)."""
    created = org.change_roles(uow, person_id, _ids("job_function_ids"), reason=_reason())
    return _done(person_id, f"Job functions changed; {len(created)} assignments created.")


@pages.post("/<id:person_id>/equipment")
@console_page(*ORG_MANAGERS)
def equipment(person_id: int, uow: UnitOfWork) -> Any:
    """Set the equipment the person operates."""
    created = org.set_equipment(uow, person_id, _ids("equipment_ids"), reason=_reason())
    return _done(person_id, f"Equipment changed; {len(created)} assignments created.")


@pages.post("/<id:person_id>/leave")
@console_page(*ORG_MANAGERS)
def leave(person_id: int, uow: UnitOfWork) -> Any:
    """Start a leave (exempt from obligations) or end it (obligations resume)."""
    if request.form.get("action") == "end":
        org.end_leave(uow, person_id, reason=_reason())
        return _done(person_id, "Back from leave; obligations resume.")
    org.start_leave(uow, person_id, reason=_reason())
    return _done(person_id, "Leave recorded; the person is exempt until they return.")


@pages.post("/<id:person_id>/terminate")
@console_page(*ORG_MANAGERS)
def terminate(person_id: int, uow: UnitOfWork) -> Any:
    """End the person's employment: memberships end, open assignments are cancelled."""
    org.terminate(uow, person_id, reason=_reason())
    return _done(person_id, "Employment ended; open assignments cancelled.")


