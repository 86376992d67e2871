"""CAPA: corrective and preventive actions, their training, and the lifecycle that closes them.

Lifecycle (Part 11 §11.10(f): each step refuses a record in the wrong state)::

    open → investigation → actions_in_progress → effectiveness_check → closed
      └──────────┴────────────────┴──────────────────┴──→ cancelled

The plan is approved (investigation → actions in progress) and the CAPA is closed with an
e-signature by a QA approver. A training action names training items and people and/or job
functions: the assignments are created in the same transaction as the action, with
``reason="capa"`` and the CAPA as their source. Closure is refused while any assignment of
its training actions is still open, and the refusal lists them.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from bridge.core import audit, signatures
from bridge.core.clock import column_now
from bridge.core.db import Base, JSONType, UTCDateTime
from bridge.core.errors import InvalidTransition, NotFound, ValidationFailed
from bridge.core.people import Person, get_person
from bridge.core.uow import UnitOfWork
from qms import assignments, compliance, documents
from qms import deviations as _deviations  # noqa: F401 - qms_capa.deviation_id refers to its table
from qms.events import VersionBecameEffective
from qms.models import (
    OPEN_ASSIGNMENT_STATUSES,
    Assignment,
    JobFunction,
    PersonJobFunction,
    TrainingItem,
    TrainingItemVersion,
)
from qms.numbering import next_number
from qms.policy import QmsPolicy
from qms.roles import APPROVERS, AUTHORS

logger = logging.getLogger(__name__)

CAPA_STATUSES = ("open", "investigation", "actions_in_progress", "effectiveness_check", "closed", "cancelled")
CAPA_SOURCES = ("deviation", "audit", "complaint", "inspection", "trend", "other")
ACTION_KINDS = ("corrective", "preventive", "training")
ACTION_STATUSES = ("open", "done", "cancelled")
# States in which actions may still be added (the plan is frozen from the effectiveness check on).
PLANNING_STATUSES = ("open", "investigation", "actions_in_progress")


class Capa(Base):
    """A corrective and preventive action record."""

    __tablename__ = "qms_capa"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), nullable=False, unique=True)
    title: Mapped[str] = mapped_column(String(300), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16), nullable=False)
    source_reference: Mapped[str | None] = mapped_column(String(200))
    deviation_id: Mapped[int | None] = mapped_column(ForeignKey("qms_deviation.id"))
    owner_person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), nullable=False)
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    status: Mapped[str] = mapped_column(String(24), nullable=False, default="open")
    root_cause: Mapped[str | None] = mapped_column(Text)
    effectiveness_summary: Mapped[str | None] = mapped_column(Text)
    author_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=column_now)
    approved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    approval_signature_id: Mapped[int | None] = mapped_column(ForeignKey("electronic_signature.id"))
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    closure_signature_id: Mapped[int | None] = mapped_column(ForeignKey("electronic_signature.id"))
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    cancel_reason: Mapped[str | None] = mapped_column(Text)

    actions: Mapped[list[CapaAction]] = relationship(
        back_populates="capa", order_by="CapaAction.seq", lazy="selectin"
    )

    __table_args__ = (
        Index("ix_qms_capa_status", "status", "due_at"),
        Index("ix_qms_capa_deviation", "deviation_id"),
    )


class CapaAction(Base):
    """One action of a CAPA. A training action names items and people and/or job functions."""

    __tablename__ = "qms_capa_action"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    capa_id: Mapped[int] = mapped_column(ForeignKey("qms_capa.id"), nullable=False)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False)
    owner_person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="open")
    training_item_ids: Mapped[list[int]] = mapped_column(JSONType, nullable=False, default=list)
    person_ids: Mapped[list[int]] = mapped_column(JSONType, nullable=False, default=list)
    job_function_ids: Mapped[list[int]] = mapped_column(JSONType, nullable=False, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=column_now)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    completion_note: Mapped[str | None] = mapped_column(Text)

    capa: Mapped[Capa] = relationship(back_populates="actions")
    links: Mapped[list[CapaActionAssignment]] = relationship(
        back_populates="action", order_by="CapaActionAssignment.id", lazy="selectin"
    )

    __table_args__ = (UniqueConstraint("capa_id", "seq", name="uq_qms_capa_action_seq"),)


class CapaActionAssignment(Base):
    """An assignment a training action relies on: created by it, or already open when it was added."""

    __tablename__ = "qms_capa_action_assignment"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    action_id: Mapped[int] = mapped_column(ForeignKey("qms_capa_action.id"), nullable=False)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("qms_assignment.id"), nullable=False)
    created_by_action: Mapped[bool] = mapped_column(nullable=False, default=True)

    action: Mapped[CapaAction] = relationship(back_populates="links")

    __table_args__ = (
        UniqueConstraint("action_id", "assignment_id", name="uq_qms_capa_action_assignment_pair"),
        Index("ix_qms_capa_action_assignment_assignment", "assignment_id"),
    )


# -- reading ------------------------------------------------------------------------------------


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


def _current_assignments(session: Session, assignment_ids: list[int]) -> dict[int, Assignment]:
    """Map each assignment id to the assignment that now carries its obligation.

    A superseded assignment is followed to its successor (set-based, one query per step of
    supersession): the person must then train on the newer version.
    """
    loaded: dict[int, Assignment] = {}
    queried: set[int] = set()
    frontier = set(assignment_ids)
    while frontier:
        for chunk in compliance._chunks(sorted(frontier)):
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
        while assignment.status == "superseded" and assignment.superseded_by_id in loaded:
            if assignment.superseded_by_id in seen:
                break
            seen.add(assignment.superseded_by_id)
            assignment = loaded[assignment.superseded_by_id]
        current[assignment_id] = assignment
    return current


def training_linkage(session: Session, capa: Capa) -> list[dict[str, Any]]:
    """Every assignment the CAPA's training actions rely on, with its current state."""
    links = [(action, link) for action in capa.actions if action.kind == "training" for link in action.links]
    if not links:
        return []
    current = _current_assignments(session, [link.assignment_id for _a, link in links])
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
                "status": assignment.status,
                "due_at": assignment.due_at,
                "completion_id": assignment.completion_id,
                "closed_at": assignment.closed_at,
                "open": assignment.status in OPEN_ASSIGNMENT_STATUSES,
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


