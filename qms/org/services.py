"""The organisation: departments, job functions and equipment; hiring, role changes, transfers,
equipment qualifications, leave and termination. Obligations follow each event in the same
transaction (``qms.training.compliance.sync_people``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from bridge.core.errors import Conflict, InvalidTransition, NotFound, ValidationFailed
from bridge.core.people import Person, create_person, get_person
from bridge.core.uow import UnitOfWork
from qms.org.models import (
    Department,
    Employment,
    Equipment,
    JobFunction,
    Leave,
    PersonDepartment,
    PersonEquipment,
    PersonJobFunction,
)
from qms.policy import QmsPolicy
from qms.roles import ORG_MANAGERS
from qms.training import assignments, compliance
from qms.training import state as compliance_state
from qms.training.models import ASSIGNMENT_REASONS, OPEN_ASSIGNMENT_STATUSES, Assignment, ComplianceState

UNIT_MODELS: dict[str, Any] = {"department": Department, "job_function": JobFunction, "equipment": Equipment}


MEMBERSHIPS: dict[str, tuple[Any, str]] = {
    "job_function": (PersonJobFunction, "job_function_id"),
    "department": (PersonDepartment, "department_id"),
    "equipment": (PersonEquipment, "equipment_id"),
}


def create_unit(uow: UnitOfWork, kind: str, code: str, name: str) -> Any:
    """Create a department, job function or piece of equipment."""
    uow.actor.require(*ORG_MANAGERS, action=f"creating a {kind.replace('_', ' ')}")
    model = UNIT_MODELS[kind]
    code = code.strip()
    if uow.session.scalar(select(model.id).where(model.code == code)):
        raise Conflict(
            f"the {kind.replace('_', ' ')} code {code!r} is already used", field="code", code="duplicate_code"
        )
    unit = model(code=code, name=name.strip())
    uow.session.add(unit)
    uow.session.flush()
    return unit


def get_unit(session: Session, kind: str, unit_id: int) -> Any:
    """Return a department, job function or equipment by id, or raise :class:`NotFound`."""
    unit = session.get(UNIT_MODELS[kind], unit_id)
    if unit is None:
        raise NotFound(f"{kind.replace('_', ' ')} {unit_id} does not exist", field=f"{kind}_id")
    return unit


def unit_by_code(session: Session, kind: str, code: str) -> Any | None:
    """Return the unit of ``kind`` with ``code`` or ``None``."""
    model = UNIT_MODELS[kind]
    return session.scalar(select(model).where(model.code == code))


def list_units(session: Session, kind: str) -> list[Any]:
    """Every unit of ``kind``, by code."""
    model = UNIT_MODELS[kind]
    return list(session.scalars(select(model).order_by(model.code)))


def employment_of(session: Session, person_id: int) -> Employment | None:
    """The person's current (not terminated) employment."""
    return session.scalar(
        select(Employment).where(Employment.person_id == person_id, Employment.terminated_at.is_(None))
    )


def current_memberships(session: Session, person_id: int, at: dt.datetime) -> dict[str, list[Any]]:
    """The person's job functions, department and equipment in force at ``at``."""
    found: dict[str, list[Any]] = {}
    for kind, (model, _column) in MEMBERSHIPS.items():
        found[kind] = list(
            session.scalars(
                select(model)
                .where(
                    model.person_id == person_id,
                    model.valid_from <= at,
                    or_(model.valid_to.is_(None), model.valid_to > at),
                )
                .order_by(model.valid_from)
            )
        )
    return found


def membership_history(session: Session, person_id: int) -> dict[str, list[Any]]:
    """Every dated membership of the person, oldest first."""
    return {
        kind: list(
            session.scalars(
                select(model).where(model.person_id == person_id).order_by(model.valid_from, model.id)
            )
        )
        for kind, (model, _column) in MEMBERSHIPS.items()
    }


def _require_units(session: Session, kind: str, ids: list[int]) -> None:
    for unit_id in ids:
        unit = get_unit(session, kind, unit_id)
        if not unit.active:
            raise ValidationFailed(f"{kind.replace('_', ' ')} {unit.code} is inactive", field=f"{kind}_ids")


