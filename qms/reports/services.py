"""Reports on training: a person's transcript, a document's training status, matrix compliance
and overdue assignments.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.core.people import Person
from bridge.core.signatures import ElectronicSignature, signatures_of
from qms.documents.models import DocumentVersion, TrainingItem, TrainingItemVersion
from qms.org.models import Department
from qms.reports import labels
from qms.reports.models import Report, Section
from qms.training import scope as in_scope
from qms.training import services as training
from qms.training import standing
from qms.training.models import OPEN_ASSIGNMENT_STATUSES, Assignment


def _line(signature: ElectronicSignature) -> str:
    """The §11.50 manifestation, with the signer's comment when there is one."""
    line = signature.manifestation()
    return f"{line} ({signature.comment})" if signature.comment else line


def manifestations(session: Session, record_type: str, record_id: int) -> list[str]:
    """The signature manifestations of a signed record, one line each."""
    return [_line(s) for s in signatures_of(session, record_type, record_id)]


def person_transcript(session: Session, person_id: int, *, generated_by: str, now: dt.datetime) -> Report:
    """A person's signed completions, assignments and requirement status (``services.transcript``)."""
    data = training.transcript(session, person_id, now=now)
    person = data["person"]
    sources = labels.source_labels(session, [(a["source_type"], a["source_id"]) for a in data["assignments"]])
    # One row per item: a document required by several matrix cells is listed once.
    by_item: dict[str, list[dict[str, Any]]] = {}
    for state in data["requirements"]:
        by_item.setdefault(state["item_code"], []).append(state)
    requirements = []
    for _code, states in sorted(by_item.items()):
        status = labels.worst(s["status"] for s in states)
        chosen = next(s for s in states if s["status"] == status)
        requirements.append({**chosen, "status": labels.words(status), "matrix_cells": len(states)})
    return Report(
        generated_at=now,
        key=f"transcript-{person_id}",
        title=f"Training transcript — {person['display_name']}",
        generated_by=generated_by,
        filters={"person_id": person_id},
        summary=[
            ("Person", f"{person['display_name']} (employee no. {person['employee_no'] or '—'})"),
            ("Active", "yes" if person["active"] else "no"),
            ("Completions", len(data["completions"])),
            ("Assignments", len(data["assignments"])),
        ],
        sections=[
            Section(
                "Completions (each names the exact version and its signatures)",
                [
                    ("item_code", "Item"),
                    ("item_title", "Title"),
                    ("version_label", "Version"),
                    ("method", "Method"),
                    ("completed_at", "Completed (UTC)"),
                    ("score_scaled", "Score"),
                    ("signature", "Signature"),
                    ("trainer_signature", "Trainer signature"),
                ],
                [labels.worded(c, ("method",)) for c in data["completions"]],
            ),
            Section(
                "Assignments",
                [
                    ("item", "Item"),
                    ("item_title", "Title"),
                    ("version", "Version"),
                    ("reason", "Reason"),
                    ("source", "Source"),
                    ("status", "Status"),
                    ("assigned_at", "Assigned (UTC)"),
                    ("due_at", "Due (UTC)"),
                    ("completed_at", "Completed (UTC)"),
                ],
                [
                    {
                        **labels.worded(a, ("reason", "status")),
                        "item": a["training_item"]["code"],
                        "item_title": a["training_item"].get("title"),
                        "version": a["version"]["label"],
                        "source": labels.source_label(sources, a["source_type"], a["source_id"]),
                    }
                    for a in data["assignments"]
                ],
            ),
            Section(
                "Requirements (current state, one row per item)",
                [
                    ("item_code", "Item"),
                    ("item_title", "Title"),
                    ("status", "Status"),
                    ("last_completed_at", "Last completed (UTC)"),
                    ("due_at", "Due (UTC)"),
                    ("expires_at", "Expires (UTC)"),
                ],
                requirements,
            ),
        ],
        data=data,
    )


