"""Assignments and completions: manual assignment, signed read-and-understood, course
results, instructor-led attendance rosters, on-the-job sign-off, overdue and periodic
retraining sweeps.

Completions are immutable and name the exact version completed; recording one closes the
person's open assignments on that version or older, refreshes their maintained state and
publishes :class:`qms.events.TrainingCompleted` in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from bridge.core import audit, signatures
from bridge.core.errors import Forbidden, InvalidTransition, NotFound, ValidationFailed
from bridge.core.people import get_person
from bridge.core.uow import UnitOfWork
from qms import compliance, documents
from qms.events import TrainingCompleted
from qms.models import (
    OPEN_ASSIGNMENT_STATUSES,
    Assignment,
    Completion,
    ComplianceState,
    Requirement,
    TrainingItemVersion,
)
from qms.policy import QmsPolicy
from qms.roles import ASSIGNERS, TRAINERS

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
    version = documents.get_item_version(session, item_version_id)
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
    created = compliance.create_assignments(
        uow, rows, reason=reason, source_type=source_type, source_id=source_id
    )
    compliance.refresh_states(session, person_ids=sorted(set(person_ids)), now=uow.clock.now())
    return created


def _usable_version(version: TrainingItemVersion) -> None:
    if version.status not in ("approved", "effective"):
        raise InvalidTransition(
            f"version {version.label} of {version.item.code} is {version.status}: training is "
            "recorded on an approved or effective version",
            field="item_version_id",
            code="version_not_trainable",
        )


def record_completion(
    uow: UnitOfWork,
    *,
    person_id: int,
    version: TrainingItemVersion,
    method: str,
    assignment_id: int | None = None,
    score_scaled: float | None = None,
    passed: bool | None = None,
    signature_id: int | None = None,
    trainer_person_id: int | None = None,
    trainer_signature_id: int | None = None,
    evidence: dict[str, Any] | None = None,
) -> Completion:
    """Record an immutable completion and close the assignments it satisfies."""
    session = uow.session
    now = uow.clock.now()
    completion = Completion(
        person_id=person_id,
        training_item_id=version.training_item_id,
        item_version_id=version.id,
        assignment_id=assignment_id,
        method=method,
        completed_at=now,
        recorded_at=now,
        score_scaled=score_scaled,
        passed=passed,
        signature_id=signature_id,
        trainer_person_id=trainer_person_id,
        trainer_signature_id=trainer_signature_id,
        evidence=evidence or {},
    )
    session.add(completion)
    session.flush()
    seqs = dict(
        session.execute(
            select(TrainingItemVersion.id, TrainingItemVersion.seq).where(
                TrainingItemVersion.training_item_id == version.training_item_id
            )
        ).all()
    )
    for assignment in session.scalars(
        select(Assignment).where(
            Assignment.person_id == person_id,
            Assignment.training_item_id == version.training_item_id,
            Assignment.status.in_(OPEN_ASSIGNMENT_STATUSES),
        )
    ):
        if seqs.get(assignment.item_version_id, 0) <= version.seq:
            assignment.status = "completed"
            assignment.closed_at = now
            assignment.completion_id = completion.id
    session.flush()
    compliance.refresh_states(session, person_ids=[person_id], item_ids=[version.training_item_id], now=now)
    uow.publish(
        TrainingCompleted(
            completion_id=completion.id,
            person_id=person_id,
            training_item_id=version.training_item_id,
            item_version_id=version.id,
            score_scaled=score_scaled,
            completed_at=now,
        )
    )
    return completion


def signed_content(assignment: Assignment, version: TrainingItemVersion, session: Session) -> dict[str, Any]:
    """What a learner's signature on an assignment binds to: the item, the version, the file."""
    file_sha = None
    if version.item.document_id is not None:
        from qms.models import DocumentVersion

        dv = session.scalar(select(DocumentVersion).where(DocumentVersion.item_version_id == version.id))
        file_sha = dv.file.sha256 if dv is not None and dv.file is not None else None
    return {
        "assignment": assignment.id,
        "person": assignment.person_id,
        "item": version.item.code,
        "version": version.label,
        "file_sha256": file_sha,
    }


