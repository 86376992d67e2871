"""The compliance engine: who needs what now, the maintained compliance state, assignment
creation and supersession in bulk, and the as-of rule computed from immutable records.

The maintained state (``qms_compliance_state``) is updated in the same transaction as each
event that changes it, so that reports read it instead of recomputing the matrix. The
as-of questions never read it: they apply the rule of DESIGN.md ("When is a person
trained?") to the dated memberships, requirements, versions and completions.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Integer,
    String,
    and_,
    bindparam,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.orm import Session

from bridge.core import audit
from bridge.core.db import UTCDateTime
from bridge.core.errors import NotFound
from bridge.core.uow import UnitOfWork
from qms.events import AssignmentsCreated
from qms.models import (
    OPEN_ASSIGNMENT_STATUSES,
    Assignment,
    Completion,
    ComplianceState,
    Employment,
    Leave,
    PersonDepartment,
    PersonEquipment,
    PersonJobFunction,
    Requirement,
    TrainingItem,
    TrainingItemVersion,
)
from qms.policy import QmsPolicy

logger = logging.getLogger(__name__)

# Assignments that exist because of the matrix; the others (CAPA, deviation, manual) stay
# when a person leaves the scope of a requirement.
MATRIX_REASONS = (
    "matrix",
    "new_hire",
    "role_change",
    "transfer",
    "equipment",
    "change_control",
    "document_revision",
    "periodic",
    "return_from_leave",
)


def _chunks(values: Sequence[Any], size: int = 900) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _active(model: Any, at: dt.datetime) -> Any:
    return and_(model.valid_from <= at, or_(model.valid_to.is_(None), model.valid_to > at))


# -- who needs what ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Need:
    """One person × requirement pair in force."""

    person_id: int
    requirement_id: int
    training_item_id: int
    department_id: int | None
    job_function_id: int | None


def current_departments(session: Session, person_ids: Sequence[int], at: dt.datetime) -> dict[int, int]:
    """The department of each person at ``at``."""
    found: dict[int, int] = {}
    for chunk in _chunks(list(person_ids)):
        for pid, dept in session.execute(
            select(PersonDepartment.person_id, PersonDepartment.department_id).where(
                PersonDepartment.person_id.in_(chunk), _active(PersonDepartment, at)
            )
        ):
            found[pid] = dept
    return found


def employed_people(session: Session, person_ids: Sequence[int], at: dt.datetime) -> set[int]:
    """The people among ``person_ids`` employed at ``at``."""
    found: set[int] = set()
    for chunk in _chunks(list(person_ids)):
        found.update(
            session.scalars(
                select(Employment.person_id).where(
                    Employment.person_id.in_(chunk),
                    Employment.hired_at <= at,
                    or_(Employment.terminated_at.is_(None), Employment.terminated_at > at),
                )
            )
        )
    return found


def needs_of(
    session: Session,
    person_ids: Sequence[int],
    at: dt.datetime,
    *,
    requirement_ids: Sequence[int] | None = None,
) -> list[Need]:
    """Every requirement in force at ``at`` (or only some) for each employed person among ``person_ids``."""
    people = employed_people(session, person_ids, at)
    if not people:
        return []
    depts = current_departments(session, list(people), at)
    needs: list[Need] = []
    scopes = (
        (PersonJobFunction, PersonJobFunction.job_function_id, Requirement.job_function_id),
        (PersonDepartment, PersonDepartment.department_id, Requirement.department_id),
        (PersonEquipment, PersonEquipment.equipment_id, Requirement.equipment_id),
    )
    for chunk in _chunks(sorted(people)):
        for membership, member_col, req_col in scopes:
            stmt = (
                select(
                    membership.person_id,
                    Requirement.id,
                    Requirement.training_item_id,
                    Requirement.job_function_id,
                )
                .join(Requirement, req_col == member_col)
                .where(membership.person_id.in_(chunk), _active(membership, at), _active(Requirement, at))
            )
            if requirement_ids is not None:
                stmt = stmt.where(Requirement.id.in_(list(requirement_ids)))
            for pid, rid, item_id, jf in session.execute(stmt):
                needs.append(Need(pid, rid, item_id, depts.get(pid), jf))
    return needs


def people_in_scope(session: Session, requirement: Requirement, at: dt.datetime) -> list[int]:
    """The people whose membership puts them in a requirement's scope at ``at``."""
    if requirement.scope == "job_function":
        query = select(PersonJobFunction.person_id).where(
            PersonJobFunction.job_function_id == requirement.job_function_id, _active(PersonJobFunction, at)
        )
    elif requirement.scope == "department":
        query = select(PersonDepartment.person_id).where(
            PersonDepartment.department_id == requirement.department_id, _active(PersonDepartment, at)
        )
    else:
        query = select(PersonEquipment.person_id).where(
            PersonEquipment.equipment_id == requirement.equipment_id, _active(PersonEquipment, at)
        )
    return sorted(set(session.scalars(query)))


