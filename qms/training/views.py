"""``/api/v1`` routes of training: assignments, completions and signatures, transcripts and the
as-of compliance questions.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.core.errors import Forbidden, NotFound, ValidationFailed
from bridge.core.signatures import ElectronicSignature
from bridge.core.uow import UnitOfWork
from bridge.core.web import current_actor
from qms import views as qms_views
from qms.api import api
from qms.capa.models import Capa
from qms.changes.models import ChangeControl
from qms.deviations.models import Deviation
from qms.org.models import Department
from qms.roles import ASSIGNERS, READERS
from qms.schemas import AsOfQuery, Signature
from qms.training import asof, assignments, evidence_inbox, standing
from qms.training import completions as training_completions
from qms.training import services as training
from qms.training.models import Assignment, Completion
from qms.training.schemas import (
    AssignmentQuery,
    AssignRequest,
    AttendanceRequest,
    CourseResultRequest,
    OjtSignoffRequest,
)


def _self_or_reader(person_id: int) -> None:
    actor = current_actor()
    assert actor is not None
    if actor.person_id != person_id and not actor.has_role(*READERS):
        raise Forbidden("a learner sees only their own training record", code="not_own_record")


@api.route(
    "GET", "/people/{person_id}/transcript", summary="A person's training transcript", tags=["compliance"]
)
def person_transcript(person_id: int, uow: UnitOfWork) -> dict[str, Any]:
    """Signed completions, assignments and current requirement status (the person or quality staff)."""
    _self_or_reader(person_id)
    return {
        **training.transcript(uow.session, person_id, now=uow.clock.now()),
        "evidence": evidence_inbox.for_person(uow.session, person_id),
    }


@api.route(
    "GET",
    "/people/{person_id}/compliance",
    summary="Was this person qualified at a moment?",
    tags=["compliance"],
    query=AsOfQuery,
)
def person_as_of(person_id: int, query: AsOfQuery, uow: UnitOfWork) -> dict[str, Any]:
    """Computed from the immutable records by the as-of rule, not from the maintained state."""
    _self_or_reader(person_id)
    answer = asof.as_of_person(uow.session, person_id, query.at)
    # The one vocabulary (compliant / due / overdue / not qualified), as on the LTI course page.
    return {**answer, "standing": standing.standing_of(uow.session, [person_id], query.at)[person_id]}


@api.route(
    "GET",
    "/departments/{department_id}/compliance",
    summary="A department's qualification at a moment",
    tags=["compliance"],
    query=AsOfQuery,
    roles=READERS,
)
def department_as_of(department_id: int, query: AsOfQuery, uow: UnitOfWork) -> dict[str, Any]:
    """Each member at that moment, qualified or not, with what was unmet."""
    return standing.with_standing(uow.session, asof.as_of_department(uow.session, department_id, query.at))


@api.route(
    "GET",
    "/departments/compliance",
    summary="Every department's qualification at a moment (one call)",
    tags=["compliance"],
    query=AsOfQuery,
    roles=READERS,
)
def departments_as_of(query: AsOfQuery, uow: UnitOfWork) -> dict[str, Any]:
    """Each department as ``/departments/{id}/compliance`` answers it, and the totals."""
    answers = [
        standing.with_standing(uow.session, asof.as_of_department(uow.session, department_id, query.at))
        for department_id in uow.session.scalars(select(Department.id).order_by(Department.code))
    ]
    return {
        "at": query.at,
        "departments": answers,
        "members": sum(a["members"] for a in answers),
        "qualified": sum(a["qualified"] for a in answers),
        "standings": {s: sum(a["standings"][s] for a in answers) for s in standing.STANDINGS},
    }


@api.route(
    "GET",
    "/documents/{document_id}/training-status",
    summary="Training status of a document",
    tags=["compliance"],
    roles=READERS,
)
def document_status(document_id: int, uow: UnitOfWork) -> dict[str, Any]:
    """Per version: affected and trained; per person: current status."""
    return training.document_training_status(uow.session, document_id)


@api.route(
    "GET",
    "/documents/{document_id}/compliance",
    summary="Who was trained on a document at a moment",
    tags=["compliance"],
    query=AsOfQuery,
    roles=READERS,
)
def document_as_of(document_id: int, query: AsOfQuery, uow: UnitOfWork) -> dict[str, Any]:
    """For each person who needed it then: trained on the version then in force or not."""
    return asof.as_of_document(uow.session, document_id, query.at)


@api.route(
    "POST",
    "/training-item-versions/{version_id}/attendance",
    summary="Sign an attendance roster",
    tags=["training"],
    body=AttendanceRequest,
    roles=("trainer",),
    status=201,
)
def sign_attendance(version_id: int, body: AttendanceRequest, uow: UnitOfWork) -> dict[str, Any]:
    """The trainer signs; each attendee gets an immutable completion."""
    done = training_completions.record_attendance(
        uow,
        version_id,
        person_ids=body.person_ids,
        username=body.username,
        password=body.password,
        lockout_threshold=qms_views.lockout(),
        session_note=body.note,
    )
    result = {"completions": [qms_views.as_dict(c) for c in done]}
    return result


@api.route(
    "POST",
    "/training-item-versions/{version_id}/ojt-signoff",
    summary="Sign off an on-the-job assessment",
    tags=["training"],
    body=OjtSignoffRequest,
    roles=("trainer",),
    status=201,
)
def ojt_signoff(version_id: int, body: OjtSignoffRequest, uow: UnitOfWork) -> dict[str, Any]:
    """The trainer verifies competence with an e-signature."""
    done = training_completions.record_ojt_signoff(
        uow,
        version_id,
        person_id=body.person_id,
        username=body.username,
        password=body.password,
        lockout_threshold=qms_views.lockout(),
        comment=body.comment,
    )
    result = qms_views.as_dict(done)
    return result


@api.route(
    "POST",
    "/training-item-versions/{version_id}/course-results",
    summary="Record an eLearning result",
    tags=["training"],
    body=CourseResultRequest,
    roles=("trainer",),
)
def course_result(version_id: int, body: CourseResultRequest, uow: UnitOfWork) -> dict[str, Any]:
    """Completes (or marks content complete) per the item's rule; a failing score records nothing."""
    done = training_completions.record_course_result(
        uow,
        person_id=body.person_id,
        item_version_id=version_id,
        score_scaled=body.score_scaled,
        passed=body.passed,
        evidence={"statement_ids": body.statement_ids},
    )
    result = {"completion": qms_views.as_dict(done) if done else None}
    return result