def complete_with_signature(
    uow: UnitOfWork, assignment_id: int, *, username: str, password: str, lockout_threshold: int = 5
) -> Completion:
    """The learner signs their own assignment: read-and-understood, or a course that needs it.

    Raises:
        Forbidden: The assignment is someone else's.
        InvalidTransition: It is closed, or its item needs a trainer, or the course
            content is not complete yet.
    """
    session = uow.session
    assignment = get_assignment(session, assignment_id, lock=True)
    if uow.actor.person_id is None or uow.actor.person_id != assignment.person_id:
        raise Forbidden(
            "only the assigned person signs their own training", field="assignment_id", code="not_assignee"
        )
    if assignment.status not in OPEN_ASSIGNMENT_STATUSES:
        raise InvalidTransition(
            f"assignment {assignment.id} is {assignment.status}", field="status", code="assignment_closed"
        )
    version = documents.get_item_version(session, assignment.item_version_id)
    item = version.item
    if item.requires_trainer:
        raise InvalidTransition(
            f"{item.code} is completed by a trainer's sign-off",
            field="assignment_id",
            code="trainer_signoff_required",
        )
    if item.kind == "course" and assignment.status != "content_complete":
        raise InvalidTransition(
            f"complete the course content of {item.code} in the LMS before signing",
            field="status",
            code="content_not_complete",
        )
    _usable_version(version)
    # Both a document and a signed course end with the learner attesting they read and understood it.
    meaning = "read_and_understood"
    signature = signatures.sign(
        uow,
        username=username,
        password=password,
        meaning=meaning,
        record_type="qms_assignment",
        record_id=assignment.id,
        content=signed_content(assignment, version, session),
        lockout_threshold=lockout_threshold,
    )
    method = "read_and_understood" if item.kind == "read_and_understand" else "course"
    return record_completion(
        uow,
        person_id=assignment.person_id,
        version=version,
        method=method,
        assignment_id=assignment.id,
        signature_id=signature.id,
    )


def record_course_result(
    uow: UnitOfWork,
    *,
    person_id: int,
    item_version_id: int,
    score_scaled: float | None,
    passed: bool | None,
    evidence: dict[str, Any] | None = None,
) -> Completion | None:
    """Record an eLearning result (from the LRS): completes, or marks content complete.

    A failed or below-pass score records nothing. A course that needs the learner's
    signature moves the open assignment to ``content_complete`` instead.

    Returns:
        The completion, or ``None`` when none was recorded.
    """
    session = uow.session
    version = documents.get_item_version(session, item_version_id)
    item = version.item
    if item.kind != "course":
        raise ValidationFailed(f"{item.code} is not a course", field="item_version_id")
    _usable_version(version)
    if passed is False or (
        item.pass_score is not None and (score_scaled is None or score_scaled < item.pass_score)
    ):
        audit.record(
            uow,
            "course_result.not_passed",
            "qms_training_item_version",
            version.id,
            new={"person_id": person_id, "score_scaled": score_scaled, "pass_score": item.pass_score},
        )
        return None
    if item.requires_signature:
        for assignment in session.scalars(
            select(Assignment).where(
                Assignment.person_id == person_id,
                Assignment.item_version_id == version.id,
                Assignment.status.in_(("open", "overdue")),
            )
        ):
            assignment.status = "content_complete"
        session.flush()
        return None
    assignment_id = session.scalar(
        select(Assignment.id)
        .where(
            Assignment.person_id == person_id,
            Assignment.item_version_id == version.id,
            Assignment.status.in_(OPEN_ASSIGNMENT_STATUSES),
        )
        .limit(1)
    )
    return record_completion(
        uow,
        person_id=person_id,
        version=version,
        method="course",
        assignment_id=assignment_id,
        score_scaled=score_scaled,
        passed=True,
        evidence=evidence,
    )


