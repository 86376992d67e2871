"""One vocabulary for where a person stands, computed by the one rule (the as-of rule of
``training.asof`` plus their obligations open at that moment): ``compliant``, ``due``,
``overdue`` or ``not_qualified``. The REST API, reports and the LTI course page all use it.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from qms.org.models import Department, Employment, JobFunction
from qms.training import asof
from qms.training import scope as in_scope
from qms.training.models import OPEN_ASSIGNMENT_STATUSES, Assignment, Requirement

# In order of severity: the first that applies is the person's standing.
STANDINGS = ("overdue", "not_qualified", "due", "compliant")
STANDING_LABELS = {
    "compliant": "compliant",
    "due": "due",
    "overdue": "overdue",
    "not_qualified": "not qualified",
}
STANDING_MEANINGS = {
    "compliant": "every requirement in force is met and no training is outstanding",
    "due": "every requirement in force is met; training is outstanding, not yet late",
    "overdue": "training is past its due date",
    "not_qualified": "a requirement in force is not met (training outstanding, not yet late)",
}


def open_assignments_at(
    session: Session, person_ids: Sequence[int], at: dt.datetime, *, item_ids: Iterable[int] | None = None
) -> dict[int, list[Assignment]]:
    """The assignments of each person that were open at ``at`` (assigned, not yet closed)."""
    found: dict[int, list[Assignment]] = defaultdict(list)
    items = sorted(set(item_ids)) if item_ids is not None else None
    for chunk in in_scope.chunks(sorted(set(person_ids))):
        stmt = select(Assignment).where(
            Assignment.person_id.in_(chunk),
            Assignment.assigned_at <= at,
            or_(
                Assignment.closed_at.is_(None) & Assignment.status.in_(OPEN_ASSIGNMENT_STATUSES),
                Assignment.closed_at > at,
            ),
        )
        if items is not None:
            stmt = stmt.where(Assignment.training_item_id.in_(items or [0]))
        for assignment in session.scalars(stmt):
            found[assignment.person_id].append(assignment)
    return found


def standing_of(
    session: Session, person_ids: Sequence[int], at: dt.datetime, *, item_ids: Iterable[int] | None = None
) -> dict[int, dict[str, Any]]:
    """Where each person stood at ``at``: the as-of rule on the requirements in force, and the
    obligations then open (optionally only some items).

    Returns:
        For each person id: ``status`` (one of :data:`STANDINGS`), ``label``, ``qualified``,
        ``employed``, ``requirements``/``met`` counts, ``outstanding`` and ``overdue`` (open
        assignments, and those past due at ``at``).
    """
    person_ids = sorted(set(person_ids))
    items = sorted(set(item_ids)) if item_ids is not None else None
    evaluated = asof.evaluate_as_of(session, person_ids, at, item_ids=items)
    open_at = open_assignments_at(session, person_ids, at, item_ids=items)
    result: dict[int, dict[str, Any]] = {}
    for pid in person_ids:
        entry = evaluated[pid]
        unmet = [r for r in entry["requirements"] if not r.met]
        outstanding = open_at.get(pid, [])
        late = [a for a in outstanding if a.due_at is not None and a.due_at < at]
        if late:
            status = "overdue"
        elif entry["employed"] and unmet and not entry["on_leave"]:
            status = "not_qualified"
        elif outstanding:
            status = "due"
        else:
            status = "compliant"
        result[pid] = {
            "status": status,
            "label": STANDING_LABELS[status],
            "meaning": STANDING_MEANINGS[status],
            "qualified": entry["qualified"],
            "employed": entry["employed"],
            "requirements": len(entry["requirements"]),
            "met": len(entry["requirements"]) - len(unmet),
            "outstanding": len(outstanding),
            "overdue": len(late),
        }
    return result


def with_standing(session: Session, department: dict[str, Any]) -> dict[str, Any]:
    """A department's as-of answer with each member's standing and the count of each standing."""
    people = department["people"]
    standings = standing_of(session, [p["person_id"] for p in people], department["at"])
    for person in people:
        found = standings[person["person_id"]]
        person["status"], person["status_label"] = found["status"], found["label"]
    counts = {s: sum(1 for p in people if p["status"] == s) for s in STANDINGS}
    return {**department, "standings": counts}


def matrix_as_of(session: Session, at: dt.datetime, *, department_id: int | None = None) -> dict[str, Any]:
    """Matrix compliance at a past (or present) moment, by the as-of rule from the immutable records.

    The same shape as :func:`qms.training.services.matrix_report` (which reads the maintained
    state, i.e. *now*): per department × job function, pairs that were compliant, due, overdue,
    exempt (on leave) or not in force (no version of the item in force).
    """
    people = sorted(
        set(
            session.scalars(
                select(Employment.person_id).where(
                    Employment.hired_at <= at,
                    or_(Employment.terminated_at.is_(None), Employment.terminated_at > at),
                )
            )
        )
    )
    departments_of = in_scope.current_departments(session, people, at)
    if department_id is not None:
        people = [p for p in people if departments_of.get(p) == department_id]
    evaluated = asof.evaluate_as_of(session, people, at)
    open_at = open_assignments_at(session, people, at)
    job_functions = dict(session.execute(select(Requirement.id, Requirement.job_function_id)).all())
    groups: dict[tuple[int | None, int | None], dict[str, int]] = {}
    keys = ("pairs", "compliant", "due", "overdue", "exempt", "not_in_force")
    for pid, entry in evaluated.items():
        late_items = {
            a.training_item_id for a in open_at.get(pid, []) if a.due_at is not None and a.due_at < at
        }
        pairs = [(r, True) for r in entry["requirements"]] + [(r, False) for r in entry["not_in_force"]]
        for requirement, in_force in pairs:
            key = (departments_of.get(pid), job_functions.get(requirement.requirement_id))
            group = groups.setdefault(key, dict.fromkeys(keys, 0))
            group["pairs"] += 1
            if entry["on_leave"]:
                group["exempt"] += 1
            elif not in_force:
                group["not_in_force"] += 1
            elif requirement.met:
                group["compliant"] += 1
            elif requirement.training_item_id in late_items:
                group["overdue"] += 1
            else:
                group["due"] += 1
    departments = dict(session.execute(select(Department.id, Department.code)).all())
    functions = dict(session.execute(select(JobFunction.id, JobFunction.code)).all())
    rows = []
    totals = dict.fromkeys(keys, 0)
    for (dept, jf), counts in groups.items():
        counted = counts["pairs"] - counts["exempt"] - counts["not_in_force"]
        rows.append(
            {
                "department_id": dept,
                "department": departments.get(dept),
                "job_function_id": jf,
                "job_function": functions.get(jf) if jf else None,
                **counts,
                "compliance_pct": round(100.0 * counts["compliant"] / counted, 2) if counted else 100.0,
            }
        )
        for key in keys:
            totals[key] += counts[key]
    rows.sort(key=lambda r: (r["department"] or "", r["job_function"] or ""))
    counted = totals["pairs"] - totals["exempt"] - totals["not_in_force"]
    return {
        "as_of": at,
        "rows": rows,
        "totals": {
            **{k: v for k, v in totals.items() if k != "due"},
            "compliance_pct": round(100.0 * totals["compliant"] / counted, 2) if counted else 100.0,
        },
    }
