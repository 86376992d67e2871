"""``/api/v1`` routes of the quality system: JSON in and out, bearer tokens, one
transaction per request. Declared on :data:`qms.api.api`, which also writes the OpenAPI
document from the same declarations.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Response, request
from sqlalchemy import inspect, select

from bridge import __version__
from bridge.core.errors import Forbidden, NotFound, ValidationFailed
from bridge.core.web import current_actor, settings, unit_of_work
from qms import assignments, changes, documents, evidence_inbox, matrix, org, schemas, services
from qms.api import api
from qms.models import Assignment, ChangeControl, Completion, Document, TrainingItem
from qms.policy import QmsPolicy
from qms.roles import ASSIGNERS, AUTHORS, READERS

logger = logging.getLogger(__name__)

UNIT_PATHS = {"departments": "department", "job-functions": "job_function", "equipment": "equipment"}
FILE_CONTENT = {
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
    "multipart/form-data": {
        "schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}
    },
}


def as_dict(obj: Any, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    """Every column of a model instance."""
    return {
        attr.key: getattr(obj, attr.key)
        for attr in inspect(obj).mapper.column_attrs
        if attr.key not in exclude
    }


def lockout() -> int:
    """The signing lockout threshold of this site."""
    return settings().lockout_threshold


def upload() -> tuple[bytes, str, str]:
    """The uploaded file: multipart ``file`` field or the raw body."""
    if request.files:
        stored = request.files.get("file")
        if stored is None:
            raise ValidationFailed("send the file in the multipart field 'file'", field="file")
        return stored.read(), stored.filename or "upload", stored.mimetype or "application/octet-stream"
    content = request.get_data()
    name = request.headers.get("X-File-Name", "upload")
    return content, name, request.mimetype or "application/octet-stream"


# -- OpenAPI ---------------------------------------------------------------------------------------


@api.route("GET", "/openapi.json", summary="This API's OpenAPI 3.1 document", tags=["meta"], public=True)
def openapi_document() -> dict[str, Any]:
    """Generated from the route registry and its pydantic models."""
    return api.openapi(title="GxP Bridge API", version=__version__)


# -- organisation ----------------------------------------------------------------------------------


def _unit_routes(path: str, kind: str) -> None:
    def list_units() -> list[dict[str, Any]]:
        with unit_of_work(readonly=True) as uow:
            return [as_dict(u) for u in org.list_units(uow.session, kind)]

    def create_unit(body: schemas.UnitCreate) -> dict[str, Any]:
        with unit_of_work() as uow:
            unit = org.create_unit(uow, kind, body.code, body.name)
            result = as_dict(unit)
            uow.commit()
        return result

    def get_unit(unit_id: int) -> dict[str, Any]:
        with unit_of_work(readonly=True) as uow:
            return as_dict(org.get_unit(uow.session, kind, unit_id))

    label = kind.replace("_", " ")
    for func, name in ((list_units, "list"), (create_unit, "create"), (get_unit, "get")):
        func.__name__ = f"{name}_{kind}"
        func.__doc__ = f"{name.title()} {label} records."
    api.route("GET", f"/{path}", summary=f"List {label} records", tags=["organisation"], roles=READERS)(
        list_units
    )
    api.route(
        "POST",
        f"/{path}",
        summary=f"Create a {label}",
        tags=["organisation"],
        body=schemas.UnitCreate,
        roles=("qa_author", "supervisor"),
        status=201,
    )(create_unit)
    api.route("GET", f"/{path}/{{unit_id}}", summary=f"One {label}", tags=["organisation"], roles=READERS)(
        get_unit
    )


for _path, _kind in UNIT_PATHS.items():
    _unit_routes(_path, _kind)


@api.route(
    "POST",
    "/people/hire",
    summary="Hire a person: memberships and matrix assignments",
    tags=["organisation"],
    body=schemas.HireRequest,
    roles=("qa_author", "supervisor"),
    status=201,
)
def hire_person(body: schemas.HireRequest) -> dict[str, Any]:
    """New hire: department, job functions and equipment from now; assignments for what they need."""
    with unit_of_work() as uow:
        person, created = org.hire(
            uow,
            display_name=body.display_name,
            person_id=body.person_id,
            email=body.email,
            employee_no=body.employee_no,
            department_id=body.department_id,
            job_function_ids=body.job_function_ids,
            equipment_ids=body.equipment_ids,
            policy=QmsPolicy(),
        )
        person_id = person.id
        uow.commit()
    with unit_of_work(readonly=True) as uow:
        return {"person": org.person_summary(uow.session, person_id), "assignments_created": created}


def _person_event(person_id: int, run: Any) -> dict[str, Any]:
    with unit_of_work() as uow:
        created = run(uow)
        uow.commit()
    with unit_of_work(readonly=True) as uow:
        return {"person": org.person_summary(uow.session, person_id), "assignments_created": created or []}


@api.route(
    "GET", "/people", summary="List people", tags=["organisation"], roles=READERS, query=schemas.PeopleQuery
)
def list_people(query: schemas.PeopleQuery) -> list[dict[str, Any]]:
    """Filter by department, job function or equipment in force now, or by employment."""
    with unit_of_work(readonly=True) as uow:
        return org.list_people(uow.session, **query.model_dump())


@api.route(
    "GET",
    "/people/{person_id}",
    summary="A person with their current memberships",
    tags=["organisation"],
    roles=READERS,
)
def get_person(person_id: int) -> dict[str, Any]:
    """Employment, leave, department, job functions and equipment in force now."""
    with unit_of_work(readonly=True) as uow:
        summary = org.person_summary(uow.session, person_id)
        history = org.membership_history(uow.session, person_id)
        summary["history"] = {k: [as_dict(m) for m in v] for k, v in history.items()}
        return summary


@api.route(
    "POST",
    "/people/{person_id}/role-change",
    summary="Change a person's job functions",
    tags=["organisation"],
    body=schemas.RoleChange,
    roles=("qa_author", "supervisor"),
)
def role_change(person_id: int, body: schemas.RoleChange) -> dict[str, Any]:
    """Old job functions end now, new ones start; obligations follow in the same transaction."""
    return _person_event(
        person_id, lambda uow: org.change_roles(uow, person_id, body.job_function_ids, reason=body.reason)
    )


@api.route(
    "POST",
    "/people/{person_id}/transfer",
    summary="Transfer a person to another department",
    tags=["organisation"],
    body=schemas.TransferRequest,
    roles=("qa_author", "supervisor"),
)
def transfer_person(person_id: int, body: schemas.TransferRequest) -> dict[str, Any]:
    """The department changes now; department requirements follow."""
    return _person_event(
        person_id, lambda uow: org.transfer(uow, person_id, body.department_id, reason=body.reason)
    )


@api.route(
    "POST",
    "/people/{person_id}/equipment",
    summary="Set the equipment a person operates",
    tags=["organisation"],
    body=schemas.EquipmentChange,
    roles=("qa_author", "supervisor"),
)
def set_equipment(person_id: int, body: schemas.EquipmentChange) -> dict[str, Any]:
    """Equipment qualifications change now; equipment requirements follow."""
    return _person_event(
        person_id, lambda uow: org.set_equipment(uow, person_id, body.equipment_ids, reason=body.reason)
    )


@api.route(
    "POST",
    "/people/{person_id}/leave",
    summary="Start a leave (exempt from obligations)",
    tags=["organisation"],
    body=schemas.ReasonOnly,
    roles=("qa_author", "supervisor"),
)
def start_leave(person_id: int, body: schemas.ReasonOnly) -> dict[str, Any]:
    """The person's requirements show as exempt until they return."""
    return _person_event(person_id, lambda uow: org.start_leave(uow, person_id, reason=body.reason) and [])


