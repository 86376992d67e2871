"""The inspector's canned questions, each answered as of a moment from the immutable records
(DESIGN.md, "When is a person trained?"), each a :class:`Report` (HTML, CSV, PDF) that prints the
moment it answers for.

1. trained before the effective date (a document version);
2. qualified at a moment (a person or a department);
3. training adequacy of a deviation;
4. the assignments a change control created and their state;
5. open CAPA training;
6. overdue training by department.

An assignment's state at a moment is read from its own times: not yet made before
``assigned_at``; closed (completed, superseded, cancelled) from ``closed_at``; else overdue once
past ``due_at``, else open.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from bridge.core.errors import NotFound, ValidationFailed
from bridge.core.people import Person
from qms.capa.models import Capa, CapaAction, CapaActionAssignment
from qms.changes.models import ChangeControl
from qms.deviations import assessments as deviation_assessments
from qms.deviations import services as deviations
from qms.documents import services as documents
from qms.documents.models import Document, DocumentVersion, TrainingItem, TrainingItemVersion
from qms.org.models import Department
from qms.reports.models import Report, Section
from qms.training import asof
from qms.training import scope as in_scope
from qms.training.models import Assignment, Completion

QUESTIONS = {
    "trained-before-effective": "Who was trained on a document version before it became effective?",
    "qualified-at": "Was a person (or a department) qualified at the moment?",
    "deviation-adequacy": "Was training adequate for a deviation?",
    "change-control-assignments": "Which assignments did a change control create, and their state?",
    "open-capa-training": "Which CAPA training was open?",
    "overdue-by-department": "Which training was overdue, by department?",
}
ROW_LIMIT = 20_000


def _stamp(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def state_at(a: Any, at: dt.datetime) -> str:
    """An assignment's state at ``at`` from its own times (see the module's docstring)."""
    if a.closed_at is not None and a.closed_at <= at:
        return a.status if a.status in ("completed", "superseded", "cancelled") else "closed"
    if a.due_at is not None and a.due_at < at:
        return "overdue"
    return "open"


def _report(key: str, title: str, at: dt.datetime, generated_by: str, now: dt.datetime,
            filters: dict[str, Any], summary: list[tuple[str, Any]], sections: list[Section],
            data: dict[str, Any]) -> Report:
    return Report(generated_at=now, key=f"{key}-as-of-{at:%Y%m%dT%H%M%SZ}",
                  title=f"{title} — as of {_stamp(at)}", generated_by=generated_by,
                  filters={**filters, "as_of": at},
                  summary=[("As of", _stamp(at)), *summary], sections=sections,
                  data={**data, "as_of": at})


def _names(session: Session, person_ids: Iterable[int]) -> dict[int, str]:
    ids = sorted(set(person_ids))
    found: dict[int, str] = {}
    for chunk in in_scope.chunks(ids):
        found.update(session.execute(select(Person.id, Person.display_name)
                                     .where(Person.id.in_(chunk))).all())
    return found


def _department_codes(session: Session, person_ids: Iterable[int], at: dt.datetime) -> dict[int, str]:
    depts = in_scope.current_departments(session, sorted(set(person_ids)), at)
    codes = dict(session.execute(select(Department.id, Department.code)).all())
    return {pid: codes.get(d, "") for pid, d in depts.items()}


def _assignment_rows(session: Session, stmt: Select[Any], at: dt.datetime) -> list[dict[str, Any]]:
    """Assignments made by ``at`` with person, department at ``at``, item, version, state at ``at``."""
    found = session.execute(
        stmt.add_columns(TrainingItem.code, TrainingItemVersion.label)
        .join(TrainingItem, TrainingItem.id == Assignment.training_item_id)
        .join(TrainingItemVersion, TrainingItemVersion.id == Assignment.item_version_id)
        .where(Assignment.assigned_at <= at).order_by(Assignment.id).limit(ROW_LIMIT)
    ).all()
    people = [row[0].person_id for row in found]
    names, depts = _names(session, people), _department_codes(session, people, at)
    return [{"assignment_id": a.id, "person_id": a.person_id, "person": names.get(a.person_id),
             "department": depts.get(a.person_id, ""), "item": code, "version": label,
             "reason": a.reason, "assigned_at": a.assigned_at, "due_at": a.due_at,
             "state": state_at(a, at),
             "closed_at": a.closed_at if a.closed_at and a.closed_at <= at else None}
            for a, code, label in found]


ASSIGNMENT_COLUMNS = [("person", "Person"), ("department", "Department"), ("item", "Item"),
                      ("version", "Version"), ("reason", "Reason"), ("assigned_at", "Assigned (UTC)"),
                      ("due_at", "Due (UTC)"), ("state", "State then"), ("closed_at", "Closed (UTC)")]


def trained_before_effective(session: Session, version_id: int, *, at: dt.datetime,
                             generated_by: str, now: dt.datetime) -> Report:
    """Who, of those assigned a document version (or who completed it), was trained on it before
    it became effective — as the records stood at ``at``.
    """
    version = documents.get_version(session, version_id)
    item_version = version.item_version
    if item_version is None:
        raise ValidationFailed("this version has no training item version (not approved)",
                               field="version_id")
    effective = item_version.effective_since or version.effective_at
    cutoff = min(effective, at) if effective else at
    assigned = dict(session.execute(select(Assignment.person_id, Assignment.assigned_at).where(
        Assignment.item_version_id == item_version.id, Assignment.assigned_at <= at)).all())
    # Columns only: each person's latest completion on a version that satisfies this one
    # (in_scope.satisfies: from its baseline on), made by the cutoff and recorded by ``at``.
    best: dict[int, Any] = {}
    for completion in session.execute(
            select(Completion.person_id, Completion.completed_at, Completion.method,
                   TrainingItemVersion.label)
            .join(TrainingItemVersion, TrainingItemVersion.id == Completion.item_version_id)
            .where(Completion.training_item_id == item_version.training_item_id,
                   TrainingItemVersion.seq >= item_version.baseline_seq,
                   Completion.completed_at <= cutoff, Completion.recorded_at <= at)
            .order_by(Completion.id)):
        held = best.get(completion.person_id)
        if held is None or completion.completed_at > held.completed_at:
            best[completion.person_id] = completion
    people = sorted(set(assigned) | set(best))
    names, depts = _names(session, people), _department_codes(session, people, cutoff)
    rows = [{"person_id": pid, "person": names.get(pid), "department": depts.get(pid, ""),
             "assigned_at": assigned.get(pid), "trained": pid in best,
             "completed_version": best[pid].label if pid in best else None,
             "completed_at": best[pid].completed_at if pid in best else None,
             "method": best[pid].method if pid in best else None}
            for pid in people]
    rows.sort(key=lambda r: (r["trained"], r["person"] or ""))
    trained = sum(1 for r in rows if r["trained"])
    pct = round(100.0 * trained / len(rows), 1) if rows else 100.0
    label = f"{version.document.code} version {version.label}"
    summary: list[tuple[str, Any]] = [
        ("Version", label),
        ("Effective", _stamp(effective) if effective else "not effective"),
        ("Counted up to", _stamp(cutoff)),
        ("People", len(rows)), ("Trained before effective", trained), ("Trained %", pct),
        ("Gate threshold %", version.min_trained_pct if version.min_trained_pct is not None else "—"),
    ]
    if effective is None or effective > at:
        summary.append(("Note", "the version was not yet effective at this moment: completions "
                                "up to the moment are counted"))
    return _report("trained-before-effective", f"Trained before effective — {label}", at,
                   generated_by, now, {"version_id": version_id}, summary,
                   [Section("People", [("person", "Person"), ("department", "Department"),
                                       ("assigned_at", "Assigned (UTC)"), ("trained", "Trained"),
                                       ("completed_version", "Completed version"),
                                       ("completed_at", "Completed (UTC)"), ("method", "Method")],
                            rows)],
                   {"rows": rows, "trained": trained, "people": len(rows)})


def qualified_at(session: Session, *, person_id: int | None, department_id: int | None,
                 at: dt.datetime, generated_by: str, now: dt.datetime) -> Report:
    """Was a person — or each member of a department — qualified at ``at``?"""
    codes = dict(session.execute(select(TrainingItem.id, TrainingItem.code)).all())
    if person_id is not None:
        data = asof.as_of_person(session, person_id, at)
        rows = [{"item": r["item_code"], "version": r["version_in_force_label"], "met": r["met"],
                 "completed_version": r["completed_version_label"], "completed_at": r["completed_at"],
                 "expired": r["expired"], "explanation": r["explanation"],
                 "scope": f"{r['scope']} {r['scope_id']}"} for r in data["requirements"]]
        name = data["person"]["display_name"]
        return _report("qualified-person", f"Qualified at the moment — {name}", at, generated_by,
                       now, {"person_id": person_id},
                       [("Person", name), ("Employed", data["employed"]),
                        ("On leave", data["on_leave"]), ("Qualified", data["qualified"]),
                        ("Requirements", len(rows)), ("Met", sum(1 for r in rows if r["met"]))],
                       [Section("Requirements in force", [
                           ("item", "Item"), ("version", "Version in force"), ("met", "Met"),
                           ("completed_version", "Completed version"),
                           ("completed_at", "Completed (UTC)"), ("expired", "Expired"),
                           ("scope", "Required by"), ("explanation", "Why")], rows)],
                       {"qualified": data["qualified"], "rows": rows})
    if department_id is None:
        raise ValidationFailed("choose a person or a department", field="person_id")
    data = asof.as_of_department(session, department_id, at)
    rows = [{"person": p["display_name"], "qualified": p["qualified"], "on_leave": p["on_leave"],
             "requirements": p["requirements"], "met": p["met"],
             "unmet": "; ".join(f"{codes.get(u['training_item_id'])}: {u['explanation']}"
                                for u in p["unmet"])} for p in data["people"]]
    rows.sort(key=lambda r: (r["qualified"], r["person"] or ""))
    code = data["department"]["code"]
    return _report("qualified-department", f"Qualified at the moment — department {code}", at,
                   generated_by, now, {"department_id": department_id},
                   [("Department", code), ("Members", data["members"]),
                    ("Qualified", data["qualified"]),
                    ("Not qualified", data["members"] - data["qualified"])],
                   [Section("Members", [("person", "Person"), ("qualified", "Qualified"),
                                        ("on_leave", "On leave"), ("requirements", "Requirements"),
                                        ("met", "Met"), ("unmet", "Unmet (why)")], rows)],
                   {"rows": rows, "members": data["members"], "qualified": data["qualified"]})


def deviation_adequacy(session: Session, deviation_id: int, *, at: dt.datetime,
                       generated_by: str, now: dt.datetime) -> Report:
    """Training adequacy of a deviation (trained at its occurrence?) and the signed assessments
    recorded by ``at``.
    """
    deviation = deviations.get_deviation(session, deviation_id)
    if deviation.created_at > at:
        raise NotFound(f"deviation {deviation.number} was recorded after {_stamp(at)}",
                       field="deviation_id", code="not_yet_recorded")
    result = deviation_assessments.training_adequacy(session, deviation)
    pairs = [{"person": r["person"], "document": r["document"],
              "version_in_force": (r["version_in_force"] or {}).get("label"),
              "trained": r["trained"],
              "completion": (f"version {r['completion']['version']} on "
                             f"{_stamp(r['completion']['completed_at'])} ({r['completion']['method']})"
                             if r["completion"] else None),
              "explanation": r["explanation"]}
             for r in result["rows"]]
    recorded = [{"assessed_at": a.assessed_at, "pairs": a.pairs, "trained": a.trained,
                 "conclusion": a.conclusion, "rationale": a.rationale}
                for a in deviations.assessments_of(session, deviation.id) if a.assessed_at <= at]
    trained = sum(1 for p in pairs if p["trained"])
    return _report("deviation-adequacy", f"Training adequacy — deviation {deviation.number}", at,
                   generated_by, now, {"deviation_id": deviation_id},
                   [("Deviation", f"{deviation.number} {deviation.title}"),
                    ("Occurred", _stamp(deviation.occurred_at)),
                    ("Person × document pairs", len(pairs)), ("Trained at occurrence", trained),
                    ("Adequate", trained == len(pairs)),
                    ("Assessments recorded by then", len(recorded))],
                   [Section("Trained at the occurrence (as-of rule)", [
                       ("person", "Person"), ("document", "Document"),
                       ("version_in_force", "Version in force"), ("trained", "Trained"),
                       ("completion", "Completion"), ("explanation", "Why")], pairs),
                    Section("Signed assessments recorded by the moment", [
                        ("assessed_at", "Assessed (UTC)"), ("pairs", "Pairs"),
                        ("trained", "Trained"), ("conclusion", "Conclusion"),
                        ("rationale", "Rationale")], recorded)],
                   {"pairs": pairs, "recorded": recorded})


def change_control_assignments(session: Session, change_id: int, *, at: dt.datetime,
                               generated_by: str, now: dt.datetime) -> Report:
    """The assignments a change control created (by ``at``) and the state of each then."""
    change = session.get(ChangeControl, change_id)
    if change is None:
        raise NotFound(f"no change control {change_id}", field="change_id")
    rows = _assignment_rows(session, select(Assignment).where(
        Assignment.source_type == "change_control", Assignment.source_id == change_id), at)
    states = Counter(r["state"] for r in rows)
    return _report("change-control-assignments",
                   f"Assignments of change control {change.number}", at, generated_by, now,
                   {"change_id": change_id},
                   [("Change control", f"{change.number} {change.title}"),
                    ("Status now", change.status),
                    ("Approved", _stamp(change.approved_at) if change.approved_at else "—"),
                    ("Assignments", len(rows)),
                    *((f"State {state}", count) for state, count in sorted(states.items()))],
                   [Section("Assignments", ASSIGNMENT_COLUMNS, rows)], {"rows": rows})


def open_capa_training(session: Session, *, at: dt.datetime, generated_by: str,
                       now: dt.datetime) -> Report:
    """CAPA training assignments open (or overdue) at ``at``, with their CAPA."""
    linked = session.execute(
        select(CapaActionAssignment.assignment_id, Capa.number, CapaAction.seq)
        .join(CapaAction, CapaAction.id == CapaActionAssignment.action_id)
        .join(Capa, Capa.id == CapaAction.capa_id).where(Capa.created_at <= at)).all()
    capa_of = {aid: (number, seq) for aid, number, seq in linked}
    # An assignment superseded after the link counts through its successors.
    frontier = list(capa_of)
    while frontier:
        successors = []
        for chunk in in_scope.chunks(frontier):
            for aid, succ in session.execute(select(Assignment.id, Assignment.superseded_by_id)
                                             .where(Assignment.id.in_(chunk),
                                                    Assignment.superseded_by_id.is_not(None))):
                if succ not in capa_of:
                    capa_of[succ] = capa_of[aid]
                    successors.append(succ)
        frontier = successors
    rows = []
    for chunk in in_scope.chunks(sorted(capa_of)):
        rows += _assignment_rows(session, select(Assignment).where(
            Assignment.id.in_(chunk),
            or_(Assignment.closed_at.is_(None), Assignment.closed_at > at)), at)
    for r in rows:
        r["capa"], r["action"] = capa_of[r["assignment_id"]]
    rows.sort(key=lambda r: (r["capa"], r["action"], r["person"] or ""))
    return _report("open-capa-training", "Open CAPA training", at, generated_by, now, {},
                   [("Open assignments", len(rows)),
                    ("Overdue", sum(1 for r in rows if r["state"] == "overdue")),
                    ("CAPAs", len({r["capa"] for r in rows}))],
                   [Section("Open CAPA training assignments",
                            [("capa", "CAPA"), ("action", "Action"), *ASSIGNMENT_COLUMNS], rows)],
                   {"rows": rows})


def overdue_by_department(session: Session, *, at: dt.datetime, department_id: int | None = None,
                          generated_by: str, now: dt.datetime) -> Report:
    """Assignments overdue at ``at`` (made, past due, not closed then), by department then."""
    rows = _assignment_rows(session, select(Assignment).where(
        Assignment.due_at < at, or_(Assignment.closed_at.is_(None), Assignment.closed_at > at)), at)
    if department_id is not None:
        code = session.scalar(select(Department.code).where(Department.id == department_id))
        rows = [r for r in rows if r["department"] == code]
    for r in rows:
        r["days_overdue"] = (at - r["due_at"]).days
    totals: dict[str, dict[str, Any]] = {}
    for r in rows:
        t = totals.setdefault(r["department"] or "(none)", {"department": r["department"] or "(none)",
                                                            "assignments": 0, "people": set()})
        t["assignments"] += 1
        t["people"].add(r["person_id"])
    departments = [{"department": t["department"], "assignments": t["assignments"],
                    "people": len(t["people"])} for _k, t in sorted(totals.items())]
    rows.sort(key=lambda r: (r["department"], -r["days_overdue"], r["person"] or ""))
    return _report("overdue-by-department", "Overdue training by department", at, generated_by,
                   now, {"department_id": department_id},
                   [("Overdue assignments", len(rows)),
                    ("People", len({r["person_id"] for r in rows})),
                    ("Departments", len(departments)),
                    ("Truncated", "yes" if len(rows) >= ROW_LIMIT else "no")],
                   [Section("By department", [("department", "Department"),
                                              ("assignments", "Overdue assignments"),
                                              ("people", "People")], departments),
                    Section("Overdue assignments", [*ASSIGNMENT_COLUMNS,
                                                    ("days_overdue", "Days late")], rows)],
                   {"departments": departments, "rows": rows})


def version_choices(session: Session) -> list[tuple[int, str]]:
    """Approved document versions for the question's picker: (document version id, label)."""
    return [(vid, f"{code} {label}") for vid, code, label in session.execute(
        select(DocumentVersion.id, Document.code, DocumentVersion.label)
        .join(Document, Document.id == DocumentVersion.document_id)
        .where(DocumentVersion.item_version_id.is_not(None))
        .order_by(Document.code, DocumentVersion.seq).limit(5000))]
