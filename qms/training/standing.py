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

from qms.training import asof
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
