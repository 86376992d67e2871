"""The review and approval of versions: submission, return to draft, approval with an
e-signature (assignments follow in the same transaction) and obsolescence.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from bridge.core import audit, signatures
from bridge.core.errors import Forbidden, InvalidTransition, ValidationFailed
from bridge.core.uow import UnitOfWork
from qms.changes.models import ChangeControlDocument
from qms.documents import catalog
from qms.documents import services as documents
from qms.documents.models import DocumentVersion, TrainingItemVersion
from qms.policy import QmsPolicy
from qms.roles import APPROVERS, AUTHORS
from qms.training import assignments, compliance
from qms.training import scope as in_scope
from qms.training import state as compliance_state
from qms.training.models import (
    MATRIX_REASONS,
    OPEN_ASSIGNMENT_STATUSES,
    Assignment,
    ComplianceState,
    Requirement,
)


def transition(
    uow: UnitOfWork, version: DocumentVersion, expected: tuple[str, ...], new: str, action: str
) -> None:
    """Move ``version`` (and its item version) from one of ``expected`` to ``new``, or refuse."""
    if version.status not in expected:
        raise InvalidTransition(
            f"{action} needs a version in status {' or '.join(expected)}; version {version.label} of "
            f"{version.document.code} is {version.status}",
            field="status",
            code="invalid_transition",
        )
    old = version.status
    version.status = new
    if version.item_version is not None:
        version.item_version.status = new
    audit.record(
        uow,
        f"document_version.{new}",
        "qms_document_version",
        version.id,
        old={"status": old},
        new={"status": new},
    )


def submit_version(
    uow: UnitOfWork, version_id: int, *, effective_at: dt.datetime | None = None
) -> DocumentVersion:
    """Send a draft version to review (with its planned effective date, if known)."""
    uow.actor.require(*AUTHORS, action="submitting a document version for review")
    version = documents.get_version(uow.session, version_id, lock=True)
    if version.status == "draft" and version.file_id is None:
        raise ValidationFailed(
            "a version goes to review with its controlled file attached", field="file", code="file_required"
        )
    if effective_at is not None:
        check_future(effective_at, uow.clock.now())
    transition(uow, version, ("draft",), "in_review", "submitting for review")
    version.submitted_at = uow.clock.now()
    if effective_at is not None:
        version.effective_at = effective_at
        version.item_version.effective_at = effective_at
    uow.session.flush()
    return version


def return_to_draft(
    uow: UnitOfWork, version_id: int, *, username: str, password: str, comment: str, lockout_threshold: int
) -> DocumentVersion:
    """Reject a version under review back to draft (signed ``rejected``)."""
    uow.actor.require(*APPROVERS, action="rejecting a document version")
    version = documents.get_version(uow.session, version_id, lock=True)
    if not (comment or "").strip():
        raise ValidationFailed("a rejection needs a comment", field="comment")
    transition(uow, version, ("in_review",), "draft", "rejecting")
    signatures.sign(
        uow,
        username=username,
        password=password,
        meaning="rejected",
        record_type="qms_document_version",
        record_id=version.id,
        content=version_content(version),
        lockout_threshold=lockout_threshold,
        comment=comment,
    )
    uow.session.flush()
    return version


def check_future(effective_at: dt.datetime, now: dt.datetime) -> None:
    """Refuse an effective date without a time zone or not after ``now``."""
    if effective_at.tzinfo is None:
        raise ValidationFailed(
            "the effective date needs a time zone (e.g. 2026-05-01T00:00:00Z)", field="effective_at"
        )
    if effective_at <= now:
        raise ValidationFailed(
            "the effective date must be in the future", field="effective_at", code="effective_date_in_past"
        )


def version_content(version: DocumentVersion) -> dict[str, Any]:
    """What a signature on a document version binds to."""
    return {
        "document": version.document.code,
        "label": version.label,
        "revision": version.revision,
        "retrain": version.retrain,
        "file_sha256": version.file.sha256 if version.file else None,
        "effective_at": version.effective_at,
        "change_summary": version.change_summary,
    }


def check_not_self_approval(
    uow: UnitOfWork, author_user_id: int | None, record: str, policy: QmsPolicy
) -> None:
    """Refuse an author approving their own record unless the policy allows it."""
    if (
        not policy.self_approval_allowed
        and author_user_id is not None
        and author_user_id == uow.actor.user_id
    ):
        raise Forbidden(
            f"{record}: the author may not approve their own record (site policy)",
            field="approver",
            code="self_approval_forbidden",
        )


def people_to_assign(item_version: TrainingItemVersion) -> Any:
    """The people approving ``item_version`` assigns (a ``select`` of ``person_id``).

    Those with a maintained state row for the item; when the version needs no retraining, only
    those still holding an open assignment on an older version.
    """
    item_id = item_version.training_item_id
    people = select(ComplianceState.person_id).where(ComplianceState.training_item_id == item_id).distinct()
    if not item_version.retrain:
        people = people.where(
            ComplianceState.person_id.in_(
                select(Assignment.person_id).where(
                    Assignment.training_item_id == item_id,
                    Assignment.status.in_(OPEN_ASSIGNMENT_STATUSES),
                    Assignment.item_version_id != item_version.id,
                )
            )
        )
    return people


def approve_item_version(
    uow: UnitOfWork,
    item_version: TrainingItemVersion,
    *,
    effective_at: dt.datetime,
    source_type: str,
    source_id: int,
    reason: str,
    signature_id: int,
    now: dt.datetime,
) -> list[int]:
    """Approve a training item version and create its assignments in bulk.

    People who need it are those with a maintained state row for the item. A version
    that needs retraining gets an assignment for every one of them; otherwise only those
    holding an open assignment on an older version get one. Open assignments on older
    versions are superseded.

    Returns:
        The ids of the assignments created.
    """
    session = uow.session
    item_version.status = "approved"
    item_version.approved_at = now
    item_version.effective_at = effective_at
    item_version.approval_signature_id = signature_id
    session.flush()
    created = assignments.assign_from_select(
        uow,
        people_to_assign(item_version),
        item_version=item_version,
        due_at=effective_at,
        reason=reason,
        source_type=source_type,
        source_id=source_id,
        now=now,
    )
    assignments.supersede_set_based(uow, item_version, {person for _id, person in created}, now=now)
    return [assignment_id for assignment_id, _person in created]


def approve_version(
    uow: UnitOfWork,
    version_id: int,
    *,
    username: str,
    password: str,
    effective_at: dt.datetime,
    lockout_threshold: int,
    policy: QmsPolicy | None = None,
) -> tuple[DocumentVersion, list[int]]:
    """Approve a version under review directly (no change control), with an e-signature.

    Returns:
        The version and the ids of the assignments created.
    """
    uow.actor.require(*APPROVERS, action="approving a document version")
    policy = policy or uow.policy(QmsPolicy)
    session = uow.session
    version = documents.get_version(session, version_id, lock=True)
    linked = session.scalar(
        select(ChangeControlDocument).where(ChangeControlDocument.document_version_id == version.id)
    )
    if linked is not None:
        raise InvalidTransition(
            f"version {version.label} of {version.document.code} is approved through change control "
            f"{linked.change_control.number}",
            field="version_id",
            code="change_control_required",
        )
    check_future(effective_at, uow.clock.now())
    check_not_self_approval(
        uow, version.author_user_id, f"version {version.label} of {version.document.code}", policy
    )
    transition(uow, version, ("in_review",), "approved", "approving")
    now = uow.clock.now()
    version.effective_at = effective_at
    version.approved_at = now
    signature = signatures.sign(
        uow,
        username=username,
        password=password,
        meaning="approved",
        record_type="qms_document_version",
        record_id=version.id,
        content=version_content(version),
        lockout_threshold=lockout_threshold,
    )
    version.approval_signature_id = signature.id
    created = approve_item_version(
        uow,
        version.item_version,
        effective_at=effective_at,
        source_type="document_version",
        source_id=version.id,
        reason="document_revision",
        signature_id=signature.id,
        now=now,
    )
    return version, created


def make_obsolete(
    uow: UnitOfWork, version_id: int, *, username: str, password: str, reason: str, lockout_threshold: int
) -> DocumentVersion:
    """Withdraw an effective version (and so the document): its open assignments are cancelled."""
    uow.actor.require(*APPROVERS, action="making a document obsolete")
    session = uow.session
    version = documents.get_version(session, version_id, lock=True)
    if not (reason or "").strip():
        raise ValidationFailed("making a document obsolete needs a reason", field="reason")
    transition(uow, version, ("effective",), "obsolete", "making obsolete")
    now = uow.clock.now()
    version.item_version.ended_at = now
    signatures.sign(
        uow,
        username=username,
        password=password,
        meaning="approved",
        record_type="qms_document_version",
        record_id=version.id,
        content={**version_content(version), "obsolete": True},
        lockout_threshold=lockout_threshold,
        comment=reason,
    )
    item_id = version.item_version.training_item_id
    pairs = set(
        session.execute(
            select(Assignment.person_id, Assignment.training_item_id).where(
                Assignment.training_item_id == item_id, Assignment.status.in_(OPEN_ASSIGNMENT_STATUSES)
            )
        ).all()
    )
    assignments.cancel_assignments(
        uow,
        pairs,
        reason=f"document obsolete: {reason}",
        now=now,
        reasons=(*MATRIX_REASONS, "manual"),
    )
    # Nothing can be trained on any more: the matrix cells naming the document are retired.
    requirements = list(
        session.scalars(
            select(Requirement).where(Requirement.training_item_id == item_id, Requirement.valid_to.is_(None))
        )
    )
    people: set[int] = set()
    with uow.because(f"document obsolete: {reason}"):
        for requirement in requirements:
            people.update(in_scope.people_in_scope(session, requirement, now))
            requirement.valid_to = now
    if requirements:
        compliance.sync_people(
            uow,
            sorted(people),
            reason="matrix",
            source_type="document_version",
            source_id=version.id,
            now=now,
            requirement_ids=[r.id for r in requirements],
        )
    compliance_state.refresh_states(session, item_ids=[item_id], now=now)
    return version


def approve_course_version(
    uow: UnitOfWork,
    version_id: int,
    *,
    username: str,
    password: str,
    effective_at: dt.datetime,
    lockout_threshold: int,
    policy: QmsPolicy | None = None,
) -> tuple[TrainingItemVersion, list[int]]:
    """Approve a draft course/session/OJT version with an e-signature; assignments follow."""
    uow.actor.require(*APPROVERS, action="approving a training item version")
    policy = policy or uow.policy(QmsPolicy)
    version = catalog.get_item_version(uow.session, version_id, lock=True)
    if version.item.kind == "read_and_understand":
        raise ValidationFailed(
            "approve the document version instead", field="item_version_id", code="use_document_versions"
        )
    if version.status != "draft":
        raise InvalidTransition(
            f"approving needs a draft version; {version.label} is {version.status}", field="status"
        )
    check_future(effective_at, uow.clock.now())
    check_not_self_approval(
        uow, version.author_user_id, f"version {version.label} of {version.item.code}", policy
    )
    signature = signatures.sign(
        uow,
        username=username,
        password=password,
        meaning="approved",
        record_type="qms_training_item_version",
        record_id=version.id,
        content={
            "item": version.item.code,
            "label": version.label,
            "activity_iris": version.activity_iris,
            "effective_at": effective_at,
        },
        lockout_threshold=lockout_threshold,
    )
    created = approve_item_version(
        uow,
        version,
        effective_at=effective_at,
        source_type="training_item_version",
        source_id=version.id,
        reason="document_revision",
        signature_id=signature.id,
        now=uow.clock.now(),
    )
    return version, created
