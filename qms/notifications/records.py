"""Notices about quality records: an approval waiting for the approvers (document versions and
change controls submitted), and a change control's approval to the people it affects.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import exists, insert, select

from bridge.core.accounts import UserAccount, UserRole
from qms.changes.models import ChangeControl
from qms.documents.models import Document, DocumentVersion
from qms.notifications import services
from qms.notifications.models import NoticeMark
from qms.notifications.notices import Site, by_person, entry, found, key_of, unmarked
from qms.training.models import OPEN_ASSIGNMENT_STATUSES, Assignment

logger = logging.getLogger(__name__)

APPROVER_ROLES = ("qa_approver", "administrator")


def _marked(subject_type: str, stage: str, subject_id: Any) -> Any:
    return exists().where(NoticeMark.subject_type == subject_type, NoticeMark.stage == stage,
                          NoticeMark.subject_id == subject_id)


def _add_mark(site: Site, subject_type: str, subject_id: int, stage: str) -> None:
    site.uow.session.execute(insert(NoticeMark).values(subject_type=subject_type, subject_id=subject_id,
                                                       stage=stage, created_at=site.now))


def _approvers(site: Site) -> list[tuple[int, int]]:
    """(user id, person id) of the active accounts that approve."""
    return list(site.uow.session.execute(
        select(UserAccount.id, UserAccount.person_id).join(UserRole, UserRole.user_id == UserAccount.id)
        .where(UserRole.role.in_(APPROVER_ROLES), UserAccount.active.is_(True)).distinct()).all())


def approvals_waiting(site: Site) -> int:
    """Tell the approvers of each document version and change control submitted for approval."""
    session = site.uow.session
    waiting: list[dict[str, Any]] = []
    for version, document in session.execute(
            select(DocumentVersion, Document).join(Document, Document.id == DocumentVersion.document_id)
            .where(DocumentVersion.status == "in_review", DocumentVersion.submitted_at.is_not(None))):
        waiting.append({"type": "document_version", "id": version.id, "author": version.author_user_id,
                        "submitted": version.submitted_at, "label": "Document version",
                        "number": f"{document.code} {version.label}", "title": document.title,
                        "url": f"{site.base}/console/documents/{document.id}"})
    for change in session.scalars(select(ChangeControl).where(ChangeControl.status == "submitted",
                                                              ChangeControl.submitted_at.is_not(None))):
        waiting.append({"type": "change_control", "id": change.id, "author": change.author_user_id,
                        "submitted": change.submitted_at, "label": "Change control",
                        "number": change.number, "title": change.title,
                        "url": f"{site.base}/console/change-controls/{change.id}"})
    approvers = _approvers(site) if waiting else []
    notices = []
    for record in waiting:
        stage = f"approval:{int(record['submitted'].timestamp())}"
        if session.scalar(select(_marked(record["type"], stage, record["id"]))):
            continue
        _add_mark(site, record["type"], record["id"], stage)
        for user_id, person_id in approvers:
            if user_id == record["author"]:
                continue  # separation of duties: the author does not approve
            notices.append({
                "kind": "approval_waiting", "person_id": person_id,
                "key": f"approval_waiting:{person_id}:{record['type']}:{record['id']}:{stage}",
                "subject": f"Waiting for your approval: {record['number']} {record['title']}",
                "context": {"person_id": person_id, "record": {
                    k: record[k] for k in ("label", "number", "title", "url")} | {
                    "submitted": site.local(record["submitted"])}}})
    services.queue_emails(site.uow, notices)
    return len(notices)


def changes_approved(site: Site) -> int:
    """Tell the people a change control affects, with their new assignments, once it is approved.

    Their assignments count as announced: the next morning's digest does not repeat them.
    """
    session = site.uow.session
    since = site.now - dt.timedelta(days=site.policy.digest_lookback_days)
    changes = session.scalars(select(ChangeControl).where(
        ChangeControl.status.in_(("approved", "implemented")), ChangeControl.approved_at >= since,
        ~_marked("change_control", "approved", ChangeControl.id))).all()
    sent = 0
    for change in changes:
        _add_mark(site, "change_control", change.id, "approved")
        conditions = [Assignment.source_type == "change_control", Assignment.source_id == change.id,
                      Assignment.status.in_(OPEN_ASSIGNMENT_STATUSES), unmarked("assigned")]
        rows = found(site, conditions)
        summary = {"number": change.number, "title": change.title,
                   "effective": site.local(change.effective_at),
                   "url": f"{site.base}/console/change-controls/{change.id}"}
        notices = [{"kind": "change_approved", "person_id": person_id,
                    "key": key_of(f"change_approved:{change.id}", person_id, (r.id for r in group)),
                    "subject": f"Change control {change.number} approved: training for you",
                    "context": {"person_id": person_id, "change": summary,
                                "assignments": [entry(site, r) for r in group]}}
                   for person_id, group in by_person(rows).items()]
        services.queue_emails(site.uow, notices)
        if rows:
            session.execute(insert(NoticeMark), [
                {"subject_type": "assignment", "subject_id": r.id, "stage": "assigned",
                 "created_at": site.now} for r in rows])
        sent += len(notices)
    return sent