# -- changes --------------------------------------------------------------------------------------


# Arbitrary key of the PostgreSQL advisory lock that serialises numbering (SQLite writers
# are serialised already by BEGIN IMMEDIATE).
_NUMBERING_LOCK_KEY = 7_465_432_101


def _next_number(session: Session, now: dt.datetime) -> str:
    return next_number(session, Capa, "CAPA", _NUMBERING_LOCK_KEY, now)


def _check_due(due_at: dt.datetime, now: dt.datetime, field: str = "due_at") -> None:
    if due_at.tzinfo is None:
        raise ValidationFailed("the due date needs a time zone (e.g. 2026-05-01T00:00:00Z)", field=field)
    if due_at <= now:
        raise ValidationFailed("the due date must be in the future", field=field, code="due_date_in_past")


def _check_owner(session: Session, person_id: int, field: str) -> None:
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
        from qms.deviations import get_deviation

        deviation = get_deviation(session, deviation_id, lock=True)
        if deviation.status == "closed":
            raise InvalidTransition(
                f"deviation {deviation.number} is closed: a CAPA is raised while it is open",
                field="deviation_id",
                code="deviation_closed",
            )
    _check_due(due_at, uow.clock.now())
    _check_owner(session, owner_person_id, "owner_person_id")
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


def _transition(uow: UnitOfWork, capa: Capa, expected: tuple[str, ...], new: str, action: str) -> None:
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
    _transition(uow, capa, ("open",), "investigation", "starting the investigation")
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


def _job_function_members(session: Session, job_function_ids: list[int], at: dt.datetime) -> set[int]:
    for jf_id in job_function_ids:
        if session.get(JobFunction, jf_id) is None:
            raise NotFound(f"job function {jf_id} does not exist", field="job_function_ids")
    if not job_function_ids:
        return set()
    members = set(
        session.scalars(
            select(PersonJobFunction.person_id)
            .join(Person, Person.id == PersonJobFunction.person_id)
            .where(
                PersonJobFunction.job_function_id.in_(job_function_ids),
                compliance._active(PersonJobFunction, at),
                Person.active.is_(True),
            )
        )
    )
    return compliance.employed_people(session, sorted(members), at)