def on_leave(session: Session, person_ids: Sequence[int], at: dt.datetime) -> set[int]:
    """The people among ``person_ids`` on leave at ``at``."""
    found: set[int] = set()
    for chunk in _chunks(list(person_ids)):
        found.update(
            session.scalars(
                select(Leave.person_id).where(
                    Leave.person_id.in_(chunk),
                    Leave.starts_at <= at,
                    or_(Leave.ends_at.is_(None), Leave.ends_at > at),
                )
            )
        )
    return found


# -- versions ------------------------------------------------------------------------------------


def effective_version(session: Session, item_id: int) -> TrainingItemVersion | None:
    """The version of an item in force now."""
    return session.scalar(
        select(TrainingItemVersion).where(
            TrainingItemVersion.training_item_id == item_id, TrainingItemVersion.status == "effective"
        )
    )


def target_versions(session: Session, item_ids: Iterable[int]) -> dict[int, TrainingItemVersion]:
    """The version each item's learners should train on: the latest approved or effective."""
    ids = sorted(set(item_ids))
    found: dict[int, TrainingItemVersion] = {}
    for chunk in _chunks(ids):
        for version in session.scalars(
            select(TrainingItemVersion)
            .where(
                TrainingItemVersion.training_item_id.in_(chunk),
                TrainingItemVersion.status.in_(("approved", "effective")),
            )
            .order_by(TrainingItemVersion.seq)
        ):
            found[version.training_item_id] = version  # highest seq wins
    return found


def satisfies(completed: TrainingItemVersion | tuple[int, int], required: TrainingItemVersion) -> bool:
    """Whether a completion on ``completed`` satisfies ``required`` (the as-of rule).

    A completion counts on the required version itself, or on an earlier version when no
    revision that needs retraining lies between the two (``baseline_seq``).
    """
    seq = completed[1] if isinstance(completed, tuple) else completed.seq
    return required.baseline_seq <= seq <= required.seq


# -- state -------------------------------------------------------------------------------------


