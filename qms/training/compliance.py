"""Bringing obligations in line with the matrix: state rows and assignments follow people's
current needs (hire, role change, transfer, matrix change, new versions).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import bindparam, delete, insert, select, update

from bridge.core.uow import UnitOfWork
from qms.documents import catalog
from qms.policy import QmsPolicy
from qms.training import assignments
from qms.training import scope as in_scope
from qms.training import state as compliance_state
from qms.training.models import OPEN_ASSIGNMENT_STATUSES, Assignment, ComplianceState


def sync_people(
    uow: UnitOfWork,
    person_ids: Sequence[int],
    *,
    reason: str,
    source_type: str | None,
    source_id: int | None,
    now: dt.datetime | None = None,
    policy: QmsPolicy | None = None,
    requirement_ids: Sequence[int] | None = None,
) -> list[int]:
    """Bring people's state rows and assignments in line with their current needs.

    Pairs no longer needed are removed (their matrix assignments cancelled when nothing
    else requires the item); new pairs get a state row and, unless already trained on the
    version in force, an assignment for the version to train on. With ``requirement_ids``
    only those requirements are reconciled (a matrix change touches nothing else).

    Returns:
        The ids of the assignments created.
    """
    session = uow.session
    now = now or uow.clock.now()
    policy = policy or uow.policy(QmsPolicy)
    person_ids = sorted(set(person_ids))
    if not person_ids:
        return []
    needs = in_scope.needs_of(session, person_ids, now, requirement_ids=requirement_ids)
    wanted = {(n.person_id, n.requirement_id): n for n in needs}
    existing = {}
    for chunk in in_scope.chunks(person_ids):
        stmt = select(
            ComplianceState.id,
            ComplianceState.person_id,
            ComplianceState.requirement_id,
            ComplianceState.training_item_id,
            ComplianceState.department_id,
        ).where(ComplianceState.person_id.in_(chunk))
        if requirement_ids is not None:
            stmt = stmt.where(ComplianceState.requirement_id.in_(list(requirement_ids)))
        for row in session.execute(stmt):
            existing[(row.person_id, row.requirement_id)] = row
    gone = [row for key, row in existing.items() if key not in wanted]
    if gone:
        for chunk in in_scope.chunks([r.id for r in gone]):
            session.execute(delete(ComplianceState).where(ComplianceState.id.in_(chunk)))
    # A transfer changes the department copied on the person's remaining rows.
    moved = [
        {"b_id": row.id, "department_id": wanted[key].department_id}
        for key, row in existing.items()
        if key in wanted and row.department_id != wanted[key].department_id
    ]
    if moved:
        session.execute(
            update(ComplianceState.__table__).where(ComplianceState.__table__.c.id == bindparam("b_id")),
            moved,
        )
    new = [n for key, n in wanted.items() if key not in existing]
    if new:
        session.execute(
            insert(ComplianceState),
            [
                {
                    "person_id": n.person_id,
                    "requirement_id": n.requirement_id,
                    "training_item_id": n.training_item_id,
                    "department_id": n.department_id,
                    "job_function_id": n.job_function_id,
                    "status": "due",
                    "updated_at": now,
                }
                for n in new
            ],
        )
    # An item stays needed while any state row (of any requirement) still names it.
    candidates = {(r.person_id, r.training_item_id) for r in gone}
    remaining: set[tuple[int, int]] = set()
    for chunk in in_scope.chunks(sorted({p for p, _ in candidates})):
        remaining.update(
            (row[0], row[1])
            for row in session.execute(
                select(ComplianceState.person_id, ComplianceState.training_item_id).where(
                    ComplianceState.person_id.in_(chunk)
                )
            )
        )
    dropped = candidates - remaining
    if dropped:
        assignments.cancel_assignments(uow, dropped, reason=f"no longer required ({reason})", now=now)
    touched_items = None
    if requirement_ids is not None:
        touched_items = sorted({n.training_item_id for n in needs} | {r.training_item_id for r in gone})
    compliance_state.refresh_states(session, person_ids=person_ids, item_ids=touched_items, now=now)
    # Assign what is new and not yet satisfied.
    new_pairs = sorted({(n.person_id, n.training_item_id) for n in new})
    created: list[int] = []
    if new_pairs:
        created = assign_missing(
            uow,
            new_pairs,
            reason=reason,
            source_type=source_type,
            source_id=source_id,
            now=now,
            policy=policy,
        )
    return created


def assign_missing(
    uow: UnitOfWork,
    pairs: Sequence[tuple[int, int]],
    *,
    reason: str,
    source_type: str | None,
    source_id: int | None,
    now: dt.datetime,
    policy: QmsPolicy,
) -> list[int]:
    """Assign each (person, item) pair not compliant and without an open assignment."""
    session = uow.session
    people = sorted({p for p, _ in pairs})
    compliant: set[tuple[int, int]] = set()
    has_open: set[tuple[int, int]] = set()
    for chunk in in_scope.chunks(people):
        compliant.update(
            session.execute(
                select(ComplianceState.person_id, ComplianceState.training_item_id).where(
                    ComplianceState.person_id.in_(chunk), ComplianceState.status == "compliant"
                )
            ).all()
        )
        has_open.update(
            session.execute(
                select(Assignment.person_id, Assignment.training_item_id).where(
                    Assignment.person_id.in_(chunk), Assignment.status.in_(OPEN_ASSIGNMENT_STATUSES)
                )
            ).all()
        )
    targets = catalog.target_versions(session, [i for _, i in pairs])
    due = now + dt.timedelta(days=policy.default_due_days)
    rows = []
    for person_id, item_id in pairs:
        version = targets.get(item_id)
        if version is None or (person_id, item_id) in compliant or (person_id, item_id) in has_open:
            continue
        item_due = due
        if version.status == "approved" and version.effective_at is not None and version.effective_at > now:
            item_due = min(due, version.effective_at)
        rows.append(
            {
                "person_id": person_id,
                "training_item_id": item_id,
                "item_version_id": version.id,
                "due_at": item_due,
            }
        )
    created = assignments.create_assignments(
        uow, rows, reason=reason, source_type=source_type, source_id=source_id, now=now
    )
    if created:
        compliance_state.refresh_states(session, person_ids=sorted({r["person_id"] for r in rows}), now=now)
    return created
