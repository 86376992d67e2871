"""The as-of rule (DESIGN.md, "When is a person trained?") computed from the immutable records:
was a person, a document's audience or a department qualified at a moment?
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.core.people import Person, get_person
from qms.documents import services as documents
from qms.documents.models import TrainingItem
from qms.org import services as org
from qms.org.models import PersonDepartment, PersonEquipment, PersonJobFunction
from qms.training import asof_rows as rows
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


def _requirement_as_of(pair: rows.PairAsOf) -> RequirementAsOf:
    need, required, best = pair.need, pair.required, pair.best
    return RequirementAsOf(
        requirement_id=need.requirement_id,
        scope=need.scope,
        scope_id=need.scope_id,
        training_item_id=need.training_item_id,
        version_in_force_id=required.id if required else None,
        version_in_force_label=required.label if required else None,
        met=pair.met,
        completion_id=best.completion_id if best else None,
        completed_version_label=best.version_label if best else None,
        completed_at=best.completed_at if best else None,
        expired=pair.expired,
        explanation=rows.explanation(pair),
    )


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
    employed, leave, pairs = rows.evaluate_pairs(session, person_ids, at, item_ids=item_ids)
    result: dict[int, dict[str, Any]] = {
        pid: {"employed": pid in employed, "on_leave": pid in leave, "requirements": [], "not_in_force": []}
        for pid in person_ids
    }
    for pair in pairs:
        bucket = "requirements" if pair.required is not None else "not_in_force"
        result[pair.need.person_id][bucket].append(_requirement_as_of(pair))
    for entry in result.values():
        entry["qualified"] = entry["employed"] and all(r.met for r in entry["requirements"])
    return result


def trained_on_documents_as_of(
    session: Session, person_ids: Sequence[int], item_ids: Sequence[int], at: dt.datetime
) -> dict[tuple[int, int], dict[str, Any]]:
    """:func:`trained_on_document_as_of` for every person × item at once (a few queries in all).

    Each answer also names the completion's ``completed_version_id`` and ``method``.
    """
    in_force = rows.versions_in_force(session, item_ids, at)
    best = rows.best_completions(session, person_ids, at, item_ids=sorted(in_force)) if in_force else {}
    answers: dict[tuple[int, int], dict[str, Any]] = {}
    for item_id in item_ids:
        required = in_force.get(item_id)
        for person_id in person_ids:
            if required is None:
                # Nothing was in force to be trained on: not required, so not a gap (DESIGN.md).
                answers[(person_id, item_id)] = {
                    "in_force": False,
                    "trained": False,
                    "version_in_force": None,
                    "completion_id": None,
                    "explanation": "no version was in force at that moment",
                }
                continue
            found = best.get((person_id, item_id))
            answers[(person_id, item_id)] = {
                "in_force": True,
                "trained": found is not None,
                "version_in_force": {"id": required.id, "label": required.label},
                "completion_id": found.completion_id if found else None,
                "completed_version": found.version_label if found else None,
                "completed_version_id": found.item_version_id if found else None,
                "completed_at": found.completed_at if found else None,
                "method": found.method if found else None,
                "explanation": (
                    f"completed version {found.version_label}"
                    if found
                    else f"no completion on version {required.label} or an equivalent earlier version"
                ),
            }
    return answers


def trained_on_document_as_of(
    session: Session, person_id: int, item_id: int, at: dt.datetime
) -> dict[str, Any]:
    """Whether a person was trained at ``at`` on the version of an item then in force.

    Independent of requirements: used by deviation training adequacy assessments.
    """
    answer = trained_on_documents_as_of(session, [person_id], [item_id], at)[(person_id, item_id)]
    answer.pop("completed_version_id", None)
    answer.pop("method", None)
    return answer


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
    # Counts per member from the rule's rows; RequirementAsOf only for what is shown (the unmet).
    employed, leave, pairs = rows.evaluate_pairs(session, members, at, detail=False)
    counts = {pid: [0, 0] for pid in members}  # requirements in force, met
    unmet: dict[int, list[dict[str, Any]]] = {pid: [] for pid in members}
    for pair in pairs:
        if pair.required is None:
            continue
        held = counts[pair.need.person_id]
        held[0] += 1
        if pair.met:
            held[1] += 1
        else:
            unmet[pair.need.person_id].append(
                {"training_item_id": pair.need.training_item_id, "explanation": rows.explanation(pair)}
            )
    names: dict[int, str] = {}
    for chunk in in_scope.chunks(members):
        names.update(
            session.execute(select(Person.id, Person.display_name).where(Person.id.in_(chunk))).all()
        )
    people = [
        {
            "person_id": pid,
            "display_name": names.get(pid),
            "qualified": pid in employed and not unmet[pid],
            "on_leave": pid in leave,
            "requirements": counts[pid][0],
            "met": counts[pid][1],
            "unmet": unmet[pid],
        }
        for pid in members
    ]
    return {
        "department": {"id": department.id, "code": department.code},
        "at": at,
        "members": len(people),
        "qualified": sum(1 for p in people if p["qualified"]),
        "people": people,
    }