@api.route("GET", "/me/assignments", summary="My assignments", tags=["assignments"])
def my_assignments(uow: UnitOfWork) -> list[dict[str, Any]]:
    """The signed-in person's assignments with their content references."""
    actor = current_actor()
    assert actor is not None
    if actor.person_id is None:
        raise NotFound("this account is not linked to a person", field="person_id")
    return training.learner_assignments(uow.session, actor.person_id, now=uow.clock.now())


@api.route(
    "GET",
    "/assignments",
    summary="List assignments",
    tags=["assignments"],
    roles=READERS,
    query=AssignmentQuery,
)
def list_assignments(query: AssignmentQuery, uow: UnitOfWork) -> list[dict[str, Any]]:
    """Filter by person, status, item, or the quality record that caused them (by id or number)."""
    stmt = select(Assignment).order_by(Assignment.id.desc()).limit(query.limit)
    if query.source_id is not None and query.source_type is None:
        raise ValidationFailed("source_id needs source_type", field="source_type", code="invalid_query")
    if query.source_number is not None:
        source_type, source_id = _source_by_number(uow.session, query.source_number)
        stmt = stmt.where(Assignment.source_type == source_type, Assignment.source_id == source_id)
    if query.source_type is not None:
        stmt = stmt.where(Assignment.source_type == query.source_type)
    if query.source_id is not None:
        stmt = stmt.where(Assignment.source_id == query.source_id)
    if query.person_id is not None:
        stmt = stmt.where(Assignment.person_id == query.person_id)
    if query.status is not None:
        stmt = stmt.where(Assignment.status == query.status)
    if query.training_item_id is not None:
        stmt = stmt.where(Assignment.training_item_id == query.training_item_id)
    return [qms_views.as_dict(a) for a in uow.session.scalars(stmt)]


def _source_by_number(session: Session, number: str) -> tuple[str, int]:
    """The (source_type, id) of the change control, CAPA or deviation numbered ``number``."""
    for source_type, model in (("change_control", ChangeControl), ("capa", Capa), ("deviation", Deviation)):
        found = session.scalar(select(model.id).where(model.number == number))
        if found is not None:
            return source_type, found
    raise NotFound(f"no change control, CAPA or deviation numbered {number}", field="source_number")


@api.route(
    "POST",
    "/assignments",
    summary="Assign a training item version to people",
    tags=["assignments"],
    body=AssignRequest,
    roles=ASSIGNERS,
    status=201,
)
def create_assignments(body: AssignRequest, uow: UnitOfWork) -> dict[str, Any]:
    """Manual assignment; people holding an open one on the version are skipped."""
    created = assignments.assign(
        uow,
        person_ids=body.person_ids,
        item_version_id=body.item_version_id,
        due_at=body.due_at,
        reason=body.reason,
    )
    return {"assignment_ids": created}


@api.route("GET", "/assignments/{assignment_id}", summary="One assignment", tags=["assignments"])
def get_assignment(assignment_id: int, uow: UnitOfWork) -> dict[str, Any]:
    """The assignee or quality staff."""
    assignment = assignments.get_assignment(uow.session, assignment_id)
    _self_or_reader(assignment.person_id)
    evidence = evidence_inbox.for_assignment(uow.session, assignment)
    return {**qms_views.as_dict(assignment), "evidence": evidence}


@api.route(
    "POST",
    "/assignments/{assignment_id}/sign",
    summary="Sign 'read and understood' (e-signature)",
    tags=["assignments"],
    body=Signature,
    status=201,
)
def sign_assignment(assignment_id: int, body: Signature, uow: UnitOfWork) -> dict[str, Any]:
    """The learner re-enters username and password; an immutable, version-specific completion results."""
    completion = training_completions.complete_with_signature(
        uow,
        assignment_id,
        username=body.username,
        password=body.password,
        lockout_threshold=qms_views.lockout(),
    )
    result = qms_views.as_dict(completion)
    return result


@api.route(
    "GET", "/completions/{completion_id}", summary="One completion with its signatures", tags=["assignments"]
)
def get_completion(completion_id: int, uow: UnitOfWork) -> dict[str, Any]:
    """Immutable; the person or quality staff."""
    completion = uow.session.get(Completion, completion_id)
    if completion is None:
        raise NotFound(f"completion {completion_id} does not exist", field="completion_id")
    _self_or_reader(completion.person_id)
    result = qms_views.as_dict(completion)
    for key in ("signature_id", "trainer_signature_id"):
        sig = uow.session.get(ElectronicSignature, result[key]) if result[key] else None
        result[key.replace("_id", "")] = sig.manifestation() if sig else None
    result["evidence_rows"] = evidence_inbox.for_completion(uow.session, completion)
    return result