def record_attendance(
    uow: UnitOfWork,
    item_version_id: int,
    *,
    person_ids: list[int],
    username: str,
    password: str,
    lockout_threshold: int,
    session_note: str | None = None,
) -> list[Completion]:
    """The trainer signs the attendance roster of an instructor-led session: one completion each."""
    uow.actor.require(*TRAINERS, action="signing an attendance roster")
    session = uow.session
    version = documents.get_item_version(session, item_version_id)
    if version.item.kind != "instructor_led":
        raise ValidationFailed(
            f"{version.item.code} is not an instructor-led session", field="item_version_id"
        )
    _usable_version(version)
    if not person_ids or len(set(person_ids)) != len(person_ids):
        raise ValidationFailed("the roster names each attendee once", field="person_ids")
    if uow.actor.person_id in person_ids:
        raise Forbidden(
            "a trainer does not sign their own attendance", field="person_ids", code="self_signoff"
        )
    for person_id in person_ids:
        get_person(session, person_id)
    signature = signatures.sign(
        uow,
        username=username,
        password=password,
        meaning="attendance_confirmed",
        record_type="qms_training_item_version",
        record_id=version.id,
        content={
            "item": version.item.code,
            "version": version.label,
            "attendees": sorted(person_ids),
            "note": session_note,
        },
        lockout_threshold=lockout_threshold,
    )
    completions = []
    for person_id in sorted(person_ids):
        assignment_id = session.scalar(
            select(Assignment.id)
            .where(
                Assignment.person_id == person_id,
                Assignment.training_item_id == version.training_item_id,
                Assignment.status.in_(OPEN_ASSIGNMENT_STATUSES),
            )
            .limit(1)
        )
        completions.append(
            record_completion(
                uow,
                person_id=person_id,
                version=version,
                method="attendance",
                assignment_id=assignment_id,
                trainer_person_id=uow.actor.person_id,
                trainer_signature_id=signature.id,
                evidence={"roster_signature_id": signature.id, "note": session_note},
            )
        )
    return completions


def record_ojt_signoff(
    uow: UnitOfWork,
    item_version_id: int,
    *,
    person_id: int,
    username: str,
    password: str,
    lockout_threshold: int,
    comment: str | None = None,
) -> Completion:
    """The trainer verifies an on-the-job assessment with an e-signature."""
    uow.actor.require(*TRAINERS, action="signing off an on-the-job assessment")
    session = uow.session
    version = documents.get_item_version(session, item_version_id)
    if version.item.kind != "ojt":
        raise ValidationFailed(
            f"{version.item.code} is not an on-the-job assessment", field="item_version_id"
        )
    _usable_version(version)
    get_person(session, person_id)
    if uow.actor.person_id == person_id:
        raise Forbidden(
            "a trainer does not sign off their own assessment", field="person_id", code="self_signoff"
        )
    signature = signatures.sign(
        uow,
        username=username,
        password=password,
        meaning="trainer_verified",
        record_type="qms_training_item_version",
        record_id=version.id,
        content={
            "item": version.item.code,
            "version": version.label,
            "trainee": person_id,
            "comment": comment,
        },
        lockout_threshold=lockout_threshold,
        comment=comment,
    )
    assignment_id = session.scalar(
        select(Assignment.id)
        .where(
            Assignment.person_id == person_id,
            Assignment.training_item_id == version.training_item_id,
            Assignment.status.in_(OPEN_ASSIGNMENT_STATUSES),
        )
        .limit(1)
    )
    return record_completion(
        uow,
        person_id=person_id,
        version=version,
        method="ojt_signoff",
        assignment_id=assignment_id,
        trainer_person_id=uow.actor.person_id,
        trainer_signature_id=signature.id,
        evidence={"comment": comment},
    )


# -- sweeps --------------------------------------------------------------------------------------


def overdue_sweep(uow: UnitOfWork, *, now: dt.datetime | None = None) -> int:
    """Mark open assignments past their due date overdue, and their state rows."""
    now = now or uow.clock.now()
    session = uow.session
    late = session.execute(
        select(Assignment.id, Assignment.person_id).where(
            Assignment.status.in_(("open", "content_complete")), Assignment.due_at < now
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
    compliance.refresh_states(session, person_ids=people, now=now)
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
    for chunk in compliance._chunks(people):
        has_open.update(
            session.execute(
                select(Assignment.person_id, Assignment.training_item_id).where(
                    Assignment.person_id.in_(chunk), Assignment.status.in_(OPEN_ASSIGNMENT_STATUSES)
                )
            ).all()
        )
    targets = compliance.target_versions(session, [i for _, i in due])
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
            compliance.create_assignments(
                uow, rows, reason="periodic", source_type="requirement", source_id=requirement_id, now=now
            )
        )
    compliance.refresh_states(session, person_ids=people, now=now)
    return created
