"""CAPA: corrective and preventive actions, their training, and the lifecycle that closes them.

Lifecycle (Part 11 §11.10(f): each step refuses a record in the wrong state)::

    open → investigation → actions_in_progress → effectiveness_check → closed
      └──────────┴────────────────┴──────────────────┴──→ cancelled

This module reads CAPAs and opens and investigates them; ``actions`` adds and completes their
actions, ``lifecycle`` approves, checks, closes and cancels them.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bridge.core import audit
from bridge.core.errors import InvalidTransition, NotFound, ValidationFailed
from bridge.core.people import Person, get_person
from bridge.core.uow import UnitOfWork
from qms.capa.models import CAPA_SOURCES, Capa, CapaAction
from qms.deviations import services as deviations
from qms.documents.models import TrainingItem, TrainingItemVersion
from qms.numbering import next_number
from qms.org.models import JobFunction
from qms.roles import AUTHORS
from qms.training import scope as in_scope
from qms.training.models import OPEN_ASSIGNMENT_STATUSES, Assignment

logger = logging.getLogger(__name__)


def get_capa(session: Session, capa_id: int, *, lock: bool = False) -> Capa:
    """Return CAPA ``capa_id`` or raise :class:`NotFound`; ``lock`` takes its row lock
    (PostgreSQL) so that two transitions or signatures on one CAPA run one after the other.
    """
    capa = session.get(Capa, capa_id, with_for_update={"of": Capa} if lock else None)
    if capa is None:
        raise NotFound(f"CAPA {capa_id} does not exist", field="capa_id")
    return capa


def get_action(session: Session, capa: Capa, action_id: int) -> CapaAction:
    """Return action ``action_id`` of ``capa`` or raise :class:`NotFound`."""
    action = session.get(CapaAction, action_id)
    if action is None or action.capa_id != capa.id:
        raise NotFound(f"CAPA {capa.number} has no action {action_id}", field="action_id")
    return action


def list_capas(session: Session, *, status: str | None = None) -> list[Capa]:
    """Every CAPA, newest first, optionally in one status."""
    query = select(Capa).order_by(Capa.id.desc())
    if status:
        query = query.where(Capa.status == status)
    return list(session.scalars(query))


def _current_assignments(
    session: Session, assignment_ids: list[int], at: dt.datetime | None = None
) -> dict[int, Assignment]:
    """Map each assignment id to the assignment that now (or at ``at``) carries its obligation.

    A superseded assignment is followed to its successor (set-based, one query per step of
    supersession): the person must then train on the newer version.
    """
    loaded: dict[int, Assignment] = {}
    queried: set[int] = set()
    frontier = set(assignment_ids)
    while frontier:
        for chunk in in_scope.chunks(sorted(frontier)):
            loaded.update(
                (a.id, a) for a in session.scalars(select(Assignment).where(Assignment.id.in_(chunk)))
            )
        queried |= frontier
        frontier = {
            a.superseded_by_id for a in loaded.values() if a.status == "superseded" and a.superseded_by_id
        } - queried
    current: dict[int, Assignment] = {}
    for assignment_id in assignment_ids:
        assignment, seen = loaded[assignment_id], {assignment_id}
        while (
            assignment.status == "superseded"
            and assignment.superseded_by_id in loaded
            and (at is None or (assignment.closed_at is not None and assignment.closed_at <= at))
        ):
            if assignment.superseded_by_id in seen:
                break
            seen.add(assignment.superseded_by_id)
            assignment = loaded[assignment.superseded_by_id]
        current[assignment_id] = assignment
    return current


def status_at(assignment: Assignment, at: dt.datetime) -> str:
    """An assignment's status at a moment: its closing status once closed, else open or overdue."""
    if assignment.closed_at is not None and assignment.closed_at <= at:
        return assignment.status
    return "overdue" if assignment.due_at is not None and assignment.due_at < at else "open"


