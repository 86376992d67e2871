"""The people directory: a person's summary and the filtered list of people."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from bridge.core.people import Person, get_person
from qms.org import services as org
from qms.org.models import Employment, Leave
from qms.org.services import MEMBERSHIPS


def person_summary(session: Session, person_id: int, *, now: dt.datetime) -> dict[str, Any]:
    """The person with their employment and memberships in force at ``now``."""
    person = get_person(session, person_id)
    employment = org.employment_of(session, person_id)
    current = org.current_memberships(session, person_id, now)
    leave = session.scalar(select(Leave).where(Leave.person_id == person_id, Leave.ends_at.is_(None)))
    return {
        "id": person.id,
        "display_name": person.display_name,
        "email": person.email,
        "employee_no": person.employee_no,
        "active": person.active,
        "employed": employment is not None,
        "hired_at": employment.hired_at if employment else None,
        "on_leave": leave is not None,
        "department_ids": [m.department_id for m in current["department"]],
        "job_function_ids": [m.job_function_id for m in current["job_function"]],
        "equipment_ids": [m.equipment_id for m in current["equipment"]],
    }


def list_people(
    session: Session,
    *,
    department_id: int | None = None,
    job_function_id: int | None = None,
    equipment_id: int | None = None,
    employed: bool | None = None,
    limit: int = 500,
    offset: int = 0,
    now: dt.datetime,
) -> list[dict[str, Any]]:
    """People, optionally those in a department, job function or equipment at ``now``, or (not) employed."""
    query = select(Person.id, Person.display_name, Person.employee_no, Person.active).order_by(Person.id)
    for unit_id, (model, column) in (
        (department_id, MEMBERSHIPS["department"]),
        (job_function_id, MEMBERSHIPS["job_function"]),
        (equipment_id, MEMBERSHIPS["equipment"]),
    ):
        if unit_id is not None:
            query = query.where(
                Person.id.in_(
                    select(model.person_id).where(
                        getattr(model, column) == unit_id,
                        model.valid_from <= now,
                        or_(model.valid_to.is_(None), model.valid_to > now),
                    )
                )
            )
    employed_ids = select(Employment.person_id).where(Employment.terminated_at.is_(None))
    if employed is True:
        query = query.where(Person.id.in_(employed_ids))
    elif employed is False:
        query = query.where(Person.id.not_in(employed_ids))
    rows = session.execute(query.limit(limit).offset(offset)).all()
    employed_now = set(
        session.scalars(employed_ids.where(Employment.person_id.in_([r.id for r in rows] or [0])))
    )
    return [
        {
            "id": r.id,
            "display_name": r.display_name,
            "employee_no": r.employee_no,
            "active": r.active,
            "employed": r.id in employed_now,
        }
        for r in rows
    ]