def document_status(session: Session, document_id: int, *, generated_by: str, now: dt.datetime) -> Report:
    """Per version of a document: assigned and trained; each person's current state."""
    data = training.document_training_status(session, document_id)
    document = data["document"]
    # One row per person: someone required by several matrix cells is listed (and counted) once.
    per_person: dict[int, list[dict[str, Any]]] = {}
    for row in data["people"]:
        per_person.setdefault(row["person_id"], []).append(row)
    chosen_rows = []
    for rows in per_person.values():
        status = labels.worst(r["status"] for r in rows)
        chosen_rows.append(next(r for r in rows if r["status"] == status))
    version_labels = _version_labels(session, [r["trained_version_id"] for r in chosen_rows])
    people = [
        {**chosen, "trained_version": version_labels.get(chosen["trained_version_id"])}
        for chosen in chosen_rows
    ]
    people.sort(key=lambda p: p["display_name"] or "")
    counts: dict[str, int] = {}
    for person in people:
        counts[person["status"]] = counts.get(person["status"], 0) + 1
    approvals = session.execute(
        select(DocumentVersion.label, ElectronicSignature)
        .join(ElectronicSignature, ElectronicSignature.id == DocumentVersion.approval_signature_id)
        .where(DocumentVersion.document_id == document_id)
        .order_by(DocumentVersion.seq)
    ).all()
    return Report(
        generated_at=now,
        key=f"document-training-{document['code']}",
        title=f"Document training status — {document['code']} {document['title']}",
        generated_by=generated_by,
        filters={"document_id": document_id},
        summary=[("People who need it", len(people))]
        + [(f"People {labels.words(status)}", count) for status, count in sorted(counts.items())],
        signatures=[f"{document['code']} {label}: {_line(signature)}" for label, signature in approvals],
        sections=[
            Section(
                "Versions",
                [
                    ("label", "Version"),
                    ("status", "Status"),
                    ("revision", "Revision"),
                    ("retrain", "Retrain"),
                    ("effective_at", "Effective (UTC)"),
                    ("affected", "Assigned"),
                    ("trained", "Trained"),
                    ("trained_pct", "Trained %"),
                ],
                [labels.worded(v, ("status", "revision")) for v in data["versions"]],
            ),
            Section(
                "People who need it",
                [
                    ("display_name", "Person"),
                    ("status", "Status"),
                    ("trained_version", "Trained on"),
                    ("due_at", "Due (UTC)"),
                ],
                [labels.worded(p, ("status",)) for p in people],
            ),
        ],
        data=data,
    )


def _version_labels(session: Session, item_version_ids: list[int | None]) -> dict[int, str]:
    """The labels of training item versions, in one query (not one per person)."""
    wanted = sorted({v for v in item_version_ids if v is not None})
    found: dict[int, str] = {}
    for chunk in in_scope.chunks(wanted):
        found.update(
            session.execute(
                select(TrainingItemVersion.id, TrainingItemVersion.label)
                .where(TrainingItemVersion.id.in_(chunk))
            ).all()
        )
    return found