@api.route(
    "POST",
    "/people/{person_id}/return",
    summary="End a leave",
    tags=["organisation"],
    body=schemas.ReasonOnly,
    roles=("qa_author", "supervisor"),
)
def end_leave(person_id: int, body: schemas.ReasonOnly) -> dict[str, Any]:
    """Open assignments that fell due during the leave get a new due date."""
    return _person_event(person_id, lambda uow: org.end_leave(uow, person_id, reason=body.reason) and [])


@api.route(
    "POST",
    "/people/{person_id}/terminate",
    summary="Terminate a person's employment",
    tags=["organisation"],
    body=schemas.ReasonOnly,
    roles=("qa_author", "supervisor"),
)
def terminate_person(person_id: int, body: schemas.ReasonOnly) -> dict[str, Any]:
    """Memberships end and open assignments are cancelled; the records stay."""
    return _person_event(person_id, lambda uow: org.terminate(uow, person_id, reason=body.reason) and [])


def _self_or_reader(person_id: int) -> None:
    actor = current_actor()
    assert actor is not None
    if actor.person_id != person_id and not actor.has_role(*READERS):
        raise Forbidden("a learner sees only their own training record", code="not_own_record")


@api.route(
    "GET", "/people/{person_id}/transcript", summary="A person's training transcript", tags=["compliance"]
)
def person_transcript(person_id: int) -> dict[str, Any]:
    """Signed completions, assignments and current requirement status (the person or quality staff)."""
    _self_or_reader(person_id)
    with unit_of_work(readonly=True) as uow:
        return {
            **services.transcript(uow.session, person_id),
            "evidence": evidence_inbox.for_person(uow.session, person_id),
        }