def hire(
    uow: UnitOfWork,
    *,
    display_name: str | None = None,
    person_id: int | None = None,
    email: str | None = None,
    employee_no: str | None = None,
    department_id: int,
    job_function_ids: list[int],
    equipment_ids: list[int] | None = None,
    policy: QmsPolicy | None = None,
) -> tuple[Person, list[int]]:
    """Hire a person (new or existing without a current employment) and assign their training.

    Returns:
        The person and the ids of the assignments created.
    """
    uow.actor.require(*ORG_MANAGERS, action="hiring a person")
    session = uow.session
    equipment_ids = equipment_ids or []
    if not job_function_ids:
        raise ValidationFailed("a new hire needs at least one job function", field="job_function_ids")
    get_unit(session, "department", department_id)
    _require_units(session, "department", [department_id])
    _require_units(session, "job_function", job_function_ids)
    _require_units(session, "equipment", equipment_ids)
    if person_id is not None:
        person = get_person(session, person_id)
        if employment_of(session, person.id) is not None:
            raise Conflict(
                f"person {person.id} is already employed", field="person_id", code="already_employed"
            )
        person.active = True
    else:
        if not display_name:
            raise ValidationFailed("a new hire needs a name or an existing person id", field="display_name")
        person = create_person(session, display_name, email=email, employee_no=employee_no)
    now = uow.clock.now()
    with uow.because("new hire"):
        session.add(Employment(person_id=person.id, hired_at=now))
        session.add(PersonDepartment(person_id=person.id, department_id=department_id, valid_from=now))
        for jf in sorted(set(job_function_ids)):
            session.add(PersonJobFunction(person_id=person.id, job_function_id=jf, valid_from=now))
        for eq in sorted(set(equipment_ids)):
            session.add(PersonEquipment(person_id=person.id, equipment_id=eq, valid_from=now))
    created = compliance.sync_people(
        uow, [person.id], reason="new_hire", source_type="person", source_id=person.id, now=now, policy=policy
    )
    return person, created


def _require_employed(session: Session, person_id: int) -> Employment:
    get_person(session, person_id)
    employment = employment_of(session, person_id)
    if employment is None:
        raise InvalidTransition(
            f"person {person_id} is not employed: hire them first", field="person_id", code="not_employed"
        )
    return employment


def _replace_memberships(
    uow: UnitOfWork, person_id: int, kind: str, wanted: list[int], now: dt.datetime
) -> bool:
    model, column = MEMBERSHIPS[kind]
    current = compliance_current(uow.session, model, person_id, now)
    have = {getattr(m, column): m for m in current}
    changed = False
    for unit_id, membership in have.items():
        if unit_id not in wanted:
            membership.valid_to = now
            changed = True
    for unit_id in wanted:
        if unit_id not in have:
            uow.session.add(model(person_id=person_id, valid_from=now, **{column: unit_id}))
            changed = True
    return changed


def compliance_current(session: Session, model: Any, person_id: int, at: dt.datetime) -> list[Any]:
    """The person's memberships of one kind in force at ``at``."""
    return list(
        session.scalars(
            select(model).where(
                model.person_id == person_id,
                model.valid_from <= at,
                or_(model.valid_to.is_(None), model.valid_to > at),
            )
        )
    )


def change_roles(
    uow: UnitOfWork,
    person_id: int,
    job_function_ids: list[int],
    *,
    reason: str,
    policy: QmsPolicy | None = None,
) -> list[int]:
    """Set the person's job functions (a role change); returns the assignments created."""
    uow.actor.require(*ORG_MANAGERS, action="changing a person's job functions")
    session = uow.session
    _require_employed(session, person_id)
    if not job_function_ids:
        raise ValidationFailed("a person keeps at least one job function", field="job_function_ids")
    _require_units(session, "job_function", job_function_ids)
    now = uow.clock.now()
    with uow.because(reason):
        if not _replace_memberships(uow, person_id, "job_function", sorted(set(job_function_ids)), now):
            raise ValidationFailed(
                "the person already holds exactly these job functions",
                field="job_function_ids",
                code="no_change",
            )
    return compliance.sync_people(
        uow,
        [person_id],
        reason="role_change",
        source_type="person",
        source_id=person_id,
        now=now,
        policy=policy,
    )


def transfer(
    uow: UnitOfWork, person_id: int, department_id: int, *, reason: str, policy: QmsPolicy | None = None
) -> list[int]:
    """Move the person to another department; returns the assignments created."""
    uow.actor.require(*ORG_MANAGERS, action="transferring a person")
    session = uow.session
    _require_employed(session, person_id)
    _require_units(session, "department", [department_id])
    now = uow.clock.now()
    with uow.because(reason):
        if not _replace_memberships(uow, person_id, "department", [department_id], now):
            raise ValidationFailed(
                "the person is already in this department", field="department_id", code="no_change"
            )
    return compliance.sync_people(
        uow, [person_id], reason="transfer", source_type="person", source_id=person_id, now=now, policy=policy
    )


