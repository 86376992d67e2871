"""Change control: affected document versions, impact, approval by e-signature, effective date.

Approval approves every affected version and creates, in the same transaction, an
assignment for every person who needs each new version (due before its effective date),
superseding their open assignments on older versions.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bridge.core import audit, signatures
from bridge.core.errors import Conflict, InvalidTransition, NotFound, ValidationFailed
from bridge.core.people import Person
from bridge.core.uow import UnitOfWork
from qms.changes.models import ChangeControl, ChangeControlDocument
from qms.documents import approval, effective_dates
from qms.documents import services as documents
from qms.documents.models import DocumentVersion
from qms.events import ChangeControlApproved
from qms.policy import QmsPolicy
from qms.roles import APPROVERS, AUTHORS

logger = logging.getLogger(__name__)


def get_change_control(session: Session, change_control_id: int, *, lock: bool = False) -> ChangeControl:
    """Return change control ``change_control_id`` or raise :class:`NotFound`."""
    change = session.get(
        ChangeControl, change_control_id, with_for_update={"of": ChangeControl} if lock else None
    )
    if change is None:
        raise NotFound(f"change control {change_control_id} does not exist", field="change_control_id")
    return change


def _next_number(session: Session, now: dt.datetime) -> str:
    count = session.scalar(select(func.count()).select_from(ChangeControl)) or 0
    return f"CC-{now.year}-{count + 1:04d}"


def _check_affected(session: Session, version_ids: list[int], change_id: int | None) -> list[DocumentVersion]:
    if not version_ids:
        raise ValidationFailed(
            "a change control names at least one affected document version", field="document_version_ids"
        )
    if len(set(version_ids)) != len(version_ids):
        raise ValidationFailed("an affected version is listed twice", field="document_version_ids")
    versions = []
    for version_id in version_ids:
        version = documents.get_version(session, version_id)
        if version.status not in ("draft", "in_review"):
            raise InvalidTransition(
                f"version {version.label} of {version.document.code} is {version.status}: "
                "a change control introduces a draft or in-review version",
                field="document_version_ids",
                code="version_not_changeable",
            )
        other = session.scalar(
            select(ChangeControlDocument).where(ChangeControlDocument.document_version_id == version_id)
        )
        if other is not None and other.change_control_id != change_id:
            raise Conflict(
                f"version {version.label} of {version.document.code} already belongs to change "
                f"control {other.change_control.number}",
                field="document_version_ids",
                code="already_in_change_control",
            )
        versions.append(version)
    return versions


def create_change_control(
    uow: UnitOfWork,
    *,
    title: str,
    description: str | None,
    impact: str | None,
    effective_at: dt.datetime,
    document_version_ids: list[int],
    min_trained_pct: float | None = None,
) -> ChangeControl:
    """Open a change control naming its affected document versions."""
    uow.actor.require(*AUTHORS, action="opening a change control")
    session = uow.session
    approval.check_future(effective_at, uow.clock.now())
    versions = _check_affected(session, document_version_ids, None)
    change = ChangeControl(
        number=_next_number(session, uow.clock.now()),
        title=title.strip(),
        description=description,
        impact=impact,
        effective_at=effective_at,
        min_trained_pct=min_trained_pct,
        author_user_id=uow.actor.user_id,
        status="draft",
    )
    change.affected = [ChangeControlDocument(document_version_id=v.id) for v in versions]
    session.add(change)
    session.flush()
    return change


def _transition(
    uow: UnitOfWork, change: ChangeControl, expected: tuple[str, ...], new: str, action: str
) -> None:
    if change.status not in expected:
        raise InvalidTransition(
            f"{action} needs a change control in status {' or '.join(expected)}; "
            f"{change.number} is {change.status}",
            field="status",
        )
    old, change.status = change.status, new
    audit.record(
        uow,
        f"change_control.{new}",
        "qms_change_control",
        change.id,
        old={"status": old},
        new={"status": new},
    )


def submit_change_control(uow: UnitOfWork, change_control_id: int) -> ChangeControl:
    """Submit a draft change control for approval; its draft versions go to review."""
    uow.actor.require(*AUTHORS, action="submitting a change control")
    session = uow.session
    change = get_change_control(session, change_control_id, lock=True)
    _transition(uow, change, ("draft",), "submitted", "submitting")
    approval.check_future(change.effective_at, uow.clock.now())
    change.submitted_at = uow.clock.now()
    for link in change.affected:
        version = link.document_version
        if version.status == "draft":
            approval.submit_version(uow, version.id, effective_at=change.effective_at)
        else:
            version.effective_at = change.effective_at
            version.item_version.effective_at = change.effective_at
    session.flush()
    return change


def change_content(change: ChangeControl) -> dict[str, Any]:
    """What a signature on a change control binds to."""
    return {
        "number": change.number,
        "title": change.title,
        "impact": change.impact,
        "effective_at": change.effective_at,
        "min_trained_pct": change.min_trained_pct,
        "affected": [approval.version_content(link.document_version) for link in change.affected],
    }


def approve_change_control(
    uow: UnitOfWork,
    change_control_id: int,
    *,
    username: str,
    password: str,
    lockout_threshold: int,
    policy: QmsPolicy | None = None,
) -> tuple[ChangeControl, int]:
    """Approve a submitted change control with an e-signature.

    In the same transaction: every affected version is approved with the change's
    effective date, assignments are created for everyone who needs the new versions and
    their open assignments on older versions are superseded.

    Returns:
        The change control and the number of assignments created.
    """
    uow.actor.require(*APPROVERS, action="approving a change control")
    policy = policy or uow.policy(QmsPolicy)
    session = uow.session
    change = get_change_control(session, change_control_id, lock=True)
    approval.check_not_self_approval(uow, change.author_user_id, f"change control {change.number}", policy)
    _transition(uow, change, ("submitted",), "approved", "approving")
    approval.check_future(change.effective_at, uow.clock.now())
    now = uow.clock.now()
    signature = signatures.sign(
        uow,
        username=username,
        password=password,
        meaning="approved",
        record_type="qms_change_control",
        record_id=change.id,
        content=change_content(change),
        lockout_threshold=lockout_threshold,
    )
    change.approved_at = now
    change.approval_signature_id = signature.id
    created_total = 0
    item_version_ids = []
    for link in change.affected:
        version = link.document_version
        if version.status != "in_review":
            raise InvalidTransition(
                f"version {version.label} of {version.document.code} is {version.status}, not in review",
                field="document_version_ids",
            )
        approval.transition(uow, version, ("in_review",), "approved", "approving")
        version.approved_at = now
        version.effective_at = change.effective_at
        version.approval_signature_id = signature.id
        if change.min_trained_pct is not None:
            version.min_trained_pct = change.min_trained_pct
            version.item_version.min_trained_pct = change.min_trained_pct
        created = approval.approve_item_version(
            uow,
            version.item_version,
            effective_at=change.effective_at,
            source_type="change_control",
            source_id=change.id,
            reason="change_control",
            signature_id=signature.id,
            now=now,
        )
        created_total += len(created)
        item_version_ids.append(version.item_version_id)
    uow.publish(
        ChangeControlApproved(
            change_control_id=change.id,
            item_version_ids=tuple(item_version_ids),
            assignments_created=created_total,
        )
    )
    logger.info("change control %s approved: %d assignments", change.number, created_total)
    return change, created_total


def reject_change_control(
    uow: UnitOfWork,
    change_control_id: int,
    *,
    username: str,
    password: str,
    comment: str,
    lockout_threshold: int,
) -> ChangeControl:
    """Reject a submitted change control (signed); its versions return to draft."""
    uow.actor.require(*APPROVERS, action="rejecting a change control")
    if not (comment or "").strip():
        raise ValidationFailed("a rejection needs a comment", field="comment")
    change = get_change_control(uow.session, change_control_id, lock=True)
    _transition(uow, change, ("submitted",), "rejected", "rejecting")
    signatures.sign(
        uow,
        username=username,
        password=password,
        meaning="rejected",
        record_type="qms_change_control",
        record_id=change.id,
        content=change_content(change),
        lockout_threshold=lockout_threshold,
        comment=comment,
    )
    for link in change.affected:
        if link.document_version.status == "in_review":
            approval.transition(uow, link.document_version, ("in_review",), "draft", "rejecting")
    uow.session.flush()
    return change


def training_status(session: Session, change: ChangeControl, policy: QmsPolicy) -> list[dict[str, Any]]:
    """Trained percentage of the affected people for each affected version, with its gate."""
    rows = []
    for link in change.affected:
        version = link.document_version
        figures = effective_dates.trained_percentage(session, version.item_version_id)
        rows.append(
            {
                "document_version_id": version.id,
                "document": version.document.code,
                "label": version.label,
                "status": version.status,
                **figures,
                "gate_pct": effective_dates.effective_gate(version.item_version, policy),
            }
        )
    return rows


def approval_preview(session: Session, change: ChangeControl, *, sample: int = 100) -> list[dict[str, Any]]:
    """What approving ``change`` would assign, per affected version: how many people, the first
    ``sample`` of them by name, the version and the due date (the change's effective date).

    The same selection as the approval itself (:func:`approval.people_to_assign`), read only.
    """
    rows = []
    for link in change.affected:
        version = link.document_version
        item_version = version.item_version
        people = approval.people_to_assign(item_version).subquery()
        total = session.scalar(select(func.count()).select_from(people)) or 0
        named = session.execute(
            select(Person.id, Person.display_name, Person.employee_no)
            .join(people, people.c.person_id == Person.id)
            .order_by(Person.display_name, Person.id)
            .limit(sample)
        ).all()
        rows.append({
            "document_version_id": version.id,
            "document": version.document.code,
            "title": version.document.title,
            "label": version.label,
            "revision": version.revision,
            "retrain": version.retrain,
            "due_at": change.effective_at,
            "total": int(total),
            "people": [{"id": r.id, "display_name": r.display_name, "employee_no": r.employee_no}
                       for r in named],
        })
    return rows
