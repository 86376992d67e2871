"""The training service surface other packages use (``lti/``): a learner's assignments and the
read-and-understood signature; and the read models of training (transcript, matrix
compliance, a document's training status).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from bridge.core.clock import column_now
from bridge.core.errors import NotFound
from bridge.core.people import Person
from bridge.core.signatures import ElectronicSignature
from bridge.core.uow import UnitOfWork
from qms.documents import effective_dates
from qms.documents import services as documents
from qms.documents.models import DocumentVersion, TrainingItem, TrainingItemVersion
from qms.org.models import Department, JobFunction
from qms.training import completions as training_completions
from qms.training.models import Assignment, Completion, ComplianceState


def learner_assignments(
    session: Session, person_id: int, *, now: dt.datetime | None = None
) -> list[dict[str, Any]]:
    """The person's assignments with their item, version and where to find the content.

    An open assignment past its due date at ``now`` shows as overdue; without ``now`` (a bare
    read session, as the LTI learner pages hold) the clock of the unit of work open in this
    context is read, the system's outside one.

    One query (columns only, no eager loads): learner pages and transcripts call it often.
    """
    rows = session.execute(
        select(
            Assignment.id,
            Assignment.status,
            Assignment.reason,
            Assignment.source_type,
            Assignment.source_id,
            Assignment.due_at,
            Assignment.assigned_at,
            Assignment.completion_id,
            TrainingItem.id.label("item_id"),
            TrainingItem.kind,
            TrainingItem.title,
            TrainingItem.code,
            TrainingItemVersion.id.label("version_id"),
            TrainingItemVersion.label,
            TrainingItemVersion.status.label("version_status"),
            TrainingItemVersion.effective_at,
            TrainingItemVersion.activity_iris,
            TrainingItemVersion.lms_url,
            DocumentVersion.id.label("document_version_id"),
            DocumentVersion.file_id,
            Completion.completed_at,
        )
        .join(TrainingItem, TrainingItem.id == Assignment.training_item_id)
        .join(TrainingItemVersion, TrainingItemVersion.id == Assignment.item_version_id)
        .outerjoin(DocumentVersion, DocumentVersion.item_version_id == TrainingItemVersion.id)
        .outerjoin(Completion, Completion.id == Assignment.completion_id)
        .where(Assignment.person_id == person_id)
        .order_by(Assignment.assigned_at.desc(), Assignment.id.desc())
    ).all()
    now = now or column_now()
    result = []
    for row in rows:
        status = row.status
        if status == "open" and row.due_at is not None and row.due_at < now:
            status = "overdue"
        result.append(
            {
                "id": row.id,
                "status": status,
                "reason": row.reason,
                "source_type": row.source_type,
                "source_id": row.source_id,
                "due_at": row.due_at,
                "assigned_at": row.assigned_at,
                "training_item": {"id": row.item_id, "kind": row.kind, "title": row.title, "code": row.code},
                "version": {
                    "id": row.version_id,
                    "label": row.label,
                    "status": row.version_status,
                    "effective_at": row.effective_at,
                },
                "content": {
                    "activity_iris": list(row.activity_iris or []),
                    "lms_url": row.lms_url,
                    "file_url": (
                        f"/api/v1/document-versions/{row.document_version_id}/file"
                        if row.document_version_id is not None and row.file_id is not None
                        else None
                    ),
                },
                "completed_at": row.completed_at,
                "completion_id": row.completion_id,
            }
        )
    return result


def complete_read_and_understood(
    uow: UnitOfWork, assignment_id: int, *, username: str, password: str, lockout_threshold: int | None = None
) -> Completion:
    """The learner signs "read and understood" on their own assignment.

    Creates the immutable, version-specific completion and publishes
    :class:`qms.events.TrainingCompleted` in the same transaction.
    """
    threshold = lockout_threshold if lockout_threshold is not None else uow.settings.lockout_threshold
    return training_completions.complete_with_signature(
        uow, assignment_id, username=username, password=password, lockout_threshold=threshold
    )


def transcript(session: Session, person_id: int, *, now: dt.datetime) -> dict[str, Any]:
    """A person's training record: completions (signed), assignments and current state."""
    person = session.execute(
        select(Person.id, Person.display_name, Person.employee_no, Person.active).where(
            Person.id == person_id
        )
    ).first()
    if person is None:
        raise NotFound(f"person {person_id} does not exist", field="person_id")
    completions = session.execute(
        select(Completion, TrainingItem.code, TrainingItem.title, TrainingItemVersion.label)
        .join(TrainingItem, TrainingItem.id == Completion.training_item_id)
        .join(TrainingItemVersion, TrainingItemVersion.id == Completion.item_version_id)
        .where(Completion.person_id == person_id)
        .order_by(Completion.completed_at.desc(), Completion.id.desc())
    ).all()
    signature_ids = {c.signature_id for c, *_ in completions if c.signature_id} | {
        c.trainer_signature_id for c, *_ in completions if c.trainer_signature_id
    }
    manifest = (
        {
            s.id: s.manifestation()
            for s in session.scalars(
                select(ElectronicSignature).where(ElectronicSignature.id.in_(sorted(signature_ids)))
            )
        }
        if signature_ids
        else {}
    )
    states = session.execute(
        select(ComplianceState, TrainingItem.code, TrainingItem.title)
        .join(TrainingItem, TrainingItem.id == ComplianceState.training_item_id)
        .where(ComplianceState.person_id == person_id)
        .order_by(TrainingItem.code)
    ).all()
    return {
        "person": {
            "id": person.id,
            "display_name": person.display_name,
            "employee_no": person.employee_no,
            "active": person.active,
        },
        "completions": [
            {
                "id": c.id,
                "training_item_id": c.training_item_id,
                "item_code": code,
                "item_title": title,
                "version_id": c.item_version_id,
                "version_label": label,
                "method": c.method,
                "completed_at": c.completed_at,
                "score_scaled": c.score_scaled,
                "assignment_id": c.assignment_id,
                "signature": manifest.get(c.signature_id) if c.signature_id else None,
                "trainer_signature": manifest.get(c.trainer_signature_id) if c.trainer_signature_id else None,
            }
            for c, code, title, label in completions
        ],
        "assignments": learner_assignments(session, person_id, now=now),
        "requirements": [
            {
                "requirement_id": s.requirement_id,
                "item_code": code,
                "item_title": title,
                "status": s.status,
                "trained_version_id": s.trained_version_id,
                "last_completed_at": s.last_completed_at,
                "due_at": s.due_at,
                "expires_at": s.expires_at,
            }
            for s, code, title in states
        ],
    }