def training_linkage(session: Session, capa: Capa, at: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Every assignment the CAPA's training actions rely on, with its current state (or at ``at``)."""
    links = [(action, link) for action in capa.actions if action.kind == "training" for link in action.links]
    if at is not None:
        linked = {a.id: a for a in session.scalars(
            select(Assignment).where(Assignment.id.in_([link.assignment_id for _a, link in links] or [0]))
        )}
        links = [(a, link) for a, link in links if linked[link.assignment_id].assigned_at <= at]
    if not links:
        return []
    current = _current_assignments(session, [link.assignment_id for _a, link in links], at)
    people = sorted({a.person_id for a in current.values()})
    names = dict(session.execute(select(Person.id, Person.display_name).where(Person.id.in_(people))).all())
    version_ids = sorted({a.item_version_id for a in current.values()})
    versions = {
        v.id: v
        for v in session.scalars(select(TrainingItemVersion).where(TrainingItemVersion.id.in_(version_ids)))
    }
    rows = []
    for action, link in links:
        assignment = current[link.assignment_id]
        version = versions[assignment.item_version_id]
        status = status_at(assignment, at) if at is not None else assignment.status
        rows.append(
            {
                "action_id": action.id,
                "action_seq": action.seq,
                "assignment_id": assignment.id,
                "linked_assignment_id": link.assignment_id,
                "created_by_action": link.created_by_action,
                "person_id": assignment.person_id,
                "person": names.get(assignment.person_id),
                "training_item_id": assignment.training_item_id,
                "item": version.item.code,
                "item_version_id": version.id,
                "version": version.label,
                "status": status if at is not None else assignment.status,
                "due_at": assignment.due_at,
                "completion_id": assignment.completion_id if status in ("completed",) else None,
                "closed_at": assignment.closed_at if status not in OPEN_ASSIGNMENT_STATUSES else None,
                "open": status in OPEN_ASSIGNMENT_STATUSES,
            }
        )
    rows.sort(key=lambda r: (r["action_seq"], r["person"] or "", r["item"]))
    return rows


def open_training(session: Session, capa: Capa) -> list[dict[str, Any]]:
    """The assignments that keep the CAPA from closing: person, item, version, status."""
    return [
        {k: row[k] for k in ("assignment_id", "person_id", "person", "item", "version", "status", "due_at")}
        for row in training_linkage(session, capa)
        if row["open"]
    ]


def capa_content(capa: Capa) -> dict[str, Any]:
    """What a signature on a CAPA binds to: the record, its plan and its actions."""
    return {
        "number": capa.number,
        "title": capa.title,
        "description": capa.description,
        "source": capa.source,
        "source_reference": capa.source_reference,
        "deviation_id": capa.deviation_id,
        "owner_person_id": capa.owner_person_id,
        "due_at": capa.due_at,
        "root_cause": capa.root_cause,
        "effectiveness_summary": capa.effectiveness_summary,
        "actions": [
            {
                "seq": a.seq,
                "kind": a.kind,
                "description": a.description,
                "status": a.status,
                "training_item_ids": a.training_item_ids,
                "person_ids": a.person_ids,
                "job_function_ids": a.job_function_ids,
                "assignments": [link.assignment_id for link in a.links],
            }
            for a in capa.actions
        ],
    }


# Arbitrary key of the PostgreSQL advisory lock that serialises numbering (SQLite writers
# are serialised already by BEGIN IMMEDIATE).
_NUMBERING_LOCK_KEY = 7_465_432_101


def _next_number(session: Session, now: dt.datetime) -> str:
    return next_number(session, Capa, "CAPA", _NUMBERING_LOCK_KEY, now)


def check_due(due_at: dt.datetime, now: dt.datetime, field: str = "due_at") -> None:
    """Refuse a due date without a time zone or not after ``now``."""
    if due_at.tzinfo is None:
        raise ValidationFailed("the due date needs a time zone (e.g. 2026-05-01T00:00:00Z)", field=field)
    if due_at <= now:
        raise ValidationFailed("the due date must be in the future", field=field, code="due_date_in_past")


def check_owner(session: Session, person_id: int, field: str) -> None:
    """Refuse an unknown or inactive person as the owner named in ``field``."""
    try:
        person = get_person(session, person_id)
    except NotFound as exc:
        raise NotFound(exc.message, field=field) from exc
    if not person.active:
        raise ValidationFailed(f"person {person_id} is inactive and cannot own a record", field=field)


def create_capa(
    uow: UnitOfWork,
    *,
    title: str,
    description: str | None,
    source: str,
    source_reference: str | None,
    owner_person_id: int,
    due_at: dt.datetime,
    deviation_id: int | None = None,
) -> Capa:
    """Open a CAPA. A CAPA raised from a deviation names it (``source="deviation"``).

    Raises:
        ValidationFailed: Unknown source, a deviation source without its deviation (or the
            reverse), a past due date, an inactive owner.
        InvalidTransition: The deviation is closed.
    """
    uow.actor.require(*AUTHORS, action="opening a CAPA")
    session = uow.session
    if source not in CAPA_SOURCES:
        raise ValidationFailed(f"source must be one of {', '.join(CAPA_SOURCES)}", field="source")
    if (source == "deviation") != (deviation_id is not None):
        raise ValidationFailed(
            "a CAPA whose source is a deviation names that deviation (deviation_id), and only then",
            field="deviation_id",
            code="deviation_source_mismatch",
        )
    if deviation_id is not None:
        deviation = deviations.get_deviation(session, deviation_id, lock=True)
        if deviation.status == "closed":
            raise InvalidTransition(
                f"deviation {deviation.number} is closed: a CAPA is raised while it is open",
                field="deviation_id",
                code="deviation_closed",
            )
    check_due(due_at, uow.clock.now())
    check_owner(session, owner_person_id, "owner_person_id")
    capa = Capa(
        number=_next_number(session, uow.clock.now()),
        title=title.strip(),
        description=description,
        source=source,
        source_reference=source_reference,
        deviation_id=deviation_id,
        owner_person_id=owner_person_id,
        due_at=due_at,
        status="open",
        author_user_id=uow.actor.user_id,
    )
    session.add(capa)
    session.flush()
    logger.info("CAPA %s opened", capa.number)
    return capa


def transition(uow: UnitOfWork, capa: Capa, expected: tuple[str, ...], new: str, action: str) -> None:
    """Move ``capa`` from one of ``expected`` to ``new``, or refuse the step out of order."""
    if capa.status not in expected:
        raise InvalidTransition(
            f"{action} needs a CAPA in status {' or '.join(expected)}; {capa.number} is {capa.status}",
            field="status",
        )
    old, capa.status = capa.status, new
    audit.record(uow, f"capa.{new}", "qms_capa", capa.id, old={"status": old}, new={"status": new})


def start_investigation(uow: UnitOfWork, capa_id: int) -> Capa:
    """Open → investigation."""
    uow.actor.require(*AUTHORS, action="starting a CAPA investigation")
    capa = get_capa(uow.session, capa_id, lock=True)
    transition(uow, capa, ("open",), "investigation", "starting the investigation")
    uow.session.flush()
    return capa


def record_root_cause(uow: UnitOfWork, capa_id: int, *, root_cause: str) -> Capa:
    """Record (or revise) the root cause during the investigation."""
    uow.actor.require(*AUTHORS, action="recording a CAPA root cause")
    capa = get_capa(uow.session, capa_id, lock=True)
    if capa.status != "investigation":
        raise InvalidTransition(
            f"the root cause is recorded during the investigation; {capa.number} is {capa.status}",
            field="status",
        )
    if not root_cause.strip():
        raise ValidationFailed("the root cause cannot be empty", field="root_cause")
    capa.root_cause = root_cause.strip()
    uow.session.flush()
    return capa


def list_statement(*, status: str | None = None, source: str | None = None, search: str | None = None) -> Any:
    """The CAPA list's query (with its owner's name), filtered; the page sorts and pages it."""
    statement = select(Capa, Person.display_name).join(Person, Person.id == Capa.owner_person_id)
    if status:
        statement = statement.where(Capa.status == status)
    if source:
        statement = statement.where(Capa.source == source)
    if search and search.strip():
        like = f"%{search.strip().lower()}%"
        statement = statement.where(func.lower(Capa.number).like(like) | func.lower(Capa.title).like(like))
    return statement


def action_targets(session: Session, capa: Capa) -> dict[str, dict[int, str]]:
    """Names of the people, job functions and training items the CAPA's actions name (three queries)."""
    people = {p for a in capa.actions for p in (a.person_ids or [])}
    people |= {a.owner_person_id for a in capa.actions if a.owner_person_id} | {capa.owner_person_id}
    functions = {j for a in capa.actions for j in (a.job_function_ids or [])}
    item_ids = {i for a in capa.actions for i in (a.training_item_ids or [])}
    return {
        "people": dict(session.execute(
            select(Person.id, Person.display_name).where(Person.id.in_(sorted(people) or [0]))).all()),
        "job_functions": dict(session.execute(
            select(JobFunction.id, JobFunction.name).where(JobFunction.id.in_(sorted(functions) or [0]))
        ).all()),
        "items": dict(session.execute(
            select(TrainingItem.id, TrainingItem.code).where(TrainingItem.id.in_(sorted(item_ids) or [0]))
        ).all()),
    }
