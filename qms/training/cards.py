"""The quality system's dashboard cards: compliance by department and job function, overdue and
due-soon counts, versions approaching their effective date (trained % and the gate), open CAPAs
waiting on training, approvals waiting, my own training. Each loader runs a few aggregate queries
(no per-row query) so the dashboard stays fast on a large plant.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import case, func, select

from bridge.core.uow import UnitOfWork
from qms.capa.models import Capa, CapaAction, CapaActionAssignment
from qms.changes.models import ChangeControl, ChangeControlDocument
from qms.documents import effective_dates
from qms.documents.models import Document, DocumentVersion, TrainingItemVersion
from qms.org.models import Department, JobFunction
from qms.policy import QmsPolicy
from qms.training.models import OPEN_ASSIGNMENT_STATUSES, Assignment, ComplianceState

DUE_SOON_DAYS = 14
APPROACHING_DAYS = 30
TOP = 12


def _share(compliant: int, counted: int) -> float:
    return round(100.0 * compliant / counted, 1) if counted else 100.0


def load_compliance(uow: UnitOfWork) -> dict[str, Any]:
    """Compliant share of the requirements in force, by department and by job function.

    One scan of the maintained compliance state grouped by both (exempt rows not counted); the
    dashboard caches it for a minute (a 10,000-person plant has half a million rows).
    """
    compliant = func.sum(case((ComplianceState.status == "compliant", 1), else_=0))
    counted = func.sum(case((ComplianceState.status != "exempt", 1), else_=0))
    rows = uow.session.execute(
        select(ComplianceState.department_id, ComplianceState.job_function_id, compliant, counted)
        .group_by(ComplianceState.department_id, ComplianceState.job_function_id)
    ).all()
    totals: dict[str, dict[int, list[int]]] = {"department": {}, "job_function": {}}
    for department_id, job_function_id, yes, of in rows:
        for kind, key in (("department", department_id), ("job_function", job_function_id)):
            if key is not None:
                pair = totals[kind].setdefault(key, [0, 0])
                pair[0] += int(yes or 0)
                pair[1] += int(of or 0)
    result: dict[str, Any] = {"at": uow.clock.now()}
    for kind, model in (("department", Department), ("job_function", JobFunction)):
        units = uow.session.execute(select(model.id, model.code, model.name)
                                    .where(model.id.in_(list(totals[kind]))).order_by(model.code)).all()
        result[kind + "s"] = [{"id": u.id, "code": u.code, "name": u.name, "compliant": totals[kind][u.id][0],
                               "counted": totals[kind][u.id][1], "pct": _share(*totals[kind][u.id])}
                              for u in units]
    # The least compliant first, so a long list of job functions starts with what needs attention.
    result["job_functions"].sort(key=lambda r: (r["pct"], r["code"]))
    result["job_functions_total"] = len(result["job_functions"])
    result["job_functions"] = result["job_functions"][:TOP]
    return result


def load_due(uow: UnitOfWork) -> dict[str, Any]:
    """Overdue assignments and those due within two weeks."""
    now = uow.clock.now()
    soon = now + dt.timedelta(days=DUE_SOON_DAYS)
    row = uow.session.execute(select(
        func.sum(case((Assignment.status == "overdue", 1), else_=0)),
        func.sum(case(((Assignment.status.in_(("open", "content_complete")))
                       & (Assignment.due_at >= now) & (Assignment.due_at < soon), 1), else_=0)),
    ).where(Assignment.status.in_(OPEN_ASSIGNMENT_STATUSES))).one()
    return {"overdue": int(row[0] or 0), "due_soon": int(row[1] or 0), "days": DUE_SOON_DAYS}


def load_approaching(uow: UnitOfWork) -> dict[str, Any]:
    """Approved versions coming into force within 30 days, with their trained % and gate."""
    now = uow.clock.now()
    rows = uow.session.execute(
        select(DocumentVersion.id, DocumentVersion.label, Document.code, TrainingItemVersion.effective_at,
               TrainingItemVersion.id.label("item_version_id"), TrainingItemVersion.min_trained_pct)
        .join(TrainingItemVersion, TrainingItemVersion.id == DocumentVersion.item_version_id)
        .join(Document, Document.id == DocumentVersion.document_id)
        .where(TrainingItemVersion.status == "approved",
               TrainingItemVersion.effective_at < now + dt.timedelta(days=APPROACHING_DAYS))
        .order_by(TrainingItemVersion.effective_at).limit(TOP)
    ).all()
    default_gate = uow.policy(QmsPolicy).min_trained_pct
    versions = []
    for r in rows:
        figures = effective_dates.trained_percentage(uow.session, r.item_version_id)
        gate = r.min_trained_pct if r.min_trained_pct is not None else default_gate
        versions.append({"id": r.id, "label": r.label, "code": r.code, "effective_at": r.effective_at,
                         "gate": gate, "blocked": gate is not None and figures["trained_pct"] < gate,
                         **figures})
    return {"versions": versions, "days": APPROACHING_DAYS}


def load_capa_training(uow: UnitOfWork) -> dict[str, Any]:
    """Open CAPAs whose training actions still have open assignments."""
    rows = uow.session.execute(
        select(Capa.id, Capa.number, Capa.title, func.count(func.distinct(Assignment.id)).label("open"))
        .join(CapaAction, CapaAction.capa_id == Capa.id)
        .join(CapaActionAssignment, CapaActionAssignment.action_id == CapaAction.id)
        .join(Assignment, Assignment.id == CapaActionAssignment.assignment_id)
        .where(Capa.status.not_in(("closed", "cancelled")), Assignment.status.in_(OPEN_ASSIGNMENT_STATUSES))
        .group_by(Capa.id, Capa.number, Capa.title).order_by(Capa.number).limit(TOP)
    ).all()
    return {"capas": [dict(r._mapping) for r in rows]}


def load_approvals(uow: UnitOfWork) -> dict[str, Any]:
    """Change controls and document versions waiting for an approver's signature."""
    session = uow.session
    changes = session.execute(
        select(ChangeControl.id, ChangeControl.number, ChangeControl.title)
        .where(ChangeControl.status == "submitted").order_by(ChangeControl.number).limit(TOP)).all()
    change_count = session.scalar(select(func.count()).where(ChangeControl.status == "submitted"))
    in_change = select(ChangeControlDocument.document_version_id)
    versions = session.execute(
        select(DocumentVersion.id, DocumentVersion.label, Document.code)
        .join(Document, Document.id == DocumentVersion.document_id)
        .where(DocumentVersion.status == "in_review", DocumentVersion.id.not_in(in_change))
        .order_by(Document.code).limit(TOP)).all()
    return {"changes": changes, "change_count": change_count or 0, "versions": versions}


def load_mine(uow: UnitOfWork) -> dict[str, Any]:
    """The signed-in person's open and overdue assignments."""
    person_id = uow.actor.person_id
    if person_id is None:
        return {"linked": False}
    row = uow.session.execute(select(
        func.count(), func.sum(case((Assignment.status == "overdue", 1), else_=0)),
        func.min(Assignment.due_at),
    ).where(Assignment.person_id == person_id, Assignment.status.in_(OPEN_ASSIGNMENT_STATUSES))).one()
    return {"linked": True, "open": int(row[0] or 0), "overdue": int(row[1] or 0), "next_due": row[2]}