def matrix_compliance(
    session: Session,
    *,
    department_id: int | None,
    generated_by: str,
    now: dt.datetime,
    at: dt.datetime | None = None,
) -> Report:
    """Matrix compliance by department and job function, department totals: now from the maintained
    state (``services.matrix_report``), at a past moment by the as-of rule (``standing.matrix_as_of``).
    """
    data = (
        training.matrix_report(session, now=now, department_id=department_id)
        if at is None
        else standing.matrix_as_of(session, at, department_id=department_id)
    )
    by_department: dict[str, dict[str, Any]] = {}
    for row in data["rows"]:
        total = by_department.setdefault(
            row["department"] or "(none)",
            {
                "department": row["department"] or "(none)",
                "pairs": 0,
                "compliant": 0,
                "due": 0,
                "overdue": 0,
                "exempt": 0,
                "not_in_force": 0,
            },
        )
        for key in ("pairs", "compliant", "due", "overdue", "exempt", "not_in_force"):
            total[key] += row[key]
    for total in by_department.values():
        counted = total["pairs"] - total["exempt"] - total["not_in_force"]
        total["compliance_pct"] = round(100.0 * total["compliant"] / counted, 2) if counted else 100.0
    columns = [
        ("pairs", "Person × requirement"),
        ("compliant", "Compliant"),
        ("due", "Due"),
        ("overdue", "Overdue"),
        ("exempt", "Exempt"),
        ("not_in_force", "Not yet in force"),
        ("compliance_pct", "Compliance %"),
    ]
    totals = data["totals"]
    return Report(
        generated_at=now,
        key="matrix-compliance",
        title="Training matrix compliance",
        generated_by=generated_by,
        filters={"department_id": department_id, "as_of": data["as_of"]},
        summary=[
            ("Person × requirement pairs", totals["pairs"]),
            ("Compliant", totals["compliant"]),
            ("Overdue", totals["overdue"]),
            ("Exempt", totals["exempt"]),
            ("Not yet in force (no effective version)", totals["not_in_force"]),
            ("Compliance %", totals["compliance_pct"]),
        ],
        sections=[
            Section("By department", [("department", "Department"), *columns], list(by_department.values())),
            Section(
                "By department and job function",
                [("department", "Department"), ("job_function", "Job function"), *columns],
                data["rows"],
            ),
        ],
        data={**data, "departments": list(by_department.values())},
    )


def overdue(
    session: Session,
    *,
    department_id: int | None,
    generated_by: str,
    now: dt.datetime,
    at: dt.datetime | None = None,
) -> Report:
    """Assignments open and past their due date now (or at ``at``), oldest due first, with each
    person's department at that moment.
    """
    as_of = at or now
    open_then = (
        Assignment.status.in_(OPEN_ASSIGNMENT_STATUSES)
        if at is None
        else (Assignment.assigned_at <= at)
        & (
            (Assignment.closed_at.is_(None) & Assignment.status.in_(OPEN_ASSIGNMENT_STATUSES))
            | (Assignment.closed_at > at)
        )
    )
    found = session.execute(
        select(Assignment, Person.display_name, TrainingItem.code, TrainingItemVersion.label)
        .join(Person, Person.id == Assignment.person_id)
        .join(TrainingItem, TrainingItem.id == Assignment.training_item_id)
        .join(TrainingItemVersion, TrainingItemVersion.id == Assignment.item_version_id)
        .where(open_then, Assignment.due_at < as_of)
        .order_by(Assignment.due_at, Assignment.id)
    ).all()
    departments_of = in_scope.current_departments(session, sorted({a.person_id for a, *_ in found}), as_of)
    sources = labels.source_labels(session, [(a.source_type, a.source_id) for a, *_ in found])
    codes = dict(session.execute(select(Department.id, Department.code)).all())
    rows = []
    for assignment, name, item_code, label in found:
        dept = departments_of.get(assignment.person_id)
        if department_id is not None and dept != department_id:
            continue
        rows.append(
            {
                "assignment_id": assignment.id,
                "person_id": assignment.person_id,
                "person": name,
                "department": codes.get(dept) if dept else None,
                "item": item_code,
                "version": label,
                "reason": labels.words(assignment.reason),
                "source": labels.source_label(sources, assignment.source_type, assignment.source_id),
                "status": "overdue",
                "due_at": assignment.due_at,
                "days_overdue": (as_of - assignment.due_at).days,
            }
        )
    return Report(
        generated_at=now,
        key="overdue-training",
        title="Overdue training",
        generated_by=generated_by,
        filters={"department_id": department_id, "as_of": as_of},
        summary=[("Overdue assignments", len(rows)), ("People", len({r["person_id"] for r in rows}))],
        sections=[
            Section(
                "Overdue assignments",
                [
                    ("person", "Person"),
                    ("department", "Department"),
                    ("item", "Item"),
                    ("version", "Version"),
                    ("reason", "Reason"),
                    ("source", "Source"),
                    ("due_at", "Due (UTC)"),
                    ("days_overdue", "Days late"),
                ],
                rows,
            )
        ],
        data={"as_of": as_of, "rows": rows},
    )
