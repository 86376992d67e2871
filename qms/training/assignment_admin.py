"""Administering open assignments one by one or in bulk: extend the due date, cancel; each change
audited with its reason (the console's bulk actions on the assignment list).
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import select

from bridge.core.errors import NotFound, ValidationFailed
from bridge.core.uow import UnitOfWork
from qms.roles import ASSIGNERS
from qms.training import state
from qms.training.models import OPEN_ASSIGNMENT_STATUSES, Assignment

logger = logging.getLogger(__name__)
MAX_BULK = 500


def _open_assignments(uow: UnitOfWork, assignment_ids: list[int], reason: str) -> list[Assignment]:
    if not assignment_ids:
        raise ValidationFailed("choose at least one assignment", field="assignment_ids")
    if len(set(assignment_ids)) > MAX_BULK:
        raise ValidationFailed(f"at most {MAX_BULK} assignments at once", field="assignment_ids")
    if not (reason or "").strip():
        raise ValidationFailed("give the reason for this change", field="reason")
    ids = sorted(set(assignment_ids))
    found = list(uow.session.scalars(
        select(Assignment).where(Assignment.id.in_(ids)).order_by(Assignment.id).with_for_update()))
    missing = set(ids) - {a.id for a in found}
    if missing:
        raise NotFound(f"no assignment {min(missing)}", field="assignment_ids")
    closed = [a.id for a in found if a.status not in OPEN_ASSIGNMENT_STATUSES]
    if closed:
        raise ValidationFailed(
            f"assignment {closed[0]} is no longer open; only open assignments can be changed",
            field="assignment_ids", code="assignment_closed")
    return found


def extend_due_dates(uow: UnitOfWork, assignment_ids: list[int], due_at: dt.datetime, *,
                     reason: str) -> list[int]:
    """Move the due date of open assignments to ``due_at`` (in the future), with a reason.

    An overdue assignment given a future due date is open again. All or none: one closed or
    unknown assignment refuses the whole request.
    """
    uow.actor.require(*ASSIGNERS, action="extending due dates")
    now = uow.clock.now()
    if due_at <= now:
        raise ValidationFailed("the new due date must be in the future", field="due_at")
    found = _open_assignments(uow, assignment_ids, reason)
    with uow.because(reason.strip()):
        for assignment in found:
            assignment.due_at = due_at
            if assignment.status == "overdue":
                assignment.status = "open"
        uow.session.flush()
        state.refresh_states(uow.session, person_ids=sorted({a.person_id for a in found}), now=now)
    logger.info("extended %d assignments to %s", len(found), due_at.isoformat())
    return [a.id for a in found]


def cancel(uow: UnitOfWork, assignment_ids: list[int], *, reason: str) -> list[int]:
    """Cancel open assignments, with a reason (all or none)."""
    uow.actor.require(*ASSIGNERS, action="cancelling assignments")
    now = uow.clock.now()
    found = _open_assignments(uow, assignment_ids, reason)
    with uow.because(reason.strip()):
        for assignment in found:
            assignment.status = "cancelled"
            assignment.closed_at = now
        uow.session.flush()
        state.refresh_states(uow.session, person_ids=sorted({a.person_id for a in found}), now=now)
    logger.info("cancelled %d assignments", len(found))
    return [a.id for a in found]
