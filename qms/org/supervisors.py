"""Who answers for a person: their supervisor (dated, audited) and each department's QA contact
(dated, audited). Escalations of overdue training go to both.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import ForeignKey, Index, Integer, or_, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from bridge.core.db import Base, UTCDateTime
from bridge.core.errors import ValidationFailed
from bridge.core.people import get_person
from bridge.core.uow import UnitOfWork
from qms.org.models import PersonDepartment
from qms.roles import ORG_MANAGERS


class PersonSupervisor(Base):
    """``supervisor_person_id`` supervises ``person_id`` from ``valid_from`` until ``valid_to``."""

    __tablename__ = "qms_person_supervisor"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), nullable=False)
    supervisor_person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), nullable=False)
    valid_from: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    valid_to: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_qms_person_supervisor_person", "person_id", "valid_to"),)


class DepartmentQaContact(Base):
    """``person_id`` is the QA contact of ``department_id`` from ``valid_from`` until ``valid_to``."""

    __tablename__ = "qms_department_qa_contact"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("qms_department.id"), nullable=False)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), nullable=False)
    valid_from: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    valid_to: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_qms_department_qa_contact_dept", "department_id", "valid_to"),)


def _in_force(model: type[PersonSupervisor] | type[DepartmentQaContact], at: dt.datetime) -> object:
    return (model.valid_from <= at) & or_(model.valid_to.is_(None), model.valid_to > at)


def set_supervisor(uow: UnitOfWork, person_id: int, supervisor_person_id: int | None,
                   *, reason: str) -> PersonSupervisor | None:
    """Make ``supervisor_person_id`` the person's supervisor from now (``None``: nobody)."""
    uow.actor.require(*ORG_MANAGERS, action="setting a supervisor")
    session, now = uow.session, uow.clock.now()
    get_person(session, person_id)
    if supervisor_person_id is not None:
        get_person(session, supervisor_person_id)
        if supervisor_person_id == person_id:
            raise ValidationFailed("a person cannot supervise themselves", field="supervisor_person_id")
    with uow.because(reason):
        for current in session.scalars(select(PersonSupervisor).where(
                PersonSupervisor.person_id == person_id, _in_force(PersonSupervisor, now))):
            current.valid_to = now
        link = None
        if supervisor_person_id is not None:
            link = PersonSupervisor(person_id=person_id, supervisor_person_id=supervisor_person_id,
                                    valid_from=now)
            session.add(link)
    return link


def set_qa_contact(uow: UnitOfWork, department_id: int, person_id: int | None,
                   *, reason: str) -> DepartmentQaContact | None:
    """Make ``person_id`` the department's QA contact from now (``None``: nobody)."""
    uow.actor.require(*ORG_MANAGERS, action="setting a QA contact")
    session, now = uow.session, uow.clock.now()
    if person_id is not None:
        get_person(session, person_id)
    with uow.because(reason):
        for current in session.scalars(select(DepartmentQaContact).where(
                DepartmentQaContact.department_id == department_id,
                _in_force(DepartmentQaContact, now))):
            current.valid_to = now
        link = None
        if person_id is not None:
            link = DepartmentQaContact(department_id=department_id, person_id=person_id, valid_from=now)
            session.add(link)
    return link


def supervisor_of(session: Session, person_id: int, at: dt.datetime) -> int | None:
    """The person's supervisor at ``at``, if any."""
    return session.scalar(select(PersonSupervisor.supervisor_person_id).where(
        PersonSupervisor.person_id == person_id, _in_force(PersonSupervisor, at)))


def escalation_contacts(session: Session, person_ids: Iterable[int],
                        at: dt.datetime) -> dict[int, set[int]]:
    """For each person, who is told when their training is late: supervisor and the QA contact of
    their department, in force at ``at``.
    """
    wanted = sorted(set(person_ids))
    found: dict[int, set[int]] = {p: set() for p in wanted}
    for start in range(0, len(wanted), 5000):
        chunk = wanted[start:start + 5000]
        for person_id, supervisor in session.execute(select(
                PersonSupervisor.person_id, PersonSupervisor.supervisor_person_id).where(
                PersonSupervisor.person_id.in_(chunk), _in_force(PersonSupervisor, at))):
            found[person_id].add(supervisor)
        for person_id, contact in session.execute(
                select(PersonDepartment.person_id, DepartmentQaContact.person_id)
                .join(DepartmentQaContact,
                      DepartmentQaContact.department_id == PersonDepartment.department_id)
                .where(PersonDepartment.person_id.in_(chunk), _in_force(PersonDepartment, at),
                       _in_force(DepartmentQaContact, at))):
            found[person_id].add(contact)
    return found