def add_action(
    uow: UnitOfWork,
    capa_id: int,
    *,
    kind: str,
    description: str,
    due_at: dt.datetime,
    owner_person_id: int | None = None,
    training_item_ids: list[int] | None = None,
    person_ids: list[int] | None = None,
    job_function_ids: list[int] | None = None,
) -> tuple[CapaAction, list[int]]:
    """Add an action; a training action creates its assignments in the same transaction.

    The people of a training action are those named plus the current, employed members of
    the named job functions. Each item is assigned on its latest approved or effective
    version; a person who already holds an open assignment on that version keeps it and the
    action relies on it.

    Returns:
        The action and the ids of the assignments it created.

    Raises:
        InvalidTransition: The CAPA is past planning (effectiveness check, closed, cancelled),
            or an item has no approved or effective version.
        ValidationFailed: A training action without items or without anybody, or a
            non-training action naming items or people.
    """
    uow.actor.require(*AUTHORS, action="adding a CAPA action")
    session = uow.session
    capa = get_capa(session, capa_id, lock=True)
    if capa.status not in PLANNING_STATUSES:
        raise InvalidTransition(
            f"actions are added while the CAPA is {', '.join(PLANNING_STATUSES)}; "
            f"{capa.number} is {capa.status}",
            field="status",
        )
    if kind not in ACTION_KINDS:
        raise ValidationFailed(f"kind must be one of {', '.join(ACTION_KINDS)}", field="kind")
    if not description.strip():
        raise ValidationFailed("describe the action", field="description")
    _check_due(due_at, uow.clock.now())
    if owner_person_id is not None:
        _check_owner(session, owner_person_id, "owner_person_id")
    item_ids = list(training_item_ids or [])
    people = list(person_ids or [])
    functions = list(job_function_ids or [])
    now = uow.clock.now()
    if kind != "training":
        if item_ids or people or functions:
            raise ValidationFailed(
                "only a training action names training items, people or job functions",
                field="training_item_ids",
                code="not_a_training_action",
            )
    else:
        if not item_ids:
            raise ValidationFailed(
                "a training action names at least one training item", field="training_item_ids"
            )
        for name, values in (
            ("training_item_ids", item_ids),
            ("person_ids", people),
            ("job_function_ids", functions),
        ):
            if len(set(values)) != len(values):
                raise ValidationFailed("a value is listed twice", field=name)
        if not people and not functions:
            raise ValidationFailed(
                "a training action names people, job functions or both",
                field="person_ids",
                code="no_trainees",
            )
    seq = 1 + max((a.seq for a in capa.actions), default=0)
    action = CapaAction(
        capa_id=capa.id,
        seq=seq,
        kind=kind,
        description=description.strip(),
        owner_person_id=owner_person_id,
        due_at=due_at,
        status="open",
        training_item_ids=item_ids,
        person_ids=people,
        job_function_ids=functions,
    )
    session.add(action)
    session.flush()
    created: list[int] = []
    if kind == "training":
        created = _assign_training(uow, capa, action, item_ids, people, functions, due_at, now)
    session.expire(capa, ["actions"])
    logger.info("CAPA %s: %s action %d (%d assignments)", capa.number, kind, seq, len(created))
    return action, created


def _assign_training(
    uow: UnitOfWork,
    capa: Capa,
    action: CapaAction,
    item_ids: list[int],
    person_ids: list[int],
    job_function_ids: list[int],
    due_at: dt.datetime,
    now: dt.datetime,
) -> list[int]:
    session = uow.session
    for person_id in person_ids:
        try:
            get_person(session, person_id)
        except NotFound as exc:
            raise NotFound(exc.message, field="person_ids") from exc
    trainees = sorted(set(person_ids) | _job_function_members(session, job_function_ids, now))
    if not trainees:
        raise ValidationFailed(
            "the job functions named have no current members and no person is named",
            field="job_function_ids",
            code="no_trainees",
        )
    for item_id in item_ids:
        if session.get(TrainingItem, item_id) is None:
            raise NotFound(f"training item {item_id} does not exist", field="training_item_ids")
    targets = compliance.target_versions(session, item_ids)
    created: list[int] = []
    for item_id in item_ids:
        version = targets.get(item_id)
        if version is None:
            item = compliance.require_item(session, item_id)
            raise InvalidTransition(
                f"{item.code} has no approved or effective version to train on",
                field="training_item_ids",
                code="no_trainable_version",
            )
        # ``assign`` checks each person with ``session.get``: load them in bulk first and hold
        # them (the identity map keeps weak references) so that those checks hit it.
        held = [
            person
            for chunk in compliance._chunks(trainees)
            for person in session.scalars(select(Person).where(Person.id.in_(chunk)))
        ]
        new_ids = assignments.assign(
            uow,
            person_ids=trainees,
            item_version_id=version.id,
            due_at=due_at,
            reason="capa",
            source_type="capa",
            source_id=capa.id,
        )
        del held
        created.extend(new_ids)
        relied_on = set(new_ids)
        for assignment_id in new_ids:
            session.add(
                CapaActionAssignment(action_id=action.id, assignment_id=assignment_id, created_by_action=True)
            )
        # People who already hold an open assignment on this version: the action relies on it.
        for assignment_id in session.scalars(
            select(Assignment.id).where(
                Assignment.item_version_id == version.id,
                Assignment.person_id.in_(trainees),
                Assignment.status.in_(OPEN_ASSIGNMENT_STATUSES),
            )
        ):
            if assignment_id not in relied_on:
                session.add(
                    CapaActionAssignment(
                        action_id=action.id, assignment_id=assignment_id, created_by_action=False
                    )
                )
    session.flush()
    session.expire(action, ["links"])
    return created


