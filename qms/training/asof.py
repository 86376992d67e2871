"""The as-of rule (DESIGN.md, "When is a person trained?") computed from the immutable records:
was a person, a document's audience or a department qualified at a moment?
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from bridge.core.people import Person, get_person
from qms.documents import services as documents
from qms.documents.models import TrainingItem, TrainingItemVersion
from qms.org import services as org
from qms.org.models import PersonDepartment, PersonEquipment, PersonJobFunction
from qms.training import scope as in_scope
from qms.training.models import Assignment, Completion, ComplianceState, Requirement


@dataclass
class RequirementAsOf:
    """How one requirement stood at a moment."""

    requirement_id: int
    scope: str
    scope_id: int
    training_item_id: int
    version_in_force_id: int | None
    version_in_force_label: str | None
    met: bool
    completion_id: int | None
    completed_version_label: str | None
    completed_at: dt.datetime | None
    expired: bool
    explanation: str


def _versions_in_force(
    session: Session, item_ids: Sequence[int], at: dt.datetime
) -> dict[int, TrainingItemVersion]:
    found: dict[int, TrainingItemVersion] = {}
    for chunk in in_scope.chunks(sorted(set(item_ids))):
        for version in session.scalars(
            select(TrainingItemVersion).where(
                TrainingItemVersion.training_item_id.in_(chunk),
                TrainingItemVersion.effective_since.is_not(None),
                TrainingItemVersion.effective_since <= at,
                or_(TrainingItemVersion.ended_at.is_(None), TrainingItemVersion.ended_at > at),
            )
        ):
            found[version.training_item_id] = version
    return found


def evaluate_as_of(
    session: Session, person_ids: Sequence[int], at: dt.datetime, *, item_ids: Sequence[int] | None = None
) -> dict[int, dict[str, Any]]:
    """Apply the as-of rule to several people at ``at`` from the immutable records only.

    Returns:
        For each person id: ``employed``, ``on_leave``, ``qualified``, ``requirements`` (those
        in force: a list of :class:`RequirementAsOf`) and ``not_in_force`` (requirements whose
        item had no version in force at ``at``: neither met nor a gap, DESIGN.md).
    """
    person_ids = sorted(set(person_ids))
    employed = in_scope.employed_people(session, person_ids, at)
    leave = in_scope.on_leave(session, person_ids, at)
    needs = [
        n
        for n in in_scope.needs_of(session, person_ids, at)
        if item_ids is None or n.training_item_id in set(item_ids)
    ]
    requirements = {
        r.id: r
        for chunk in in_scope.chunks(sorted({n.requirement_id for n in needs}))
        for r in session.scalars(select(Requirement).where(Requirement.id.in_(chunk)))
    }
    in_force = _versions_in_force(session, [n.training_item_id for n in needs], at)
    versions: dict[int, TrainingItemVersion] = {}
    for chunk in in_scope.chunks(sorted({n.training_item_id for n in needs})):
        versions.update(
            {
                v.id: v
                for v in session.scalars(
                    select(TrainingItemVersion).where(TrainingItemVersion.training_item_id.in_(chunk))
                )
            }
        )
    completions: dict[tuple[int, int], list[Completion]] = defaultdict(list)
    for chunk in in_scope.chunks(person_ids):
        for completion in session.scalars(
            select(Completion).where(
                Completion.person_id.in_(chunk), Completion.completed_at <= at, Completion.recorded_at <= at
            )
        ):
            completions[(completion.person_id, completion.training_item_id)].append(completion)
    result: dict[int, dict[str, Any]] = {
        pid: {"employed": pid in employed, "on_leave": pid in leave, "requirements": [], "not_in_force": []}
        for pid in person_ids
    }
    for need in needs:
        requirement = requirements[need.requirement_id]
        required = in_force.get(need.training_item_id)
        scope_id = requirement.job_function_id or requirement.department_id or requirement.equipment_id or 0
        best: Completion | None = None
        if required is not None:
            for completion in completions.get((need.person_id, need.training_item_id), ()):
                done = versions.get(completion.item_version_id)
                if (
                    done is not None
                    and in_scope.satisfies(done, required)
                    and (best is None or completion.completed_at > best.completed_at)
                ):
                    best = completion
        expired = False
        if best is not None and requirement.retrain_interval_days:
            lapse = best.completed_at + dt.timedelta(
                days=requirement.retrain_interval_days + requirement.grace_days
            )
            expired = lapse <= at
        met = best is not None and not expired
        if required is None:
            explanation = "no version of the item was in force"
        elif best is None:
            explanation = f"no completion on version {required.label} or an equivalent earlier version"
        elif expired:
            explanation = "the last completion had lapsed (periodic retraining interval and grace passed)"
        else:
            explanation = (
                f"completed version {versions[best.item_version_id].label} at {best.completed_at.isoformat()}"
            )
        bucket = "requirements" if required is not None else "not_in_force"
        result[need.person_id][bucket].append(
            RequirementAsOf(
                requirement_id=requirement.id,
                scope=requirement.scope,
                scope_id=scope_id,
                training_item_id=need.training_item_id,
                version_in_force_id=required.id if required else None,
                version_in_force_label=required.label if required else None,
                met=met,
                completion_id=best.id if best else None,
                completed_version_label=versions[best.item_version_id].label if best else None,
                completed_at=best.completed_at if best else None,
                expired=expired,
                explanation=explanation,
            )
        )
    for entry in result.values():
        entry["qualified"] = entry["employed"] and all(r.met for r in entry["requirements"])
    return result


def trained_on_document_as_of(
    session: Session, person_id: int, item_id: int, at: dt.datetime
) -> dict[str, Any]:
    """Whether a person was trained at ``at`` on the version of an item then in force.

    Independent of requirements: used by deviation training adequacy assessments.
    """
    in_force = _versions_in_force(session, [item_id], at).get(item_id)
    if in_force is None:
        # Nothing was in force to be trained on: not required, so not a gap (DESIGN.md).
        return {
            "in_force": False,
            "trained": False,
            "version_in_force": None,
            "completion_id": None,
            "explanation": "no version was in force at that moment",
        }
    versions = {
        v.id: v
        for v in session.scalars(
            select(TrainingItemVersion).where(TrainingItemVersion.training_item_id == item_id)
        )
    }
    best = None
    for completion in session.scalars(
        select(Completion).where(
            Completion.person_id == person_id,
            Completion.training_item_id == item_id,
            Completion.completed_at <= at,
            Completion.recorded_at <= at,
        )
    ):
        if in_scope.satisfies(versions[completion.item_version_id], in_force) and (
            best is None or completion.completed_at > best.completed_at
        ):
            best = completion
    return {
        "in_force": True,
        "trained": best is not None,
        "version_in_force": {"id": in_force.id, "label": in_force.label},
        "completion_id": best.id if best else None,
        "completed_version": versions[best.item_version_id].label if best else None,
        "completed_at": best.completed_at if best else None,
        "explanation": (
            f"completed version {versions[best.item_version_id].label}"
            if best
            else f"no completion on version {in_force.label} or an equivalent earlier version"
        ),
    }


def as_of_person(session: Session, person_id: int, at: dt.datetime) -> dict[str, Any]:
    """Was this person qualified at ``at``? Every requirement then in force, met or not."""
    person = get_person(session, person_id)
    result = evaluate_as_of(session, [person_id], at)[person_id]
    wanted = sorted({r.training_item_id for r in [*result["requirements"], *result["not_in_force"]]})
    codes = dict(session.execute(
        select(TrainingItem.id, TrainingItem.code).where(TrainingItem.id.in_(wanted))).all())
    return {
        "person": {"id": person.id, "display_name": person.display_name},
        "at": at,
        "employed": result["employed"],
        "on_leave": result["on_leave"],
        "qualified": result["qualified"],
        "requirements": [
            {**r.__dict__, "item_code": codes.get(r.training_item_id)} for r in result["requirements"]
        ],
        "not_in_force": [
            {
                "requirement_id": r.requirement_id,
                "training_item_id": r.training_item_id,
                "item_code": codes.get(r.training_item_id),
                "explanation": "no version of the item was in force: the requirement was not in force",
            }
            for r in result["not_in_force"]
        ],
    }


def as_of_document(session: Session, document_id: int, at: dt.datetime) -> dict[str, Any]:
    """Who needed a document at ``at`` and whether each was trained on the version then in force."""
    document = documents.get_document(session, document_id)
    item = documents.item_of_document(session, document_id)
    candidates = sorted(
        set(
            session.scalars(
                select(ComplianceState.person_id).where(ComplianceState.training_item_id == item.id)
            )
        )
        | set(session.scalars(select(Completion.person_id).where(Completion.training_item_id == item.id)))
        | set(session.scalars(select(Assignment.person_id).where(Assignment.training_item_id == item.id)))
        | _historic_scope(session, item.id)
    )
    evaluated = evaluate_as_of(session, candidates, at, item_ids=[item.id])
    names = dict(
        session.execute(select(Person.id, Person.display_name).where(Person.id.in_(candidates or [0]))).all()
    )
    people = []
    for pid, result in evaluated.items():
        for r in result["requirements"]:
            people.append(
                {
                    "person_id": pid,
                    "display_name": names.get(pid),
                    "on_leave": result["on_leave"],
                    **{k: v for k, v in r.__dict__.items() if k not in ("training_item_id",)},
                }
            )
    trained = sum(1 for p in people if p["met"])
    return {
        "document": {"id": document.id, "code": document.code},
        "at": at,
        "required": len(people),
        "trained": trained,
        "people": people,
    }


def _historic_scope(session: Session, item_id: int) -> set[int]:
    found: set[int] = set()
    for membership, member_col, req_col in (
        (PersonJobFunction, PersonJobFunction.job_function_id, Requirement.job_function_id),
        (PersonDepartment, PersonDepartment.department_id, Requirement.department_id),
        (PersonEquipment, PersonEquipment.equipment_id, Requirement.equipment_id),
    ):
        found.update(
            session.scalars(
                select(membership.person_id)
                .join(Requirement, req_col == member_col)
                .where(Requirement.training_item_id == item_id)
                .distinct()
            )
        )
    return found


def as_of_department(session: Session, department_id: int, at: dt.datetime) -> dict[str, Any]:
    """The qualification of each member of a department at ``at``."""
    department = org.get_unit(session, "department", department_id)
    members = sorted(
        set(
            session.scalars(
                select(PersonDepartment.person_id).where(
                    PersonDepartment.department_id == department_id, in_scope.active_at(PersonDepartment, at)
                )
            )
        )
    )
    evaluated = evaluate_as_of(session, members, at)
    names = dict(
        session.execute(select(Person.id, Person.display_name).where(Person.id.in_(members or [0]))).all()
    )
    people = [
        {
            "person_id": pid,
            "display_name": names.get(pid),
            "qualified": r["qualified"],
            "on_leave": r["on_leave"],
            "requirements": len(r["requirements"]),
            "met": sum(1 for x in r["requirements"] if x.met),
            "unmet": [
                {"training_item_id": x.training_item_id, "explanation": x.explanation}
                for x in r["requirements"]
                if not x.met
            ],
        }
        for pid, r in evaluated.items()
    ]
    return {
        "department": {"id": department.id, "code": department.code},
        "at": at,
        "members": len(people),
        "qualified": sum(1 for p in people if p["qualified"]),
        "people": people,
    }