def matrix_report(session: Session, *, now: dt.datetime, department_id: int | None = None) -> dict[str, Any]:
    """Matrix compliance by department and job function, from the maintained state.

    One grouped scan of the state's covering index, in its order; time-dependent statuses (a
    due date or an expiry that has just passed) are judged against ``now``: per status, how
    many were past due and how many had lapsed (two plain comparisons per row, cheap over a
    plant's half a million rows), combined here.
    """
    state = ComplianceState
    query = select(
        state.department_id,
        state.job_function_id,
        state.status,
        func.count(),
        func.count(case((state.due_at < now, 1))),
        func.count(case((state.expires_at <= now, 1))),
    ).group_by(state.department_id, state.job_function_id, state.status)
    if department_id is not None:
        query = query.where(state.department_id == department_id)
    counted_groups: dict[tuple[int | None, int | None], list[int]] = {}
    for dept, jf, status, count, past_due, lapsed in session.execute(query):
        # pairs, compliant, overdue, exempt, not in force
        held = counted_groups.setdefault((dept, jf), [0, 0, 0, 0, 0])
        held[0] += count
        if status == "compliant":
            # A compliant pair whose periodic retraining lapsed by now is overdue.
            held[1] += count - lapsed
            held[2] += lapsed
        elif status == "exempt":
            held[3] += count
        elif status == "not_in_force":
            held[4] += count
        else:
            held[2] += count if status == "overdue" else past_due
    groups = [(dept, jf, *counts) for (dept, jf), counts in counted_groups.items()]
    departments = dict(session.execute(select(Department.id, Department.code)).all())
    functions = dict(session.execute(select(JobFunction.id, JobFunction.code)).all())
    rows = []
    totals = {"pairs": 0, "compliant": 0, "overdue": 0, "exempt": 0, "not_in_force": 0}
    for dept, jf, pairs, ok, late, ex, nif in groups:
        ok, late, ex, nif = int(ok or 0), int(late or 0), int(ex or 0), int(nif or 0)
        # Exempt pairs and requirements not yet in force are neither met nor gaps.
        counted = pairs - ex - nif
        rows.append(
            {
                "department_id": dept,
                "department": departments.get(dept),
                "job_function_id": jf,
                "job_function": functions.get(jf) if jf else None,
                "pairs": pairs,
                "compliant": ok,
                "due": counted - ok - late,
                "overdue": late,
                "exempt": ex,
                "not_in_force": nif,
                "compliance_pct": round(100.0 * ok / counted, 2) if counted else 100.0,
            }
        )
        totals["pairs"] += pairs
        totals["compliant"] += ok
        totals["overdue"] += late
        totals["exempt"] += ex
        totals["not_in_force"] += nif
    rows.sort(key=lambda r: (r["department"] or "", r["job_function"] or ""))
    counted = totals["pairs"] - totals["exempt"] - totals["not_in_force"]
    totals["compliance_pct"] = round(100.0 * totals["compliant"] / counted, 2) if counted else 100.0
    return {"as_of": now, "rows": rows, "totals": totals}


def document_training_status(session: Session, document_id: int) -> dict[str, Any]:
    """Per version of a document: who is assigned and trained; and the current state."""
    document = documents.get_document(session, document_id)
    item = documents.item_of_document(session, document_id)
    versions = []
    for version in document.versions:
        figures = (
            effective_dates.trained_percentage(session, version.item_version_id)
            if version.item_version_id
            else {}
        )
        versions.append(
            {
                "id": version.id,
                "label": version.label,
                "status": version.status,
                "revision": version.revision,
                "retrain": version.retrain,
                "effective_at": version.effective_at,
                **figures,
            }
        )
    states = dict(
        session.execute(
            select(ComplianceState.status, func.count())
            .where(ComplianceState.training_item_id == item.id)
            .group_by(ComplianceState.status)
        ).all()
    )
    people = session.execute(
        select(
            Person.id,
            Person.display_name,
            ComplianceState.status,
            ComplianceState.trained_version_id,
            ComplianceState.due_at,
        )
        .join(ComplianceState, ComplianceState.person_id == Person.id)
        .where(ComplianceState.training_item_id == item.id)
        .order_by(Person.display_name)
    ).all()
    return {
        "document": {"id": document.id, "code": document.code, "title": document.title},
        "training_item_id": item.id,
        "versions": versions,
        "state_counts": states,
        "people": [
            {
                "person_id": p.id,
                "display_name": p.display_name,
                "status": p.status,
                "trained_version_id": p.trained_version_id,
                "due_at": p.due_at,
            }
            for p in people
        ],
    }