def complete_action(uow: UnitOfWork, capa_id: int, action_id: int, *, note: str) -> CapaAction:
    """Record a corrective or preventive action as done (a training action completes by its training)."""
    uow.actor.require(*AUTHORS, action="completing a CAPA action")
    session = uow.session
    capa = get_capa(session, capa_id, lock=True)
    action = get_action(session, capa, action_id)
    if capa.status != "actions_in_progress":
        raise InvalidTransition(
            f"actions are completed once the plan is approved (actions_in_progress); {capa.number} is "
            f"{capa.status}",
            field="status",
        )
    if action.kind == "training":
        raise InvalidTransition(
            "a training action completes when its assignments are completed",
            field="action_id",
            code="training_action_completes_itself",
        )
    if action.status != "open":
        raise InvalidTransition(
            f"action {action.seq} is {action.status}", field="action_id", code="action_not_open"
        )
    if not note.strip():
        raise ValidationFailed("say what was done", field="note")
    action.status = "done"
    action.completed_at = uow.clock.now()
    action.completion_note = note.strip()
    session.flush()
    return action


def approve_plan(
    uow: UnitOfWork,
    capa_id: int,
    *,
    username: str,
    password: str,
    lockout_threshold: int,
    policy: QmsPolicy | None = None,
) -> Capa:
    """Investigation → actions in progress: a QA approver signs the root cause and the plan.

    Raises:
        InvalidTransition: Not under investigation, no root cause, or no action.
        Forbidden: The approver authored the CAPA (unless the site policy allows it).
    """
    uow.actor.require(*APPROVERS, action="approving a CAPA plan")
    policy = policy or uow.policy(QmsPolicy)
    session = uow.session
    capa = get_capa(session, capa_id, lock=True)
    documents.check_not_self_approval(uow, capa.author_user_id, f"CAPA {capa.number}", policy)
    _transition(uow, capa, ("investigation",), "actions_in_progress", "approving the plan")
    if not capa.root_cause:
        raise InvalidTransition(
            f"{capa.number} has no root cause: record it before approving the plan",
            field="root_cause",
            code="root_cause_required",
        )
    if not capa.actions:
        raise InvalidTransition(
            f"{capa.number} has no action: a plan names at least one",
            field="actions",
            code="actions_required",
        )
    signature = signatures.sign(
        uow,
        username=username,
        password=password,
        meaning="approved",
        record_type="qms_capa",
        record_id=capa.id,
        content=capa_content(capa),
        lockout_threshold=lockout_threshold,
    )
    capa.approved_at = signature.signed_at
    capa.approval_signature_id = signature.id
    session.flush()
    return capa


def start_effectiveness_check(uow: UnitOfWork, capa_id: int) -> Capa:
    """Actions in progress → effectiveness check, once every corrective and preventive action is done."""
    uow.actor.require(*AUTHORS, action="starting a CAPA effectiveness check")
    session = uow.session
    capa = get_capa(session, capa_id, lock=True)
    _transition(
        uow, capa, ("actions_in_progress",), "effectiveness_check", "starting the effectiveness check"
    )
    pending = [a for a in capa.actions if a.kind != "training" and a.status == "open"]
    if pending:
        raise InvalidTransition(
            f"{capa.number} has {len(pending)} open action(s): complete them before the effectiveness check",
            field="actions",
            code="actions_open",
            details={
                "open_actions": [
                    {"action_id": a.id, "seq": a.seq, "kind": a.kind, "description": a.description}
                    for a in pending
                ]
            },
        )
    session.flush()
    return capa