@api.route(
    "GET",
    "/people/{person_id}/compliance",
    summary="Was this person qualified at a moment?",
    tags=["compliance"],
    query=schemas.AsOfQuery,
)
def person_as_of(person_id: int, query: schemas.AsOfQuery) -> dict[str, Any]:
    """Computed from the immutable records by the as-of rule, not from the maintained state."""
    _self_or_reader(person_id)
    with unit_of_work(readonly=True) as uow:
        return services.as_of_person(uow.session, person_id, query.at)


@api.route(
    "GET",
    "/departments/{department_id}/compliance",
    summary="A department's qualification at a moment",
    tags=["compliance"],
    query=schemas.AsOfQuery,
    roles=READERS,
)
def department_as_of(department_id: int, query: schemas.AsOfQuery) -> dict[str, Any]:
    """Each member at that moment, qualified or not, with what was unmet."""
    with unit_of_work(readonly=True) as uow:
        return services.as_of_department(uow.session, department_id, query.at)


# -- documents -------------------------------------------------------------------------------------


def _document_dict(document: Document) -> dict[str, Any]:
    return {**as_dict(document), "versions": [_version_dict(v) for v in document.versions]}


def _version_dict(version: Any) -> dict[str, Any]:
    data = as_dict(version)
    data["document_code"] = version.document.code
    data["file"] = (
        {
            "sha256": version.file.sha256,
            "size": version.file.size,
            "media_type": version.file.media_type,
            "name": version.file_name,
            "url": f"/api/v1/document-versions/{version.id}/file",
        }
        if version.file_id
        else None
    )
    iv = version.item_version
    data["content"] = {"activity_iris": list(iv.activity_iris or []), "lms_url": iv.lms_url} if iv else None
    return data


@api.route("GET", "/documents", summary="List documents", tags=["documents"], roles=READERS)
def list_documents() -> list[dict[str, Any]]:
    """Every controlled document with its versions."""
    with unit_of_work(readonly=True) as uow:
        return [_document_dict(d) for d in uow.session.scalars(select(Document).order_by(Document.code))]


@api.route(
    "POST",
    "/documents",
    summary="Create a document (and its read-and-understand item)",
    tags=["documents"],
    body=schemas.DocumentCreate,
    roles=AUTHORS,
    status=201,
)
def create_document(body: schemas.DocumentCreate) -> dict[str, Any]:
    """A new controlled document; versions are added as drafts."""
    with unit_of_work() as uow:
        document = documents.create_document(uow, code=body.code, title=body.title, doc_type=body.doc_type)
        result = _document_dict(document)
        result["training_item_id"] = documents.item_of_document(uow.session, document.id).id
        uow.commit()
    return result


@api.route(
    "GET",
    "/documents/{document_id}",
    summary="One document with its versions",
    tags=["documents"],
    roles=READERS,
)
def get_document(document_id: int) -> dict[str, Any]:
    """The document, its versions and its training item."""
    with unit_of_work(readonly=True) as uow:
        document = documents.get_document(uow.session, document_id)
        result = _document_dict(document)
        result["training_item_id"] = documents.item_of_document(uow.session, document.id).id
        return result


@api.route(
    "POST",
    "/documents/{document_id}/versions",
    summary="Draft a new version",
    tags=["documents"],
    body=schemas.VersionCreate,
    roles=AUTHORS,
    status=201,
)
def create_version(document_id: int, body: schemas.VersionCreate) -> dict[str, Any]:
    """Major revisions retrain; minor ones only when ``retrain`` is true (with a rationale)."""
    with unit_of_work() as uow:
        version = documents.create_version(uow, document_id, **body.model_dump())
        result = _version_dict(version)
        uow.commit()
    return result


@api.route(
    "GET",
    "/documents/{document_id}/training-status",
    summary="Training status of a document",
    tags=["compliance"],
    roles=READERS,
)
def document_status(document_id: int) -> dict[str, Any]:
    """Per version: affected and trained; per person: current status."""
    with unit_of_work(readonly=True) as uow:
        return services.document_training_status(uow.session, document_id)


