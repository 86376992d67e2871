"""One vocabulary for where a person stands, computed by the one rule (the as-of rule of
``training.asof`` plus their obligations open at that moment): ``compliant``, ``due``,
``overdue`` or ``not_qualified``. The REST API, reports and the LTI course page all use it.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from qms.org.models import Department, JobFunction
from qms.training import asof_rows
from qms.training import scope as in_scope
from qms.training.models import OPEN_ASSIGNMENT_STATUSES, Assignment

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


class OpenAssignment(NamedTuple):
    """The columns of an assignment open at a moment that a standing reads."""

    id: int
    person_id: int
    training_item_id: int
    due_at: dt.datetime | None


def open_assignments_at(
    session: Session,
    person_ids: Sequence[int] | None,
    at: dt.datetime,
    *,
    item_ids: Iterable[int] | None = None,
) -> dict[int, list[OpenAssignment]]:
    """The assignments of each person (everyone's when ``person_ids`` is None) that were open at
    ``at`` (assigned, not yet closed).
    """
    found: dict[int, list[OpenAssignment]] = defaultdict(list)
    items = sorted(set(item_ids)) if item_ids is not None else None
    stmt = select(
        Assignment.id, Assignment.person_id, Assignment.training_item_id, Assignment.due_at
    ).where(
        Assignment.assigned_at <= at,
        or_(
            Assignment.closed_at.is_(None) & Assignment.status.in_(OPEN_ASSIGNMENT_STATUSES),
            Assignment.closed_at > at,
        ),
    )
    if items is not None:
        stmt = stmt.where(Assignment.training_item_id.in_(items or [0]))
    batches: list[Sequence[int] | None] = (
        [None] if person_ids is None else list(in_scope.chunks(sorted(set(person_ids))))
    )
    for chunk in batches:
        for row in session.execute(stmt if chunk is None else stmt.where(Assignment.person_id.in_(chunk))):
            found[row.person_id].append(OpenAssignment(*row))
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
    employed, leave, pairs = asof_rows.evaluate_pairs(session, person_ids, at, item_ids=items, detail=False)
    counts = {pid: [0, 0] for pid in person_ids}  # requirements in force, unmet
    for pair in pairs:
        if pair.required is not None:
            held = counts[pair.need.person_id]
            held[0] += 1
            held[1] += 0 if pair.met else 1
    open_at = open_assignments_at(session, person_ids, at, item_ids=items)
    result: dict[int, dict[str, Any]] = {}
    for pid in person_ids:
        in_force, unmet = counts[pid]
        outstanding = open_at.get(pid, [])
        late = [a for a in outstanding if a.due_at is not None and a.due_at < at]
        if late:
            status = "overdue"
        elif pid in employed and unmet and pid not in leave:
            status = "not_qualified"
        elif outstanding:
            status = "due"
        else:
            status = "compliant"
        result[pid] = {
            "status": status,
            "label": STANDING_LABELS[status],
            "meaning": STANDING_MEANINGS[status],
            "qualified": pid in employed and not unmet,
            "employed": pid in employed,
            "requirements": in_force,
            "met": in_force - unmet,
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
    # Set-based over the whole plant (or a department): the rule's rows, counted per group.
    everyone = department_id is None
    people = sorted(in_scope.employed_people_at(session, None, at))
    departments_of = in_scope.current_departments(session, people, at)
    if not everyone:
        people = [p for p in people if departments_of.get(p) == department_id]
    _employed, leave, pairs = asof_rows.evaluate_pairs(
        session, None if everyone else people, at, detail=False
    )
    late_items: dict[int, set[int]] = defaultdict(set)
    for pid, assignments in open_assignments_at(session, None if everyone else people, at).items():
        late_items[pid].update(
            a.training_item_id for a in assignments if a.due_at is not None and a.due_at < at
        )
    groups: dict[tuple[int | None, int | None], dict[str, int]] = {}
    keys = ("pairs", "compliant", "due", "overdue", "exempt", "not_in_force")
    for pair in pairs:
        pid = pair.need.person_id
        key = (departments_of.get(pid), pair.need.job_function_id)
        group = groups.get(key)
        if group is None:
            group = groups[key] = dict.fromkeys(keys, 0)
        group["pairs"] += 1
        if pid in leave:
            group["exempt"] += 1
        elif pair.required is None:
            group["not_in_force"] += 1
        elif pair.met:
            group["compliant"] += 1
        elif pair.need.training_item_id in late_items.get(pid, ()):
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
