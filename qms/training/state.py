"""The maintained compliance state (``qms_compliance_state``): recomputed for some people or
items in the same transaction as each event that changes it, so reports read it instead of
recomputing the matrix.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, bindparam, func, select, update
from sqlalchemy.orm import Session

from qms.documents.models import TrainingItemVersion
from qms.training import scope as in_scope
from qms.training.models import OPEN_ASSIGNMENT_STATUSES, Assignment, Completion, ComplianceState, Requirement

REFRESH_BATCH = 5000
# The maintained values of a state row (what a refresh recomputes and compares).
_VALUES = ("status", "trained_version_id", "last_completion_id", "last_completed_at", "due_at", "expires_at")


def refresh_states(
    session: Session,
    *,
    person_ids: Sequence[int] | None = None,
    item_ids: Sequence[int] | None = None,
    now: dt.datetime,
) -> int:
    """Recompute the maintained state of the rows of some people and/or items.

    Returns:
        The number of rows whose values changed.
    """
    if person_ids is not None and len(person_ids) > REFRESH_BATCH:
        # Bounded IN lists (SQLite caps bound parameters) and bounded memory per batch.
        people = sorted(set(person_ids))
        return sum(
            refresh_states(session, person_ids=people[i : i + REFRESH_BATCH], item_ids=item_ids, now=now)
            for i in range(0, len(people), REFRESH_BATCH)
        )
    # Columns, not entities: tens of thousands of rows after a site's first load, compared with
    # what the database holds (no identity map to fill, then expire).
    query = select(
        ComplianceState.id,
        ComplianceState.person_id,
        ComplianceState.training_item_id,
        *(getattr(ComplianceState, k) for k in _VALUES),
        Requirement.retrain_interval_days,
        Requirement.grace_days,
    ).join(Requirement, Requirement.id == ComplianceState.requirement_id)
    if person_ids is not None:
        if not person_ids:
            return 0
        query = query.where(ComplianceState.person_id.in_(list(person_ids)))
    if item_ids is not None:
        if not item_ids:
            return 0
        query = query.where(ComplianceState.training_item_id.in_(list(item_ids)))
    rows = session.execute(query).all()
    if not rows:
        return 0
    people = sorted({r.person_id for r in rows})
    items = sorted({r.training_item_id for r in rows})
    effective: dict[int, TrainingItemVersion] = {}
    for chunk in in_scope.chunks(items):
        for version in session.scalars(
            select(TrainingItemVersion).where(
                TrainingItemVersion.training_item_id.in_(chunk), TrainingItemVersion.status == "effective"
            )
        ):
            effective[version.training_item_id] = version
    seqs: dict[int, int] = {}
    for chunk in in_scope.chunks(items):
        seqs.update(
            session.execute(
                select(TrainingItemVersion.id, TrainingItemVersion.seq).where(
                    TrainingItemVersion.training_item_id.in_(chunk)
                )
            ).all()
        )
    completions: dict[tuple[int, int], list[tuple[int, int, dt.datetime]]] = defaultdict(list)
    open_due: dict[tuple[int, int], dt.datetime | None] = {}
    for chunk in in_scope.chunks(people):
        # Only the completions of a (person, item) pair that has a state row are ever looked at:
        # after a large history import the others are most of the table (people trained beyond
        # the matrix). Joined from the pairs, each pair is one lookup in the completions' index
        # (IN lists on the completions themselves make SQLite test every row against them).
        wanted = select(ComplianceState.person_id, ComplianceState.training_item_id).where(
            ComplianceState.person_id.in_(chunk)
        )
        if item_ids is not None:
            wanted = wanted.where(ComplianceState.training_item_id.in_(list(item_ids)))
        pairs = wanted.distinct().subquery()
        for cid, pid, iid, vid, at in session.execute(
            select(
                Completion.id,
                Completion.person_id,
                Completion.training_item_id,
                Completion.item_version_id,
                Completion.completed_at,
            )
            .join(
                pairs,
                and_(
                    pairs.c.person_id == Completion.person_id,
                    pairs.c.training_item_id == Completion.training_item_id,
                ),
            )
        ):
            completions[(pid, iid)].append((cid, vid, at))
        for pid, iid, due in session.execute(
            select(Assignment.person_id, Assignment.training_item_id, func.min(Assignment.due_at))
            .where(Assignment.person_id.in_(chunk), Assignment.status.in_(OPEN_ASSIGNMENT_STATUSES))
            .group_by(Assignment.person_id, Assignment.training_item_id)
        ):
            open_due[(pid, iid)] = due
    leave = in_scope.on_leave(session, people, now)
    changes: list[dict[str, Any]] = []
    for state in rows:
        interval, grace = state.retrain_interval_days, state.grace_days
        key = (state.person_id, state.training_item_id)
        required = effective.get(state.training_item_id)
        best: tuple[int, int, dt.datetime] | None = None
        if required is not None:
            for cid, vid, at in completions.get(key, ()):
                if in_scope.satisfies((vid, seqs.get(vid, -1)), required) and (best is None or at > best[2]):
                    best = (cid, vid, at)
        expires = None
        if best is not None and interval:
            expires = best[2] + dt.timedelta(days=interval + (grace or 0))
        due = open_due.get(key)
        if required is None:
            # No version in force yet: the requirement is not in force (neither met nor a gap).
            status = "not_in_force"
        elif best is not None and (expires is None or expires > now):
            status = "compliant"
        else:
            if best is not None and expires is not None and (due is None or expires < due):
                due = expires
            status = "overdue" if due is not None and due < now else "due"
        if state.person_id in leave:
            status = "exempt"
        values = {
            "status": status,
            "trained_version_id": best[1] if best else None,
            "last_completion_id": best[0] if best else None,
            "last_completed_at": best[2] if best else None,
            "due_at": due,
            "expires_at": expires,
        }
        if any(getattr(state, k) != v for k, v in values.items()):
            changes.append({"b_id": state.id, **values, "updated_at": now})
    if changes:
        session.execute(
            update(ComplianceState.__table__).where(ComplianceState.__table__.c.id == bindparam("b_id")),
            changes,
        )
        session.expire_all()
    return len(changes)