@api.route(
    "GET",
    "/documents/{document_id}/compliance",
    summary="Who was trained on a document at a moment",
    tags=["compliance"],
    query=schemas.AsOfQuery,
    roles=READERS,
)
def document_as_of(document_id: int, query: schemas.AsOfQuery) -> dict[str, Any]:
    """For each person who needed it then: trained on the version then in force or not."""
    with unit_of_work(readonly=True) as uow:
        return services.as_of_document(uow.session, document_id, query.at)


@api.route(
    "GET",
    "/document-versions/{version_id}",
    summary="One document version",
    tags=["documents"],
    roles=READERS,
)
def get_version(version_id: int) -> dict[str, Any]:
    """The version, its file, content references and trained figures."""
    with unit_of_work(readonly=True) as uow:
        version = documents.get_version(uow.session, version_id)
        result = _version_dict(version)
        result["training"] = documents.trained_percentage(uow.session, version.item_version_id)
        return result


@api.route(
    "PATCH",
    "/document-versions/{version_id}",
    summary="Edit a draft version",
    tags=["documents"],
    body=schemas.VersionUpdate,
    roles=AUTHORS,
)
def update_version(version_id: int, body: schemas.VersionUpdate) -> dict[str, Any]:
    """Only drafts change; every change is audited."""
    with unit_of_work() as uow:
        version = documents.update_version(uow, version_id, **body.model_dump(exclude_unset=True))
        result = _version_dict(version)
        uow.commit()
    return result


@api.route(
    "PUT",
    "/document-versions/{version_id}/file",
    summary="Attach the controlled file of a draft",
    tags=["documents"],
    roles=AUTHORS,
    request_content=FILE_CONTENT,
)
def put_file(version_id: int) -> dict[str, Any]:
    """Stored once by SHA-256; refused once the version has left draft."""
    content, name, media_type = upload()
    with unit_of_work() as uow:
        version = documents.attach_file(
            uow, version_id, content=content, file_name=name, media_type=media_type
        )
        result = _version_dict(version)
        uow.commit()
    return result