REFRESH_BATCH = 5000


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
    query = select(ComplianceState, Requirement.retrain_interval_days, Requirement.grace_days).join(
        Requirement, Requirement.id == ComplianceState.requirement_id
    )
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
    people = sorted({r[0].person_id for r in rows})
    items = sorted({r[0].training_item_id for r in rows})
    effective: dict[int, TrainingItemVersion] = {}
    for chunk in _chunks(items):
        for version in session.scalars(
            select(TrainingItemVersion).where(
                TrainingItemVersion.training_item_id.in_(chunk), TrainingItemVersion.status == "effective"
            )
        ):
            effective[version.training_item_id] = version
    seqs: dict[int, int] = {}
    for chunk in _chunks(items):
        seqs.update(
            session.execute(
                select(TrainingItemVersion.id, TrainingItemVersion.seq).where(
                    TrainingItemVersion.training_item_id.in_(chunk)
                )
            ).all()
        )
    completions: dict[tuple[int, int], list[tuple[int, int, dt.datetime]]] = defaultdict(list)
    open_due: dict[tuple[int, int], dt.datetime | None] = {}
    item_filter = Completion.training_item_id.in_(items) if len(items) <= 900 else true()
    for chunk in _chunks(people):
        for cid, pid, iid, vid, at in session.execute(
            select(
                Completion.id,
                Completion.person_id,
                Completion.training_item_id,
                Completion.item_version_id,
                Completion.completed_at,
            ).where(Completion.person_id.in_(chunk), item_filter)
        ):
            completions[(pid, iid)].append((cid, vid, at))
        for pid, iid, due in session.execute(
            select(Assignment.person_id, Assignment.training_item_id, func.min(Assignment.due_at))
            .where(Assignment.person_id.in_(chunk), Assignment.status.in_(OPEN_ASSIGNMENT_STATUSES))
            .group_by(Assignment.person_id, Assignment.training_item_id)
        ):
            open_due[(pid, iid)] = due
    leave = on_leave(session, people, now)
    changes: list[dict[str, Any]] = []
    for state, interval, grace in rows:
        key = (state.person_id, state.training_item_id)
        required = effective.get(state.training_item_id)
        best: tuple[int, int, dt.datetime] | None = None
        if required is not None:
            for cid, vid, at in completions.get(key, ()):
                if satisfies((vid, seqs.get(vid, -1)), required) and (best is None or at > best[2]):
                    best = (cid, vid, at)
        expires = None
        if best is not None and interval:
            expires = best[2] + dt.timedelta(days=interval + (grace or 0))
        due = open_due.get(key)
        if best is not None and (expires is None or expires > now):
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
    needs = needs_of(session, person_ids, now, requirement_ids=requirement_ids)
    wanted = {(n.person_id, n.requirement_id): n for n in needs}
    existing = {}
    for chunk in _chunks(person_ids):
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
        for chunk in _chunks([r.id for r in gone]):
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
    for chunk in _chunks(sorted({p for p, _ in candidates})):
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
        cancel_assignments(uow, dropped, reason=f"no longer required ({reason})", now=now)
    touched_items = None
    if requirement_ids is not None:
        touched_items = sorted({n.training_item_id for n in needs} | {r.training_item_id for r in gone})
    refresh_states(session, person_ids=person_ids, item_ids=touched_items, now=now)
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
    for chunk in _chunks(people):
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
    targets = target_versions(session, [i for _, i in pairs])
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
    created = create_assignments(
        uow, rows, reason=reason, source_type=source_type, source_id=source_id, now=now
    )
    if created:
        refresh_states(session, person_ids=sorted({r["person_id"] for r in rows}), now=now)
    return created


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
    for chunk in _chunks(ids, 5000):
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
    for chunk in _chunks(people):
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


# -- as of ---------------------------------------------------------------------------------------


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
    for chunk in _chunks(sorted(set(item_ids))):
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
        For each person id: ``employed``, ``on_leave``, ``qualified`` and ``requirements``
        (a list of :class:`RequirementAsOf`).
    """
    person_ids = sorted(set(person_ids))
    employed = employed_people(session, person_ids, at)
    leave = on_leave(session, person_ids, at)
    needs = [
        n
        for n in needs_of(session, person_ids, at)
        if item_ids is None or n.training_item_id in set(item_ids)
    ]
    requirements = {
        r.id: r
        for chunk in _chunks(sorted({n.requirement_id for n in needs}))
        for r in session.scalars(select(Requirement).where(Requirement.id.in_(chunk)))
    }
    in_force = _versions_in_force(session, [n.training_item_id for n in needs], at)
    versions: dict[int, TrainingItemVersion] = {}
    for chunk in _chunks(sorted({n.training_item_id for n in needs})):
        versions.update(
            {
                v.id: v
                for v in session.scalars(
                    select(TrainingItemVersion).where(TrainingItemVersion.training_item_id.in_(chunk))
                )
            }
        )
    completions: dict[tuple[int, int], list[Completion]] = defaultdict(list)
    for chunk in _chunks(person_ids):
        for completion in session.scalars(
            select(Completion).where(
                Completion.person_id.in_(chunk), Completion.completed_at <= at, Completion.recorded_at <= at
            )
        ):
            completions[(completion.person_id, completion.training_item_id)].append(completion)
    result: dict[int, dict[str, Any]] = {
        pid: {"employed": pid in employed, "on_leave": pid in leave, "requirements": []} for pid in person_ids
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
                    and satisfies(done, required)
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
        result[need.person_id]["requirements"].append(
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
        return {
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
        if satisfies(versions[completion.item_version_id], in_force) and (
            best is None or completion.completed_at > best.completed_at
        ):
            best = completion
    return {
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


def require_item(session: Session, item_id: int) -> TrainingItem:
    """Return training item ``item_id`` or raise :class:`NotFound`."""
    item = session.get(TrainingItem, item_id)
    if item is None:
        raise NotFound(f"training item {item_id} does not exist", field="training_item_id")
    return item