def close_capa(
    uow: UnitOfWork,
    capa_id: int,
    *,
    effectiveness_summary: str,
    username: str,
    password: str,
    lockout_threshold: int,
) -> Capa:
    """Effectiveness check → closed, signed by a QA approver.

    Refused while any assignment of its training actions is open: the refusal lists them.
    """
    uow.actor.require(*APPROVERS, action="closing a CAPA")
    session = uow.session
    capa = get_capa(session, capa_id, lock=True)
    _transition(uow, capa, ("effectiveness_check",), "closed", "closing")
    if not effectiveness_summary.strip():
        raise ValidationFailed("state how effectiveness was verified", field="effectiveness_summary")
    blocking = open_training(session, capa)
    if blocking:
        raise InvalidTransition(
            f"{capa.number} cannot close: {len(blocking)} training assignment(s) of its training actions "
            "are not completed",
            field="training",
            code="capa_training_incomplete",
            details={"open_assignments": blocking},
        )
    now = uow.clock.now()
    for action in capa.actions:
        if action.kind == "training" and action.status == "open":
            action.status = "done"
            action.completed_at = now
            action.completion_note = "every assignment of the action is completed"
    capa.effectiveness_summary = effectiveness_summary.strip()
    signature = signatures.sign(
        uow,
        username=username,
        password=password,
        meaning="closed",
        record_type="qms_capa",
        record_id=capa.id,
        content=capa_content(capa),
        lockout_threshold=lockout_threshold,
    )
    capa.closed_at = signature.signed_at
    capa.closure_signature_id = signature.id
    session.flush()
    logger.info("CAPA %s closed", capa.number)
    return capa


def cancel_capa(
    uow: UnitOfWork, capa_id: int, *, reason: str, username: str, password: str, lockout_threshold: int
) -> Capa:
    """Cancel a CAPA that is not closed (signed); the open assignments its actions created are cancelled."""
    uow.actor.require(*APPROVERS, action="cancelling a CAPA")
    session = uow.session
    capa = get_capa(session, capa_id, lock=True)
    if not reason.strip():
        raise ValidationFailed("a cancellation needs a reason", field="reason")
    _transition(
        uow,
        capa,
        ("open", "investigation", "actions_in_progress", "effectiveness_check"),
        "cancelled",
        "cancelling",
    )
    signature = signatures.sign(
        uow,
        username=username,
        password=password,
        meaning="rejected",
        record_type="qms_capa",
        record_id=capa.id,
        content={**capa_content(capa), "cancel_reason": reason},
        lockout_threshold=lockout_threshold,
        comment=reason,
    )
    now = signature.signed_at
    capa.cancelled_at = now
    capa.cancel_reason = reason.strip()
    touched: set[int] = set()
    with uow.because(f"CAPA {capa.number} cancelled: {reason.strip()}"):
        for action in capa.actions:
            if action.status == "open":
                action.status = "cancelled"
            for link in action.links:
                if not link.created_by_action:
                    continue
                assignment = session.get(Assignment, link.assignment_id)
                if assignment is not None and assignment.status in OPEN_ASSIGNMENT_STATUSES:
                    assignment.status = "cancelled"
                    assignment.closed_at = now
                    touched.add(assignment.person_id)
    if touched:
        compliance.refresh_states(session, person_ids=sorted(touched), now=now)
    session.flush()
    return capa


# -- a new version in force ----------------------------------------------------------------------