@api.route(
    "GET",
    "/document-versions/{version_id}/file",
    summary="Download the controlled file (read-only)",
    tags=["documents"],
    response_content={"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
)
def get_file(version_id: int) -> Response:
    """Quality staff, and learners who must read the document."""
    actor = current_actor()
    with unit_of_work(readonly=True) as uow:
        version, stored = documents.read_file(uow.session, actor, version_id)
        name = (version.file_name or f"{version.document.code}-{version.label}").replace('"', "")
        return Response(
            stored.content,
            mimetype=stored.media_type,
            headers={
                "Content-Disposition": f'inline; filename="{name}"',
                "X-Content-SHA256": stored.sha256,
                "ETag": f'"{stored.sha256}"',
                "Cache-Control": "private, no-store",
            },
        )


@api.route(
    "POST",
    "/document-versions/{version_id}/submit",
    summary="Send a draft to review",
    tags=["documents"],
    body=schemas.SubmitRequest,
    roles=AUTHORS,
)
def submit_version(version_id: int, body: schemas.SubmitRequest) -> dict[str, Any]:
    """Draft → in_review (needs its controlled file)."""
    with unit_of_work() as uow:
        version = documents.submit_version(uow, version_id, effective_at=body.effective_at)
        result = _version_dict(version)
        uow.commit()
    return result


@api.route(
    "POST",
    "/document-versions/{version_id}/approve",
    summary="Approve a version (e-signature)",
    tags=["documents"],
    body=schemas.ApproveRequest,
    roles=("qa_approver",),
)
def approve_version(version_id: int, body: schemas.ApproveRequest) -> dict[str, Any]:
    """in_review → approved; assignments for everyone who needs it, in the same transaction."""
    with unit_of_work() as uow:
        version, created = documents.approve_version(
            uow,
            version_id,
            username=body.username,
            password=body.password,
            effective_at=body.effective_at,
            lockout_threshold=lockout(),
            policy=QmsPolicy(),
        )
        result = {**_version_dict(version), "assignments_created": len(created)}
        uow.commit()
    return result


@api.route(
    "POST",
    "/document-versions/{version_id}/reject",
    summary="Return a version under review to draft",
    tags=["documents"],
    body=schemas.RejectRequest,
    roles=("qa_approver",),
)
def reject_version(version_id: int, body: schemas.RejectRequest) -> dict[str, Any]:
    """in_review → draft, signed with the meaning 'rejected'."""
    with unit_of_work() as uow:
        version = documents.return_to_draft(
            uow,
            version_id,
            username=body.username,
            password=body.password,
            comment=body.comment,
            lockout_threshold=lockout(),
        )
        result = _version_dict(version)
        uow.commit()
    return result


@api.route(
    "POST",
    "/document-versions/{version_id}/obsolete",
    summary="Make an effective version obsolete",
    tags=["documents"],
    body=schemas.ObsoleteRequest,
    roles=("qa_approver",),
)
def obsolete_version(version_id: int, body: schemas.ObsoleteRequest) -> dict[str, Any]:
    """Effective → obsolete; open assignments on the document are cancelled."""
    with unit_of_work() as uow:
        version = documents.make_obsolete(
            uow,
            version_id,
            username=body.username,
            password=body.password,
            reason=body.reason,
            lockout_threshold=lockout(),
        )
        result = _version_dict(version)
        uow.commit()
    return result


# -- training items --------------------------------------------------------------------------------


def _item_dict(item: TrainingItem) -> dict[str, Any]:
    return {
        **as_dict(item),
        "versions": [as_dict(v) for v in item.versions],
        "current_version_id": item.current_version.id if item.current_version else None,
    }


@api.route(
    "GET",
    "/training-items",
    summary="List training items",
    tags=["training"],
    roles=READERS,
    query=schemas.ItemQuery,
)
def list_items(query: schemas.ItemQuery) -> list[dict[str, Any]]:
    """Documents' read-and-understand items, courses, sessions and OJT assessments."""
    with unit_of_work(readonly=True) as uow:
        kinds = [query.kind] if query.kind else None
        return [_item_dict(i) for i in services.list_training_items(uow.session, kinds=kinds)]


@api.route(
    "POST",
    "/training-items",
    summary="Create a course, session or OJT item",
    tags=["training"],
    body=schemas.TrainingItemCreate,
    roles=AUTHORS,
    status=201,
)
def create_item(body: schemas.TrainingItemCreate) -> dict[str, Any]:
    """With its completion rule: signature, pass score, trainer verification."""
    with unit_of_work() as uow:
        item = documents.create_training_item(uow, **body.model_dump())
        result = _item_dict(item)
        uow.commit()
    return result


@api.route("GET", "/training-items/{item_id}", summary="One training item", tags=["training"], roles=READERS)
def get_item(item_id: int) -> dict[str, Any]:
    """The item with its versions."""
    with unit_of_work(readonly=True) as uow:
        return _item_dict(services.get_training_item(uow.session, item_id))


@api.route(
    "POST",
    "/training-items/{item_id}/versions",
    summary="Draft a version of a course, session or OJT",
    tags=["training"],
    body=schemas.ItemVersionCreate,
    roles=AUTHORS,
    status=201,
)
def create_item_version(item_id: int, body: schemas.ItemVersionCreate) -> dict[str, Any]:
    """Documents' versions are made through their document instead."""
    with unit_of_work() as uow:
        version = documents.create_item_version(uow, item_id, **body.model_dump())
        result = as_dict(version)
        uow.commit()
    return result


@api.route(
    "POST",
    "/training-item-versions/{version_id}/approve",
    summary="Approve a course/session/OJT version",
    tags=["training"],
    body=schemas.ApproveRequest,
    roles=("qa_approver",),
)
def approve_item_version(version_id: int, body: schemas.ApproveRequest) -> dict[str, Any]:
    """Draft → approved with an e-signature; assignments follow in the same transaction."""
    with unit_of_work() as uow:
        version, created = documents.approve_course_version(
            uow,
            version_id,
            username=body.username,
            password=body.password,
            effective_at=body.effective_at,
            lockout_threshold=lockout(),
            policy=QmsPolicy(),
        )
        result = {**as_dict(version), "assignments_created": len(created)}
        uow.commit()
    return result


@api.route(
    "POST",
    "/training-item-versions/{version_id}/attendance",
    summary="Sign an attendance roster",
    tags=["training"],
    body=schemas.AttendanceRequest,
    roles=("trainer",),
    status=201,
)
def sign_attendance(version_id: int, body: schemas.AttendanceRequest) -> dict[str, Any]:
    """The trainer signs; each attendee gets an immutable completion."""
    with unit_of_work() as uow:
        done = assignments.record_attendance(
            uow,
            version_id,
            person_ids=body.person_ids,
            username=body.username,
            password=body.password,
            lockout_threshold=lockout(),
            session_note=body.note,
        )
        result = {"completions": [as_dict(c) for c in done]}
        uow.commit()
    return result


@api.route(
    "POST",
    "/training-item-versions/{version_id}/ojt-signoff",
    summary="Sign off an on-the-job assessment",
    tags=["training"],
    body=schemas.OjtSignoffRequest,
    roles=("trainer",),
    status=201,
)
def ojt_signoff(version_id: int, body: schemas.OjtSignoffRequest) -> dict[str, Any]:
    """The trainer verifies competence with an e-signature."""
    with unit_of_work() as uow:
        done = assignments.record_ojt_signoff(
            uow,
            version_id,
            person_id=body.person_id,
            username=body.username,
            password=body.password,
            lockout_threshold=lockout(),
            comment=body.comment,
        )
        result = as_dict(done)
        uow.commit()
    return result


@api.route(
    "POST",
    "/training-item-versions/{version_id}/course-results",
    summary="Record an eLearning result",
    tags=["training"],
    body=schemas.CourseResultRequest,
    roles=("trainer",),
)
def course_result(version_id: int, body: schemas.CourseResultRequest) -> dict[str, Any]:
    """Completes (or marks content complete) per the item's rule; a failing score records nothing."""
    with unit_of_work() as uow:
        done = assignments.record_course_result(
            uow,
            person_id=body.person_id,
            item_version_id=version_id,
            score_scaled=body.score_scaled,
            passed=body.passed,
            evidence={"statement_ids": body.statement_ids},
        )
        result = {"completion": as_dict(done) if done else None}
        uow.commit()
    return result


# -- the matrix ------------------------------------------------------------------------------------


@api.route("GET", "/requirements", summary="The matrix in force", tags=["matrix"], roles=READERS)
def list_requirements() -> list[dict[str, Any]]:
    """Every requirement in force (retired ones remain for as-of questions)."""
    with unit_of_work(readonly=True) as uow:
        return [as_dict(r) for r in matrix.active_requirements(uow.session)]


@api.route(
    "POST",
    "/requirements",
    summary="Add a matrix cell",
    tags=["matrix"],
    body=schemas.RequirementCreate,
    roles=AUTHORS,
    status=201,
)
def add_requirement(body: schemas.RequirementCreate) -> dict[str, Any]:
    """Everyone in scope who is not trained gets an assignment in the same transaction."""
    with unit_of_work() as uow:
        requirement, created = matrix.add_requirement(uow, **body.model_dump(), policy=QmsPolicy())
        result = {**as_dict(requirement), "assignments_created": len(created)}
        uow.commit()
    return result


@api.route(
    "PATCH",
    "/requirements/{requirement_id}",
    summary="Change periodic retraining",
    tags=["matrix"],
    body=schemas.RequirementUpdate,
    roles=AUTHORS,
)
def update_requirement(requirement_id: int, body: schemas.RequirementUpdate) -> dict[str, Any]:
    """Interval and grace period; audited with the reason."""
    with unit_of_work() as uow:
        requirement = matrix.update_requirement(uow, requirement_id, **body.model_dump())
        result = as_dict(requirement)
        uow.commit()
    return result


@api.route(
    "POST",
    "/requirements/{requirement_id}/retire",
    summary="Retire a matrix cell",
    tags=["matrix"],
    body=schemas.ReasonOnly,
    roles=AUTHORS,
)
def retire_requirement(requirement_id: int, body: schemas.ReasonOnly) -> dict[str, Any]:
    """Kept for the past; obligations only it caused are cancelled."""
    with unit_of_work() as uow:
        requirement = matrix.retire_requirement(uow, requirement_id, reason=body.reason)
        result = as_dict(requirement)
        uow.commit()
    return result


@api.route(
    "GET",
    "/matrix/export",
    summary="Export the matrix as CSV or XLSX",
    tags=["matrix"],
    roles=READERS,
    query=schemas.MatrixFormat,
    response_content={
        "text/csv": {"schema": {"type": "string"}},
        matrix.XLSX_TYPE: {"schema": {"type": "string", "format": "binary"}},
    },
)
def export_matrix(query: schemas.MatrixFormat) -> Response:
    """Columns: scope, scope_code, item_code, retrain_interval_days, grace_days."""
    with unit_of_work(readonly=True) as uow:
        if query.format == "xlsx":
            return Response(
                matrix.export_xlsx(uow.session),
                mimetype=matrix.XLSX_TYPE,
                headers={"Content-Disposition": 'attachment; filename="training-matrix.xlsx"'},
            )
        return Response(
            matrix.export_csv(uow.session),
            mimetype="text/csv",
            headers={"Content-Disposition": 'attachment; filename="training-matrix.csv"'},
        )


@api.route(
    "POST",
    "/matrix/import",
    summary="Import the matrix from CSV or XLSX (all rows or none)",
    tags=["matrix"],
    roles=AUTHORS,
    query=schemas.MatrixImportQuery,
    request_content={
        "text/csv": {"schema": {"type": "string"}},
        matrix.XLSX_TYPE: {"schema": {"type": "string", "format": "binary"}},
        **FILE_CONTENT,
    },
)
def import_matrix(query: schemas.MatrixImportQuery) -> dict[str, Any]:
    """A bad row is reported with its row number and nothing is imported."""
    content, _name, _media = upload()
    if not content:
        raise ValidationFailed("the file is empty", field="file")
    rows = matrix.parse_xlsx(content) if query.format == "xlsx" else matrix.parse_csv(content)
    with unit_of_work() as uow:
        outcome = matrix.import_matrix(
            uow, rows, content=content, file_format=query.format, replace=query.replace, policy=QmsPolicy()
        )
        uow.commit()
    return outcome.__dict__


@api.route(
    "GET",
    "/matrix/compliance",
    summary="Matrix compliance by department and job function",
    tags=["compliance"],
    roles=READERS,
    query=schemas.MatrixReportQuery,
)
def matrix_compliance(query: schemas.MatrixReportQuery) -> dict[str, Any]:
    """From the maintained compliance state: one grouped scan."""
    with unit_of_work(readonly=True) as uow:
        return services.matrix_report(uow.session, department_id=query.department_id)


# -- change control --------------------------------------------------------------------------------


def _change_dict(change: ChangeControl) -> dict[str, Any]:
    return {**as_dict(change), "affected": [_version_dict(link.document_version) for link in change.affected]}


@api.route("GET", "/change-controls", summary="List change controls", tags=["change control"], roles=READERS)
def list_change_controls() -> list[dict[str, Any]]:
    """Newest first."""
    with unit_of_work(readonly=True) as uow:
        return [
            _change_dict(c)
            for c in uow.session.scalars(select(ChangeControl).order_by(ChangeControl.id.desc()))
        ]


@api.route(
    "POST",
    "/change-controls",
    summary="Open a change control",
    tags=["change control"],
    body=schemas.ChangeControlCreate,
    roles=AUTHORS,
    status=201,
)
def create_change_control(body: schemas.ChangeControlCreate) -> dict[str, Any]:
    """Affected document versions, impact, effective date (in the future), optional gate."""
    with unit_of_work() as uow:
        change = changes.create_change_control(uow, **body.model_dump())
        result = _change_dict(change)
        uow.commit()
    return result


@api.route(
    "GET",
    "/change-controls/{change_control_id}",
    summary="One change control",
    tags=["change control"],
    roles=READERS,
)
def get_change_control(change_control_id: int) -> dict[str, Any]:
    """With its affected versions and their training status."""
    with unit_of_work(readonly=True) as uow:
        change = changes.get_change_control(uow.session, change_control_id)
        return {**_change_dict(change), "training": changes.training_status(uow.session, change)}


@api.route(
    "POST",
    "/change-controls/{change_control_id}/submit",
    summary="Submit for approval",
    tags=["change control"],
    roles=AUTHORS,
)
def submit_change_control(change_control_id: int) -> dict[str, Any]:
    """Draft → submitted; draft versions go to review."""
    with unit_of_work() as uow:
        change = changes.submit_change_control(uow, change_control_id)
        result = _change_dict(change)
        uow.commit()
    return result


@api.route(
    "POST",
    "/change-controls/{change_control_id}/approve",
    summary="Approve (e-signature)",
    tags=["change control"],
    body=schemas.Signature,
    roles=("qa_approver",),
)
def approve_change_control(change_control_id: int, body: schemas.Signature) -> dict[str, Any]:
    """Submitted → approved; in the same transaction, assignments for everyone who needs the new
    versions (due before the effective date) and supersession of older open assignments.
    """
    with unit_of_work() as uow:
        change, created = changes.approve_change_control(
            uow,
            change_control_id,
            username=body.username,
            password=body.password,
            lockout_threshold=lockout(),
            policy=QmsPolicy(),
        )
        result = {**_change_dict(change), "assignments_created": created}
        uow.commit()
    return result


@api.route(
    "POST",
    "/change-controls/{change_control_id}/reject",
    summary="Reject (e-signature)",
    tags=["change control"],
    body=schemas.RejectRequest,
    roles=("qa_approver",),
)
def reject_change_control(change_control_id: int, body: schemas.RejectRequest) -> dict[str, Any]:
    """Submitted → rejected; versions return to draft."""
    with unit_of_work() as uow:
        change = changes.reject_change_control(
            uow,
            change_control_id,
            username=body.username,
            password=body.password,
            comment=body.comment,
            lockout_threshold=lockout(),
        )
        result = _change_dict(change)
        uow.commit()
    return result


# -- assignments and completions ---------------------------------------------------------------------


@api.route("GET", "/me/assignments", summary="My assignments", tags=["assignments"])
def my_assignments() -> list[dict[str, Any]]:
    """The signed-in person's assignments with their content references."""
    actor = current_actor()
    assert actor is not None
    if actor.person_id is None:
        raise NotFound("this account is not linked to a person", field="person_id")
    with unit_of_work(readonly=True) as uow:
        return services.learner_assignments(uow.session, actor.person_id)


@api.route(
    "GET",
    "/assignments",
    summary="List assignments",
    tags=["assignments"],
    roles=READERS,
    query=schemas.AssignmentQuery,
)
def list_assignments(query: schemas.AssignmentQuery) -> list[dict[str, Any]]:
    """Filter by person, status or item."""
    with unit_of_work(readonly=True) as uow:
        stmt = select(Assignment).order_by(Assignment.id.desc()).limit(query.limit)
        if query.person_id is not None:
            stmt = stmt.where(Assignment.person_id == query.person_id)
        if query.status is not None:
            stmt = stmt.where(Assignment.status == query.status)
        if query.training_item_id is not None:
            stmt = stmt.where(Assignment.training_item_id == query.training_item_id)
        return [as_dict(a) for a in uow.session.scalars(stmt)]


@api.route(
    "POST",
    "/assignments",
    summary="Assign a training item version to people",
    tags=["assignments"],
    body=schemas.AssignRequest,
    roles=ASSIGNERS,
    status=201,
)
def create_assignments(body: schemas.AssignRequest) -> dict[str, Any]:
    """Manual assignment; people holding an open one on the version are skipped."""
    with unit_of_work() as uow:
        created = assignments.assign(
            uow,
            person_ids=body.person_ids,
            item_version_id=body.item_version_id,
            due_at=body.due_at,
            reason=body.reason,
        )
        uow.commit()
    return {"assignment_ids": created}


@api.route("GET", "/assignments/{assignment_id}", summary="One assignment", tags=["assignments"])
def get_assignment(assignment_id: int) -> dict[str, Any]:
    """The assignee or quality staff."""
    with unit_of_work(readonly=True) as uow:
        assignment = assignments.get_assignment(uow.session, assignment_id)
        _self_or_reader(assignment.person_id)
        return {**as_dict(assignment), "evidence": evidence_inbox.for_assignment(uow.session, assignment)}


@api.route(
    "POST",
    "/assignments/{assignment_id}/sign",
    summary="Sign 'read and understood' (e-signature)",
    tags=["assignments"],
    body=schemas.Signature,
    status=201,
)
def sign_assignment(assignment_id: int, body: schemas.Signature) -> dict[str, Any]:
    """The learner re-enters username and password; an immutable, version-specific completion results."""
    with unit_of_work() as uow:
        completion = assignments.complete_with_signature(
            uow, assignment_id, username=body.username, password=body.password, lockout_threshold=lockout()
        )
        result = as_dict(completion)
        uow.commit()
    return result


@api.route(
    "GET", "/completions/{completion_id}", summary="One completion with its signatures", tags=["assignments"]
)
def get_completion(completion_id: int) -> dict[str, Any]:
    """Immutable; the person or quality staff."""
    from bridge.core.signatures import ElectronicSignature

    with unit_of_work(readonly=True) as uow:
        completion = uow.session.get(Completion, completion_id)
        if completion is None:
            raise NotFound(f"completion {completion_id} does not exist", field="completion_id")
        _self_or_reader(completion.person_id)
        result = as_dict(completion)
        for key in ("signature_id", "trainer_signature_id"):
            sig = uow.session.get(ElectronicSignature, result[key]) if result[key] else None
            result[key.replace("_id", "")] = sig.manifestation() if sig else None
        result["evidence_rows"] = evidence_inbox.for_completion(uow.session, completion)
        return result


# -- sweeps ---------------------------------------------------------------------------------------------


@api.route(
    "POST",
    "/sweeps/{name}",
    summary="Run a scheduled sweep now",
    tags=["meta"],
    roles=("administrator",),
    path_types={"name": str},
)
def run_sweep(name: str) -> dict[str, Any]:
    """``effective`` (effective-date gating), ``overdue`` or ``periodic`` retraining."""
    from qms import sweeps

    if name not in sweeps.SWEEPS:
        raise NotFound(f"no sweep {name!r}; one of {', '.join(sweeps.SWEEPS)}", field="name")
    with unit_of_work() as uow:
        outcome = sweeps.SWEEPS[name](uow)
        uow.commit()
    return {"sweep": name, "outcome": outcome}