def set_equipment(
    uow: UnitOfWork, person_id: int, equipment_ids: list[int], *, reason: str, policy: QmsPolicy | None = None
) -> list[int]:
    """Set the equipment the person operates; returns the assignments created."""
    uow.actor.require(*ORG_MANAGERS, action="changing a person's equipment")
    session = uow.session
    _require_employed(session, person_id)
    _require_units(session, "equipment", equipment_ids)
    now = uow.clock.now()
    with uow.because(reason):
        if not _replace_memberships(uow, person_id, "equipment", sorted(set(equipment_ids)), now):
            raise ValidationFailed(
                "the person already operates exactly this equipment", field="equipment_ids", code="no_change"
            )
    return compliance.sync_people(
        uow,
        [person_id],
        reason="equipment",
        source_type="person",
        source_id=person_id,
        now=now,
        policy=policy,
    )


def start_leave(uow: UnitOfWork, person_id: int, *, reason: str) -> Leave:
    """Put the person on leave: exempt from obligations until they return."""
    uow.actor.require(*ORG_MANAGERS, action="recording a leave")
    session = uow.session
    _require_employed(session, person_id)
    if session.scalar(select(Leave.id).where(Leave.person_id == person_id, Leave.ends_at.is_(None))):
        raise InvalidTransition(
            f"person {person_id} is already on leave", field="person_id", code="already_on_leave"
        )
    now = uow.clock.now()
    leave = Leave(person_id=person_id, starts_at=now, reason=reason)
    with uow.because(reason):
        session.add(leave)
    compliance_state.refresh_states(session, person_ids=[person_id], now=now)
    return leave


def end_leave(uow: UnitOfWork, person_id: int, *, reason: str, policy: QmsPolicy | None = None) -> Leave:
    """End the person's leave; open assignments that fell due meanwhile get a new due date."""
    uow.actor.require(*ORG_MANAGERS, action="ending a leave")
    session = uow.session
    policy = policy or uow.policy(QmsPolicy)
    leave = session.scalar(select(Leave).where(Leave.person_id == person_id, Leave.ends_at.is_(None)))
    if leave is None:
        raise InvalidTransition(f"person {person_id} is not on leave", field="person_id", code="not_on_leave")
    now = uow.clock.now()
    new_due = now + dt.timedelta(days=policy.default_due_days)
    with uow.because(reason):
        leave.ends_at = now
        for assignment in session.scalars(
            select(Assignment).where(
                Assignment.person_id == person_id,
                Assignment.status.in_(OPEN_ASSIGNMENT_STATUSES),
                Assignment.due_at < new_due,
            )
        ):
            assignment.due_at = new_due
            if assignment.status == "overdue":
                assignment.status = "open"
    compliance_state.refresh_states(session, person_ids=[person_id], now=now)
    return leave


def terminate(uow: UnitOfWork, person_id: int, *, reason: str) -> Employment:
    """End the person's employment: memberships end, open assignments are cancelled."""
    uow.actor.require(*ORG_MANAGERS, action="terminating an employment")
    session = uow.session
    employment = _require_employed(session, person_id)
    now = uow.clock.now()
    with uow.because(reason):
        employment.terminated_at = now
        employment.termination_reason = reason
        for kind in MEMBERSHIPS:
            for membership in compliance_current(session, MEMBERSHIPS[kind][0], person_id, now):
                membership.valid_to = now
        leave = session.scalar(select(Leave).where(Leave.person_id == person_id, Leave.ends_at.is_(None)))
        if leave is not None:
            leave.ends_at = now
        get_person(session, person_id).active = False
    open_pairs = set(
        session.execute(
            select(Assignment.person_id, Assignment.training_item_id).where(
                Assignment.person_id == person_id, Assignment.status.in_(OPEN_ASSIGNMENT_STATUSES)
            )
        ).all()
    )
    assignments.cancel_assignments(
        uow,
        open_pairs,
        reason=f"employment terminated: {reason}",
        now=now,
        reasons=ASSIGNMENT_REASONS,
    )
    session.execute(ComplianceState.__table__.delete().where(ComplianceState.person_id == person_id))
    return employment