def carry_training_to_new_version(uow: UnitOfWork, event: VersionBecameEffective) -> None:
    """Move the open CAPA assignments on versions no longer in force to the new effective version.

    The superseded version can no longer be signed: without this, a CAPA whose trainees are
    outside the matrix (which the document's own approval reassigns) could never close.
    Each stale assignment is superseded by the person's open assignment on the new version,
    created here (reason ``capa``, same CAPA, same due date) when they hold none.
    """
    session = uow.session
    version = session.get(TrainingItemVersion, event.item_version_id)
    if version is None:
        return
    stale = list(
        session.scalars(
            select(Assignment)
            .join(TrainingItemVersion, TrainingItemVersion.id == Assignment.item_version_id)
            .where(
                Assignment.training_item_id == version.training_item_id,
                Assignment.item_version_id != version.id,
                Assignment.source_type == "capa",
                Assignment.status.in_(OPEN_ASSIGNMENT_STATUSES),
                TrainingItemVersion.status.in_(("superseded", "obsolete")),
            )
            .order_by(Assignment.id)
        )
    )
    if not stale:
        return
    holding = {
        a.person_id: a.id
        for a in session.scalars(
            select(Assignment).where(
                Assignment.item_version_id == version.id,
                Assignment.person_id.in_(sorted({a.person_id for a in stale})),
                Assignment.status.in_(OPEN_ASSIGNMENT_STATUSES),
            )
        )
    }
    now = uow.clock.now()
    for assignment in stale:
        successor = holding.get(assignment.person_id)
        if successor is None:
            (successor,) = compliance.create_assignments(
                uow,
                [
                    {
                        "person_id": assignment.person_id,
                        "training_item_id": assignment.training_item_id,
                        "item_version_id": version.id,
                        "due_at": assignment.due_at,
                    }
                ],
                reason="capa",
                source_type="capa",
                source_id=assignment.source_id,
                now=now,
            )
            holding[assignment.person_id] = successor
        with uow.because(f"version {version.label} became effective: CAPA training moves to it"):
            assignment.status = "superseded"
            assignment.closed_at = now
            assignment.superseded_by_id = successor
    compliance.refresh_states(
        session, person_ids=sorted(holding), item_ids=[version.training_item_id], now=now
    )
    logger.info("%d open CAPA assignment(s) moved to version %s", len(stale), version.label)


# -- demo ------------------------------------------------------------------------------------------


def load_demo(uow: UnitOfWork) -> None:
    """Add a deviation with a recorded training adequacy assessment and the CAPA it raised,
    whose training action leaves open assignments, to the demo plant.

    Runs after :func:`qms.demo_plant.load` (it needs its SOPs, job functions and people).
    """
    from bridge.core import accounts
    from qms import deviations as devs
    from qms.demo_plant import DEMO_PASSWORD, acting_as
    from qms.models import Document

    session = uow.session
    sop001 = session.scalar(select(Document).where(Document.code == "SOP-001"))
    sop020 = session.scalar(select(Document).where(Document.code == "SOP-020"))
    operator = session.scalar(select(JobFunction).where(JobFunction.code == "OPERATOR"))
    if sop001 is None or sop020 is None or operator is None:
        logger.warning("the qms demo plant is not loaded: no CAPA or deviation demo")
        return
    # The demo plant moved the clock to the moment its SOPs came into force (on a movable
    # clock), so the deviation recorded now meets the version of SOP-001 in force.
    op1 = accounts.get_user(session, "operator1").person_id
    op2 = accounts.get_user(session, "operator2").person_id
    with acting_as(uow, "qa.author"):
        deviation = devs.create_deviation(
            uow,
            title="Gowning step skipped before entering grade C",
            description="Operator entered the granulation suite without the second pair of gloves.",
            classification="major",
            occurred_at=uow.clock.now(),
            discovered_at=None,
            person_ids=[op1, op2],
            document_ids=[sop001.id],
        )
        devs.start_investigation(uow, deviation.id)
    with acting_as(uow, "qa.approver"):
        devs.record_assessment(
            uow,
            deviation.id,
            conclusion="inadequate",
            rationale="Omar Operator had not signed SOP-001 when the deviation occurred.",
            username="qa.approver",
            password=DEMO_PASSWORD,
            lockout_threshold=5,
        )
    with acting_as(uow, "qa.author"):
        capa = create_capa(
            uow,
            title="Retrain operators on gowning and raw-material sampling",
            description="Raised from the gowning deviation.",
            source="deviation",
            source_reference=None,
            owner_person_id=accounts.get_user(session, "supervisor").person_id,
            due_at=uow.clock.now() + dt.timedelta(days=45),
            deviation_id=deviation.id,
        )
        start_investigation(uow, capa.id)
        record_root_cause(
            uow, capa.id, root_cause="Operators start on the line before their training is signed."
        )
        add_action(
            uow,
            capa.id,
            kind="preventive",
            description="Line access badge granted only once the gowning SOP is signed.",
            due_at=uow.clock.now() + dt.timedelta(days=30),
        )
        add_action(
            uow,
            capa.id,
            kind="training",
            description="Every operator trains on raw-material sampling (SOP-020).",
            due_at=uow.clock.now() + dt.timedelta(days=21),
            training_item_ids=[documents.item_of_document(session, sop020.id).id],
            job_function_ids=[operator.id],
        )
    with acting_as(uow, "qa.approver"):
        approve_plan(uow, capa.id, username="qa.approver", password=DEMO_PASSWORD, lockout_threshold=5)
    logger.info("qms demo: deviation %s and %s loaded", deviation.number, capa.number)
