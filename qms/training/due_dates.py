"""Due dates over time: open assignments fall overdue; periodic retraining is assigned ahead of
its lapse (the ``overdue`` and ``periodic`` sweeps).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import bindparam, select, update

from bridge.core import audit
from bridge.core.uow import UnitOfWork
from qms.documents import catalog
from qms.policy import QmsPolicy
from qms.training import assignments
from qms.training import scope as in_scope
from qms.training import state as compliance_state
from qms.training.models import OPEN_ASSIGNMENT_STATUSES, Assignment, ComplianceState, Requirement

# Open assignments that are not marked overdue yet.
NOT_YET_OVERDUE = tuple(s for s in OPEN_ASSIGNMENT_STATUSES if s != "overdue")


def overdue_sweep(uow: UnitOfWork, *, now: dt.datetime | None = None) -> int:
    """Mark open assignments past their due date overdue, and their state rows."""
    now = now or uow.clock.now()
    session = uow.session
    late = session.execute(
        select(Assignment.id, Assignment.person_id).where(
            Assignment.status.in_(NOT_YET_OVERDUE), Assignment.due_at < now
        )
    ).all()
    if late:
        session.execute(
            update(Assignment.__table__).where(Assignment.__table__.c.id == bindparam("b_id")),
            [{"b_id": row.id, "status": "overdue"} for row in late],
        )
        for row in late:
            audit.record(
                uow,
                "update",
                "qms_assignment",
                row.id,
                old={"status": "open"},
                new={"status": "overdue"},
                reason="due date passed",
            )
    people = sorted(
        {row.person_id for row in late}
        | set(
            session.scalars(
                select(ComplianceState.person_id)
                .where(
                    ComplianceState.status.in_(("due", "compliant")),
                    ((ComplianceState.due_at < now) | (ComplianceState.expires_at <= now)),
                )
                .distinct()
            )
        )
    )
    compliance_state.refresh_states(session, person_ids=people, now=now)
    return len(late)


def periodic_sweep(
    uow: UnitOfWork, *, now: dt.datetime | None = None, policy: QmsPolicy | None = None
) -> list[int]:
    """Assign periodic retraining that falls due within the lead time."""
    now = now or uow.clock.now()
    policy = policy or uow.policy(QmsPolicy)
    session = uow.session
    horizon = now + dt.timedelta(days=policy.periodic_lead_days)
    # One indexed query per distinct interval: only the rows falling due are read.
    intervals = session.scalars(
        select(Requirement.retrain_interval_days)
        .where(Requirement.retrain_interval_days.is_not(None))
        .distinct()
    ).all()
    due: dict[tuple[int, int], tuple[dt.datetime, int]] = {}
    for interval in intervals:
        for person_id, item_id, last, requirement_id in session.execute(
            select(
                ComplianceState.person_id,
                ComplianceState.training_item_id,
                ComplianceState.last_completed_at,
                ComplianceState.requirement_id,
            )
            .join(Requirement, Requirement.id == ComplianceState.requirement_id)
            .where(
                Requirement.retrain_interval_days == interval,
                ComplianceState.last_completed_at <= horizon - dt.timedelta(days=interval),
                ComplianceState.status.in_(("compliant", "due", "overdue")),
            )
        ):
            falls_due = last + dt.timedelta(days=interval)
            key = (person_id, item_id)
            if key not in due or falls_due < due[key][0]:
                due[key] = (falls_due, requirement_id)
    if not due:
        return []
    people = sorted({p for p, _ in due})
    has_open: set[tuple[int, int]] = set()
    for chunk in in_scope.chunks(people):
        has_open.update(
            session.execute(
                select(Assignment.person_id, Assignment.training_item_id).where(
                    Assignment.person_id.in_(chunk), Assignment.status.in_(OPEN_ASSIGNMENT_STATUSES)
                )
            ).all()
        )
    targets = catalog.target_versions(session, [i for _, i in due])
    by_requirement: dict[int, list[dict[str, Any]]] = {}
    for (person_id, item_id), (falls_due, requirement_id) in sorted(due.items()):
        if (person_id, item_id) in has_open or item_id not in targets:
            continue
        by_requirement.setdefault(requirement_id, []).append(
            {
                "person_id": person_id,
                "training_item_id": item_id,
                "item_version_id": targets[item_id].id,
                "due_at": max(falls_due, now),
            }
        )
    created: list[int] = []
    for requirement_id, rows in sorted(by_requirement.items()):
        created.extend(
            assignments.create_assignments(
                uow, rows, reason="periodic", source_type="requirement", source_id=requirement_id, now=now
            )
        )
    compliance_state.refresh_states(session, person_ids=people, now=now)
    return created
