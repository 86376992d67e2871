"""Reports asked about a past moment, by the trained-rule: the document training status (who
needed the document then, and whether each was trained on the version in force then) and a
person's transcript as it stood then.

Today's reports (:mod:`qms.reports.services`) read the maintained state; asked about a past moment
they would print today's answer under yesterday's date, which an inspector must never be handed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from qms.documents.models import DocumentVersion, TrainingItem, TrainingItemVersion
from qms.reports import services
from qms.reports.models import Report, Section
from qms.training import asof


def document_status_as_of(
    session: Session, document_id: int, *, generated_by: str, at: dt.datetime
) -> Report:
    """Per person who needed the document at ``at``: trained on the version in force then, or not
    (with the rule's explanation); the versions and when each was in force.
    """
    data = asof.as_of_document(session, document_id, at)
    document = data["document"]
    # One line per person: someone required by several matrix cells is listed (and counted) once,
    # trained only if every cell's requirement was met.
    people: dict[int, dict[str, Any]] = {}
    for row in data["people"]:
        found = people.get(row["person_id"])
        if found is None or (found["met"] and not row["met"]):
            people[row["person_id"]] = row
    lines = sorted(
        (
            {
                "display_name": p["display_name"],
                "trained": "yes" if p["met"] else "no",
                "version_in_force": p["version_in_force_label"],
                "trained_on": p["completed_version_label"],
                "completed_at": p["completed_at"],
                "on_leave": "yes" if p["on_leave"] else "",
                "explanation": p["explanation"],
            }
            for p in people.values()
        ),
        key=lambda line: line["display_name"] or "",
    )
    trained = sum(1 for line in lines if line["trained"] == "yes")
    versions = [
        {
            "label": label,
            "revision": "major" if retrain else "minor",
            "effective_since": since,
            "ended_at": ended,
            "in_force": "yes" if since is not None and since <= at and (ended is None or ended > at) else "",
        }
        for label, retrain, since, ended in session.execute(
            select(
                TrainingItemVersion.label,
                TrainingItemVersion.retrain,
                TrainingItemVersion.effective_since,
                TrainingItemVersion.ended_at,
            )
            .join(DocumentVersion, DocumentVersion.item_version_id == TrainingItemVersion.id)
            .where(DocumentVersion.document_id == document_id)
            .order_by(TrainingItemVersion.seq)
        )
    ]
    return Report(
        generated_at=at,
        key=f"document-training-{document['code']}",
        title=f"Document training status — {document['code']} as of {at:%Y-%m-%d %H:%M} UTC",
        generated_by=generated_by,
        filters={"document_id": document_id, "as_of": at},
        summary=[
            ("As of (UTC)", f"{at:%Y-%m-%d %H:%M:%S}"),
            ("People who needed it", len(lines)),
            ("Trained on the version in force", trained),
            ("Not trained", len(lines) - trained),
        ],
        sections=[
            Section(
                "Versions",
                [
                    ("label", "Version"),
                    ("revision", "Revision"),
                    ("effective_since", "Effective since (UTC)"),
                    ("ended_at", "Until (UTC)"),
                    ("in_force", "In force at the moment asked"),
                ],
                versions,
            ),
            Section(
                "People who needed it",
                [
                    ("display_name", "Person"),
                    ("trained", "Trained"),
                    ("version_in_force", "Version in force"),
                    ("trained_on", "Trained on"),
                    ("completed_at", "Completed (UTC)"),
                    ("on_leave", "On leave"),
                    ("explanation", "Why"),
                ],
                lines,
            ),
        ],
        data={**data, "people": lines},
    )


def transcript_as_of(session: Session, person_id: int, *, generated_by: str, at: dt.datetime) -> Report:
    """A person's transcript as it stood at ``at``: the completions made by then, the assignments
    made by then (their status is today's: an assignment keeps no history of its status), and each
    requirement in force then, met or not by the trained-rule.
    """
    report = services.person_transcript(session, person_id, generated_by=generated_by, now=at)
    data = report.data
    completions, assignments = report.sections[0], report.sections[1]
    completions.rows = [c for c in completions.rows if c["completed_at"] <= at]
    kept = {a["id"] for a in data["assignments"] if a["assigned_at"] <= at}
    assignments.rows = [
        row for row, a in zip(assignments.rows, data["assignments"], strict=True) if a["id"] in kept
    ]
    assignments.title = "Assignments made by then (status as of today)"
    assignments.columns = [
        (key, "Status today" if key == "status" else label) for key, label in assignments.columns
    ]
    standing = asof.as_of_person(session, person_id, at)
    titles = dict(
        session.execute(
            select(TrainingItem.code, TrainingItem.title).where(
                TrainingItem.code.in_([r["item_code"] for r in standing["requirements"]] or [""])
            )
        ).all()
    )
    by_item: dict[str, dict[str, Any]] = {}
    for r in standing["requirements"]:  # one row per item: met only if every matrix cell was met
        found = by_item.get(r["item_code"])
        if found is None or (found["met"] and not r["met"]):
            by_item[r["item_code"]] = r
    requirements = [
        {
            "item_code": code,
            "item_title": titles.get(code),
            "met": "yes" if r["met"] else "no",
            "version_in_force": r["version_in_force_label"],
            "trained_on": r["completed_version_label"],
            "completed_at": r["completed_at"],
            "explanation": r["explanation"],
        }
        for code, r in sorted(by_item.items())
    ]
    report.sections[2] = Section(
        "Requirements in force at the moment asked (the trained-rule, one row per item)",
        [
            ("item_code", "Item"),
            ("item_title", "Title"),
            ("met", "Met"),
            ("version_in_force", "Version in force"),
            ("trained_on", "Trained on"),
            ("completed_at", "Completed (UTC)"),
            ("explanation", "Why"),
        ],
        requirements,
    )
    report.title = f"{report.title} as of {at:%Y-%m-%d %H:%M} UTC"
    report.filters = {**report.filters, "as_of": at}
    report.summary = [
        ("As of (UTC)", f"{at:%Y-%m-%d %H:%M:%S}"),
        report.summary[0],
        ("Qualified", "yes" if standing["qualified"] else "no"),
        ("Completions by then", len(completions.rows)),
        ("Assignments made by then", len(assignments.rows)),
    ]
    return report
