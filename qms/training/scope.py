"""Who needs what: the requirements in force for people at a moment, from their dated
memberships, employment and leave; and when a completion satisfies a version.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from qms.documents.models import TrainingItemVersion
from qms.org.models import Employment, Leave, PersonDepartment, PersonEquipment, PersonJobFunction
from qms.training.models import Requirement


def chunks(values: Sequence[Any], size: int = 900) -> Iterable[Sequence[Any]]:
    """``values`` in slices of ``size`` (bounded IN lists: SQLite caps bound parameters)."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def active_at(model: Any, at: dt.datetime) -> Any:
    """The condition that a dated row (``valid_from``/``valid_to``) is in force at ``at``."""
    return and_(model.valid_from <= at, or_(model.valid_to.is_(None), model.valid_to > at))


@dataclass(frozen=True)
class Need:
    """One person × requirement pair in force."""

    person_id: int
    requirement_id: int
    training_item_id: int
    department_id: int | None
    job_function_id: int | None


def current_departments(session: Session, person_ids: Sequence[int], at: dt.datetime) -> dict[int, int]:
    """The department of each person at ``at``."""
    found: dict[int, int] = {}
    for chunk in chunks(list(person_ids)):
        for pid, dept in session.execute(
            select(PersonDepartment.person_id, PersonDepartment.department_id).where(
                PersonDepartment.person_id.in_(chunk), active_at(PersonDepartment, at)
            )
        ):
            found[pid] = dept
    return found


def employed_people(session: Session, person_ids: Sequence[int], at: dt.datetime) -> set[int]:
    """The people among ``person_ids`` employed at ``at``."""
    found: set[int] = set()
    for chunk in chunks(list(person_ids)):
        found.update(
            session.scalars(
                select(Employment.person_id).where(
                    Employment.person_id.in_(chunk),
                    Employment.hired_at <= at,
                    or_(Employment.terminated_at.is_(None), Employment.terminated_at > at),
                )
            )
        )
    return found


def employed_people_at(session: Session, person_ids: Sequence[int] | None, at: dt.datetime) -> set[int]:
    """The people among ``person_ids`` (everyone when None) employed at ``at``."""
    if person_ids is not None:
        return employed_people(session, person_ids, at)
    return set(
        session.scalars(
            select(Employment.person_id).where(
                Employment.hired_at <= at,
                or_(Employment.terminated_at.is_(None), Employment.terminated_at > at),
            )
        )
    )


def needs_of(
    session: Session,
    person_ids: Sequence[int],
    at: dt.datetime,
    *,
    requirement_ids: Sequence[int] | None = None,
) -> list[Need]:
    """Every requirement in force at ``at`` (or only some) for each employed person among ``person_ids``."""
    people = employed_people(session, person_ids, at)
    if not people:
        return []
    depts = current_departments(session, list(people), at)
    needs: list[Need] = []
    scopes = (
        (PersonJobFunction, PersonJobFunction.job_function_id, Requirement.job_function_id),
        (PersonDepartment, PersonDepartment.department_id, Requirement.department_id),
        (PersonEquipment, PersonEquipment.equipment_id, Requirement.equipment_id),
    )
    for chunk in chunks(sorted(people)):
        for membership, member_col, req_col in scopes:
            stmt = (
                select(
                    membership.person_id,
                    Requirement.id,
                    Requirement.training_item_id,
                    Requirement.job_function_id,
                )
                .join(Requirement, req_col == member_col)
                .where(membership.person_id.in_(chunk), active_at(membership, at), active_at(Requirement, at))
            )
            if requirement_ids is not None:
                stmt = stmt.where(Requirement.id.in_(list(requirement_ids)))
            for pid, rid, item_id, jf in session.execute(stmt):
                needs.append(Need(pid, rid, item_id, depts.get(pid), jf))
    return needs


def people_in_scope(session: Session, requirement: Requirement, at: dt.datetime) -> list[int]:
    """The people whose membership puts them in a requirement's scope at ``at``."""
    if requirement.scope == "job_function":
        query = select(PersonJobFunction.person_id).where(
            PersonJobFunction.job_function_id == requirement.job_function_id, active_at(PersonJobFunction, at)
        )
    elif requirement.scope == "department":
        query = select(PersonDepartment.person_id).where(
            PersonDepartment.department_id == requirement.department_id, active_at(PersonDepartment, at)
        )
    else:
        query = select(PersonEquipment.person_id).where(
            PersonEquipment.equipment_id == requirement.equipment_id, active_at(PersonEquipment, at)
        )
    return sorted(set(session.scalars(query)))


def on_leave(session: Session, person_ids: Sequence[int], at: dt.datetime) -> set[int]:
    """The people among ``person_ids`` on leave at ``at``."""
    found: set[int] = set()
    for chunk in chunks(list(person_ids)):
        found.update(
            session.scalars(
                select(Leave.person_id).where(
                    Leave.person_id.in_(chunk),
                    Leave.starts_at <= at,
                    or_(Leave.ends_at.is_(None), Leave.ends_at > at),
                )
            )
        )
    return found


def satisfies(completed: TrainingItemVersion | tuple[int, int], required: TrainingItemVersion) -> bool:
    """Whether a completion on ``completed`` satisfies ``required`` (the as-of rule).

    A completion counts on the required version itself, on an earlier version when no
    revision that needs retraining lies between the two (``baseline_seq``), or on a newer
    version: whoever trained on the version that will replace it (approved, or already
    succeeded by it) is trained on the one in force, so superseding an open assignment by
    one on the newer version never leaves a person without a way to be compliant.
    """
    seq = completed[1] if isinstance(completed, tuple) else completed.seq
    return required.baseline_seq <= seq
