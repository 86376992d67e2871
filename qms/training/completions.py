"""Completions: immutable, version-specific records of a read-and-understood signature, an
eLearning result, an attended session or an OJT sign-off.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.core import audit, signatures
from bridge.core.errors import Forbidden, InvalidTransition, ValidationFailed
from bridge.core.people import get_person
from bridge.core.uow import UnitOfWork
from qms.documents import catalog, presentations
from qms.documents.models import DocumentVersion, TrainingItemVersion
from qms.events import TrainingCompleted
from qms.notifications import webhooks
from qms.roles import TRAINERS
from qms.training import assignments
from qms.training import state as compliance_state
from qms.training.models import OPEN_ASSIGNMENT_STATUSES, Assignment, Completion


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
    # Every open assignment this completion satisfies closes: older versions, and newer ones
    # with no retraining revision in between (a minor revision approved meanwhile).
    baselines = dict(
        session.execute(
            select(TrainingItemVersion.id, TrainingItemVersion.baseline_seq).where(
                TrainingItemVersion.training_item_id == version.training_item_id
            )
        ).all()
    )
    closed: list[int] = []
    for assignment in session.scalars(
        select(Assignment).where(
            Assignment.person_id == person_id,
            Assignment.training_item_id == version.training_item_id,
            Assignment.status.in_(OPEN_ASSIGNMENT_STATUSES),
        )
    ):
        if baselines.get(assignment.item_version_id, 0) <= version.seq:
            assignment.status = "completed"
            assignment.closed_at = now
            assignment.completion_id = completion.id
            closed.append(assignment.id)
    session.flush()
    webhooks.training_completed(uow, completion_id=completion.id, person_id=person_id,
                                item_version_id=version.id, assignment_ids=closed)
    compliance_state.refresh_states(
        session, person_ids=[person_id], item_ids=[version.training_item_id], now=now
    )
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
    assignment = assignments.get_assignment(session, assignment_id, lock=True)
    if uow.actor.person_id is None or uow.actor.person_id != assignment.person_id:
        raise Forbidden(
            "only the assigned person signs their own training", field="assignment_id", code="not_assignee"
        )
    if assignment.status not in OPEN_ASSIGNMENT_STATUSES:
        raise InvalidTransition(
            f"assignment {assignment.id} is {assignment.status}", field="status", code="assignment_closed"
        )
    version = catalog.get_item_version(session, assignment.item_version_id)
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
    assignments.usable_version(version)
    evidence = _presented(session, assignment, version, uow.clock.now()) if item.document_id else None
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
        evidence=evidence,
    )


def _presented(
    session: Session, assignment: Assignment, version: TrainingItemVersion, now: Any
) -> dict[str, Any] | None:
    """The presentation of the controlled file to the signer, required before "read and understood".

    Raises:
        InvalidTransition: The version has a controlled file the signer never opened.
    """
    document_version = session.scalar(
        select(DocumentVersion).where(DocumentVersion.item_version_id == version.id)
    )
    if document_version is None or document_version.file_id is None:
        return None
    shown = presentations.last_presentation(session, assignment.person_id, version.id, now)
    if shown is None:
        raise InvalidTransition(
            f"open the controlled file of {version.item.code} {version.label} before signing 'read and "
            "understood': the document must be presented to you first",
            field="assignment_id",
            code="document_not_presented",
        )
    return {"presented": presentations.as_evidence(shown)}


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
    version = catalog.get_item_version(session, item_version_id)
    item = version.item
    if item.kind != "course":
        raise ValidationFailed(f"{item.code} is not a course", field="item_version_id")
    assignments.usable_version(version)
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
    version = catalog.get_item_version(session, item_version_id)
    if version.item.kind != "instructor_led":
        raise ValidationFailed(
            f"{version.item.code} is not an instructor-led session", field="item_version_id"
        )
    assignments.usable_version(version)
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
    version = catalog.get_item_version(session, item_version_id)
    if version.item.kind != "ojt":
        raise ValidationFailed(
            f"{version.item.code} is not an on-the-job assessment", field="item_version_id"
        )
    assignments.usable_version(version)
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
