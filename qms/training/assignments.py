"""Assignments: manual assignment, creation in bulk (one INSERT, each row audited), supersession
by newer versions and cancellation.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Integer, String, bindparam, func, insert, literal, select, update
from sqlalchemy.orm import Session

from bridge.core import audit
from bridge.core.db import UTCDateTime
from bridge.core.errors import InvalidTransition, NotFound, ValidationFailed
from bridge.core.people import get_person
from bridge.core.uow import UnitOfWork
from qms.documents import catalog
from qms.documents.models import TrainingItemVersion
from qms.events import AssignmentsCreated
from qms.notifications import webhooks
from qms.roles import ASSIGNERS
from qms.training import scope as in_scope
from qms.training import state as compliance_state
from qms.training.models import MATRIX_REASONS, OPEN_ASSIGNMENT_STATUSES, Assignment

logger = logging.getLogger(__name__)


def get_assignment(session: Session, assignment_id: int, *, lock: bool = False) -> Assignment:
    """Return assignment ``assignment_id`` or raise :class:`NotFound`."""
    assignment = session.get(Assignment, assignment_id, with_for_update={"of": Assignment} if lock else None)
    if assignment is None:
        raise NotFound(f"assignment {assignment_id} does not exist", field="assignment_id")
    return assignment


def assign(
    uow: UnitOfWork,
    *,
    person_ids: list[int],
    item_version_id: int,
    due_at: dt.datetime,
    reason: str = "manual",
    source_type: str | None = None,
    source_id: int | None = None,
) -> list[int]:
    """Assign a training item version to people (CAPA, deviation or manual assignments).

    People who already hold an open assignment on this version are skipped.

    Returns:
        The ids of the assignments created.
    """
    uow.actor.require(*ASSIGNERS, action="assigning training")
    session = uow.session
    version = catalog.get_item_version(session, item_version_id)
    if version.status not in ("approved", "effective"):
        raise InvalidTransition(
            f"version {version.label} of {version.item.code} is {version.status}: only an "
            "approved or effective version can be assigned",
            field="item_version_id",
            code="version_not_assignable",
        )
    if due_at <= uow.clock.now():
        raise ValidationFailed("the due date must be in the future", field="due_at", code="due_date_in_past")
    if not person_ids:
        raise ValidationFailed("name at least one person", field="person_ids")
    for person_id in person_ids:
        if not get_person(session, person_id).active:
            raise ValidationFailed(f"person {person_id} is inactive", field="person_ids")
    holding = set(
        session.scalars(
            select(Assignment.person_id).where(
                Assignment.item_version_id == version.id,
                Assignment.status.in_(OPEN_ASSIGNMENT_STATUSES),
                Assignment.person_id.in_(person_ids),
            )
        )
    )
    rows = [
        {
            "person_id": pid,
            "training_item_id": version.training_item_id,
            "item_version_id": version.id,
            "due_at": due_at,
        }
        for pid in sorted(set(person_ids))
        if pid not in holding
    ]
    created = create_assignments(uow, rows, reason=reason, source_type=source_type, source_id=source_id)
    compliance_state.refresh_states(session, person_ids=sorted(set(person_ids)), now=uow.clock.now())
    return created


def usable_version(version: TrainingItemVersion) -> None:
    """Refuse a version that is neither approved nor effective (training is recorded on those)."""
    if version.status not in ("approved", "effective"):
        raise InvalidTransition(
            f"version {version.label} of {version.item.code} is {version.status}: training is "
            "recorded on an approved or effective version",
            field="item_version_id",
            code="version_not_trainable",
        )


def create_assignments(
    uow: UnitOfWork,
    rows: list[dict[str, Any]],
    *,
    reason: str,
    source_type: str | None,
    source_id: int | None,
    now: dt.datetime | None = None,
) -> list[int]:
    """Insert assignments in one statement, audit each, and publish :class:`AssignmentsCreated`.

    Args:
        uow: Unit of work.
        rows: Dicts with ``person_id``, ``training_item_id``, ``item_version_id``, ``due_at``.
        reason: Why (one of ``ASSIGNMENT_REASONS``).
        source_type: Kind of the quality record behind them.
        source_id: Its id.
        now: Assignment time (server time by default).

    Returns:
        The new assignment ids, in the order of ``rows``.
    """
    if not rows:
        return []
    now = now or uow.clock.now()
    values = [
        {
            **row,
            "reason": reason,
            "source_type": source_type,
            "source_id": source_id,
            "status": "open",
            "assigned_at": now,
        }
        for row in rows
    ]
    result = uow.session.execute(
        insert(Assignment).returning(Assignment.id, sort_by_parameter_order=True), values
    )
    ids = [row[0] for row in result]
    for assignment_id, row in zip(ids, values, strict=True):
        audit.record(uow, "create", "qms_assignment", assignment_id, new={"id": assignment_id, **row})
    uow.publish(
        AssignmentsCreated(
            reason=reason, source_type=source_type, source_id=source_id, assignment_ids=tuple(ids)
        )
    )
    webhooks.assignments_created(uow, ids)
    logger.info("created %d assignments (%s, %s %s)", len(ids), reason, source_type, source_id)
    return ids


def assign_from_select(
    uow: UnitOfWork,
    people: Any,
    *,
    item_version: TrainingItemVersion,
    due_at: dt.datetime | None,
    reason: str,
    source_type: str | None,
    source_id: int | None,
    now: dt.datetime,
) -> list[tuple[int, int]]:
    """Assign a version to the people a subquery names, in one INSERT ... SELECT.

    Used where thousands of people are assigned at once (change-control approval): the
    rows never travel through Python; each created assignment is still audited.

    Returns:
        ``(assignment_id, person_id)`` of each assignment created.
    """
    table = Assignment.__table__
    chosen = people.subquery()
    source = select(
        chosen.c.person_id,
        literal(item_version.training_item_id).label("training_item_id"),
        literal(item_version.id).label("item_version_id"),
        literal(reason).label("reason"),
        literal(source_type, String).label("source_type"),
        literal(source_id, Integer).label("source_id"),
        literal("open").label("status"),
        literal(now, UTCDateTime).label("assigned_at"),
        literal(due_at, UTCDateTime).label("due_at"),
    )
    columns = [
        "person_id",
        "training_item_id",
        "item_version_id",
        "reason",
        "source_type",
        "source_id",
        "status",
        "assigned_at",
        "due_at",
    ]
    result = uow.session.execute(
        insert(table).from_select(columns, source).returning(table.c.id, table.c.person_id)
    )
    created = sorted((row[0], row[1]) for row in result)
    common = {
        "training_item_id": item_version.training_item_id,
        "item_version_id": item_version.id,
        "reason": reason,
        "source_type": source_type,
        "source_id": source_id,
        "status": "open",
        "assigned_at": now,
        "due_at": due_at,
    }
    for assignment_id, person_id in created:
        audit.record(
            uow,
            "create",
            "qms_assignment",
            assignment_id,
            new={"id": assignment_id, "person_id": person_id, **common},
        )
    uow.publish(
        AssignmentsCreated(
            reason=reason,
            source_type=source_type,
            source_id=source_id,
            assignment_ids=tuple(a for a, _ in created),
        )
    )
    webhooks.assignments_created(uow, [a for a, _ in created])
    logger.info("created %d assignments (%s, %s %s)", len(created), reason, source_type, source_id)
    return created


def supersede_set_based(
    uow: UnitOfWork, item_version: TrainingItemVersion, person_ids: set[int], *, now: dt.datetime
) -> list[int]:
    """Supersede the open assignments on older versions of the people just assigned the new one.

    Each superseded row names its replacement (the person's new assignment).
    """
    session = uow.session
    table = Assignment.__table__
    newer = Assignment.__table__.alias("newer")
    old = [
        row
        for row in session.execute(
            select(table.c.id, table.c.person_id, table.c.status).where(
                table.c.training_item_id == item_version.training_item_id,
                table.c.status.in_(OPEN_ASSIGNMENT_STATUSES),
                table.c.item_version_id != item_version.id,
            )
        ).all()
        if row.person_id in person_ids
    ]
    if not old:
        return []
    replacement = (
        select(func.max(newer.c.id))
        .where(
            newer.c.person_id == table.c.person_id,
            newer.c.item_version_id == item_version.id,
            newer.c.status.in_(OPEN_ASSIGNMENT_STATUSES),
        )
        .scalar_subquery()
    )
    ids = [row.id for row in old]
    by_id: dict[int, int | None] = {}
    for chunk in in_scope.chunks(ids, 5000):
        session.execute(
            update(table)
            .where(table.c.id.in_(list(chunk)))
            .values(status="superseded", closed_at=now, superseded_by_id=replacement)
        )
        by_id.update(
            session.execute(
                select(table.c.id, table.c.superseded_by_id).where(table.c.id.in_(list(chunk)))
            ).all()
        )
    for row in old:
        audit.record(
            uow,
            "update",
            "qms_assignment",
            row.id,
            old={"status": row.status},
            new={"status": "superseded", "superseded_by_id": by_id.get(row.id), "closed_at": now},
            reason=f"superseded by version {item_version.label}",
        )
    session.expire_all()
    return ids


def supersede_older(
    uow: UnitOfWork,
    item_id: int,
    new_version: TrainingItemVersion,
    new_by_person: dict[int, int],
    *,
    now: dt.datetime,
) -> list[int]:
    """Supersede open assignments on older versions of an item by the new ones."""
    session = uow.session
    old = session.execute(
        select(Assignment.id, Assignment.person_id, Assignment.status).where(
            Assignment.training_item_id == item_id,
            Assignment.status.in_(OPEN_ASSIGNMENT_STATUSES),
            Assignment.item_version_id != new_version.id,
        )
    ).all()
    changes = [
        {
            "b_id": a.id,
            "status": "superseded",
            "closed_at": now,
            "superseded_by_id": new_by_person.get(a.person_id),
        }
        for a in old
    ]
    if changes:
        session.execute(
            update(Assignment.__table__).where(Assignment.__table__.c.id == bindparam("b_id")), changes
        )
        for row, change in zip(old, changes, strict=True):
            audit.record(
                uow,
                "update",
                "qms_assignment",
                row.id,
                old={"status": row.status},
                new={
                    "status": "superseded",
                    "superseded_by_id": change["superseded_by_id"],
                    "closed_at": now,
                },
                reason=f"superseded by version {new_version.label}",
            )
    return [a.id for a in old]


def cancel_assignments(
    uow: UnitOfWork,
    pairs: Iterable[tuple[int, int]],
    *,
    reason: str,
    now: dt.datetime,
    reasons: Sequence[str] = MATRIX_REASONS,
) -> list[int]:
    """Cancel the open matrix assignments of (person, item) pairs."""
    session = uow.session
    pairs = set(pairs)
    people = sorted({p for p, _ in pairs})
    found = []
    for chunk in in_scope.chunks(people):
        found.extend(
            row
            for row in session.execute(
                select(
                    Assignment.id, Assignment.person_id, Assignment.training_item_id, Assignment.status
                ).where(
                    Assignment.person_id.in_(chunk),
                    Assignment.status.in_(OPEN_ASSIGNMENT_STATUSES),
                    Assignment.reason.in_(list(reasons)),
                )
            )
            if (row.person_id, row.training_item_id) in pairs
        )
    if found:
        session.execute(
            update(Assignment.__table__).where(Assignment.__table__.c.id == bindparam("b_id")),
            [{"b_id": row.id, "status": "cancelled", "closed_at": now} for row in found],
        )
        for row in found:
            audit.record(
                uow,
                "update",
                "qms_assignment",
                row.id,
                old={"status": row.status},
                new={"status": "cancelled", "closed_at": now},
                reason=reason,
            )
        session.expire_all()
    return [row.id for row in found]
