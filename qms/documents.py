"""Documents, their versions and lifecycle, controlled files, and training items.

Lifecycle of a version: draft → in_review → approved → effective → superseded / obsolete.
Every transition checks the actor's role and refuses steps out of order; approval is an
electronic signature. Approving a version creates, in the same transaction, an assignment
for every person whose requirements name the document (when the revision needs retraining)
and supersedes their open assignments on older versions.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bridge.core import audit, signatures
from bridge.core.errors import Conflict, Forbidden, InvalidTransition, NotFound, ValidationFailed
from bridge.core.uow import UnitOfWork
from qms import compliance
from qms.events import VersionBecameEffective
from qms.models import (
    OPEN_ASSIGNMENT_STATUSES,
    Assignment,
    ChangeControlDocument,
    ComplianceState,
    ControlledFile,
    Document,
    DocumentVersion,
    Requirement,
    TrainingItem,
    TrainingItemVersion,
)
from qms.policy import QmsPolicy
from qms.roles import APPROVERS, AUTHORS, READERS

logger = logging.getLogger(__name__)


# -- documents -----------------------------------------------------------------------------------


def create_document(uow: UnitOfWork, *, code: str, title: str, doc_type: str = "SOP") -> Document:
    """Create a document and its read-and-understand training item."""
    uow.actor.require(*AUTHORS, action="creating a document")
    session = uow.session
    code = code.strip()
    if session.scalar(select(Document.id).where(Document.code == code)):
        raise Conflict(f"the document code {code!r} is already used", field="code", code="duplicate_code")
    if session.scalar(select(TrainingItem.id).where(TrainingItem.code == code)):
        raise Conflict(f"a training item already uses the code {code!r}", field="code", code="duplicate_code")
    document = Document(
        code=code, title=title.strip(), doc_type=doc_type, created_by_user_id=uow.actor.user_id
    )
    session.add(document)
    session.flush()
    session.add(
        TrainingItem(
            code=code,
            kind="read_and_understand",
            title=title.strip(),
            document_id=document.id,
            requires_signature=True,
        )
    )
    session.flush()
    return document


def get_document(session: Session, document_id: int) -> Document:
    """Return document ``document_id`` or raise :class:`NotFound`."""
    document = session.get(Document, document_id)
    if document is None:
        raise NotFound(f"document {document_id} does not exist", field="document_id")
    return document


def item_of_document(session: Session, document_id: int) -> TrainingItem:
    """The read-and-understand training item of a document."""
    item = session.scalar(select(TrainingItem).where(TrainingItem.document_id == document_id))
    if item is None:  # created with the document; absent only if data was tampered with
        raise NotFound(f"document {document_id} has no training item", field="document_id")
    return item


def get_version(session: Session, version_id: int, *, lock: bool = False) -> DocumentVersion:
    """Return document version ``version_id`` or raise :class:`NotFound`."""
    version = session.get(
        DocumentVersion, version_id, with_for_update={"of": DocumentVersion} if lock else None
    )
    if version is None:
        raise NotFound(f"document version {version_id} does not exist", field="version_id")
    return version


def _baseline(previous: list[TrainingItemVersion], seq: int, retrain: bool) -> int:
    if retrain or not previous:
        return seq
    return previous[-1].baseline_seq


def create_version(
    uow: UnitOfWork,
    document_id: int,
    *,
    label: str,
    revision: str,
    retrain: bool | None = None,
    impact_rationale: str | None = None,
    change_summary: str | None = None,
    activity_iris: list[str] | None = None,
    lms_url: str | None = None,
    min_trained_pct: float | None = None,
) -> DocumentVersion:
    """Draft a new version of a document with its training-impact decision.

    A major revision means retraining; a minor one does not unless ``retrain`` says so,
    in which case the rationale is required.
    """
    uow.actor.require(*AUTHORS, action="drafting a document version")
    session = uow.session
    document = get_document(session, document_id)
    if revision not in ("major", "minor"):
        raise ValidationFailed("revision is 'major' or 'minor'", field="revision")
    if revision == "major" and retrain is False:
        raise ValidationFailed(
            "a major revision always needs retraining", field="retrain", code="major_needs_retraining"
        )
    if revision == "minor" and retrain and not (impact_rationale or "").strip():
        raise ValidationFailed(
            "retraining on a minor revision needs an impact rationale", field="impact_rationale"
        )
    if any(v.status in ("draft", "in_review", "approved") for v in document.versions):
        raise InvalidTransition(
            f"{document.code} already has a version in progress: finish or withdraw it first",
            field="document_id",
            code="version_in_progress",
        )
    if any(v.label == label for v in document.versions):
        raise Conflict(
            f"{document.code} already has a version {label!r}", field="label", code="duplicate_label"
        )
    retrain = revision == "major" if retrain is None else retrain
    if not document.versions:
        retrain = True  # the first version always needs training
    item = item_of_document(session, document.id)
    seq = len(document.versions) + 1
    item_version = TrainingItemVersion(
        training_item_id=item.id,
        seq=seq,
        label=label,
        retrain=retrain,
        baseline_seq=_baseline(list(item.versions), seq, retrain),
        status="draft",
        activity_iris=list(activity_iris or []),
        lms_url=lms_url,
        min_trained_pct=min_trained_pct,
        author_user_id=uow.actor.user_id,
    )
    session.add(item_version)
    session.flush()
    version = DocumentVersion(
        document_id=document.id,
        seq=seq,
        label=label,
        revision=revision,
        retrain=retrain,
        impact_rationale=impact_rationale,
        change_summary=change_summary,
        status="draft",
        min_trained_pct=min_trained_pct,
        author_user_id=uow.actor.user_id,
        item_version_id=item_version.id,
    )
    session.add(version)
    session.flush()
    session.refresh(document)
    return version


def _transition(
    uow: UnitOfWork, version: DocumentVersion, expected: tuple[str, ...], new: str, action: str
) -> None:
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


def update_version(uow: UnitOfWork, version_id: int, **changes: Any) -> DocumentVersion:
    """Edit a draft version's content references and texts (drafts only)."""
    uow.actor.require(*AUTHORS, action="editing a document version")
    version = get_version(uow.session, version_id, lock=True)
    if version.status != "draft":
        raise InvalidTransition(
            f"only a draft can be edited; version {version.label} is {version.status}", field="status"
        )
    for key, value in changes.items():
        if key in ("activity_iris", "lms_url", "min_trained_pct"):
            setattr(version.item_version, key, list(value) if key == "activity_iris" else value)
            if key == "min_trained_pct":
                version.min_trained_pct = value
        elif key in ("change_summary", "impact_rationale"):
            setattr(version, key, value)
    uow.session.flush()
    return version


def attach_file(
    uow: UnitOfWork, version_id: int, *, content: bytes, file_name: str, media_type: str
) -> DocumentVersion:
    """Attach the controlled file of a draft version (stored once by its SHA-256)."""
    uow.actor.require(*AUTHORS, action="attaching a controlled file")
    session = uow.session
    version = get_version(session, version_id, lock=True)
    if version.status != "draft":
        raise InvalidTransition(
            f"the file of version {version.label} is controlled: it is {version.status}, not draft",
            field="status",
            code="file_locked",
        )
    if not content:
        raise ValidationFailed("the file is empty", field="file")
    digest = hashlib.sha256(content).hexdigest()
    stored = session.scalar(select(ControlledFile).where(ControlledFile.sha256 == digest))
    if stored is None:
        stored = ControlledFile(sha256=digest, size=len(content), media_type=media_type, content=content)
        session.add(stored)
        session.flush()
    version.file_id = stored.id
    version.file_name = file_name
    session.flush()
    return version


def may_read_file(session: Session, actor: Any, version: DocumentVersion) -> bool:
    """Quality roles read every controlled file; a learner only those they must read."""
    if actor.has_role(*READERS):
        return True
    if actor.person_id is None or version.status not in ("approved", "effective"):
        return False
    item = item_of_document(session, version.document_id)
    assigned = session.scalar(
        select(Assignment.id)
        .where(Assignment.person_id == actor.person_id, Assignment.training_item_id == item.id)
        .limit(1)
    )
    required = session.scalar(
        select(ComplianceState.id)
        .where(ComplianceState.person_id == actor.person_id, ComplianceState.training_item_id == item.id)
        .limit(1)
    )
    return bool(assigned or required)


def read_file(session: Session, actor: Any, version_id: int) -> tuple[DocumentVersion, ControlledFile]:
    """The controlled file of a version, for someone allowed to read it."""
    version = get_version(session, version_id)
    if version.file_id is None:
        raise NotFound(
            f"version {version.label} of {version.document.code} has no controlled file", field="file"
        )
    if not may_read_file(session, actor, version):
        raise Forbidden(
            "this controlled file is served only to quality staff and to those who must read it",
            code="not_a_reader",
        )
    stored = session.get(ControlledFile, version.file_id)
    assert stored is not None
    return version, stored


def submit_version(
    uow: UnitOfWork, version_id: int, *, effective_at: dt.datetime | None = None
) -> DocumentVersion:
    """Send a draft version to review (with its planned effective date, if known)."""
    uow.actor.require(*AUTHORS, action="submitting a document version for review")
    version = get_version(uow.session, version_id, lock=True)
    if version.status == "draft" and version.file_id is None:
        raise ValidationFailed(
            "a version goes to review with its controlled file attached", field="file", code="file_required"
        )
    if effective_at is not None:
        _check_future(effective_at, uow.clock.now())
    _transition(uow, version, ("draft",), "in_review", "submitting for review")
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
    version = get_version(uow.session, version_id, lock=True)
    if not (comment or "").strip():
        raise ValidationFailed("a rejection needs a comment", field="comment")
    _transition(uow, version, ("in_review",), "draft", "rejecting")
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


def _check_future(effective_at: dt.datetime, now: dt.datetime) -> None:
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
    item_id = item_version.training_item_id
    people = select(ComplianceState.person_id).where(ComplianceState.training_item_id == item_id).distinct()
    if not item_version.retrain:
        # No retraining: only people still holding an open assignment on an older version move on.
        people = people.where(
            ComplianceState.person_id.in_(
                select(Assignment.person_id).where(
                    Assignment.training_item_id == item_id,
                    Assignment.status.in_(OPEN_ASSIGNMENT_STATUSES),
                    Assignment.item_version_id != item_version.id,
                )
            )
        )
    created = compliance.assign_from_select(
        uow,
        people,
        item_version=item_version,
        due_at=effective_at,
        reason=reason,
        source_type=source_type,
        source_id=source_id,
        now=now,
    )
    compliance.supersede_set_based(uow, item_version, {person for _id, person in created}, now=now)
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
    version = get_version(session, version_id, lock=True)
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
    _check_future(effective_at, uow.clock.now())
    check_not_self_approval(
        uow, version.author_user_id, f"version {version.label} of {version.document.code}", policy
    )
    _transition(uow, version, ("in_review",), "approved", "approving")
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
    version = get_version(session, version_id, lock=True)
    if not (reason or "").strip():
        raise ValidationFailed("making a document obsolete needs a reason", field="reason")
    _transition(uow, version, ("effective",), "obsolete", "making obsolete")
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
    compliance.cancel_assignments(
        uow,
        pairs,
        reason=f"document obsolete: {reason}",
        now=now,
        reasons=(*compliance.MATRIX_REASONS, "manual"),
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
            people.update(compliance.people_in_scope(session, requirement, now))
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
    compliance.refresh_states(session, item_ids=[item_id], now=now)
    return version


# -- effective-date gating ---------------------------------------------------------------------------


def trained_percentage(session: Session, item_version_id: int) -> dict[str, Any]:
    """How many of the people assigned a version have completed it."""
    counts = dict(
        session.execute(
            select(Assignment.status, func.count())
            .where(
                Assignment.item_version_id == item_version_id,
                Assignment.status.in_(("open", "content_complete", "overdue", "completed")),
            )
            .group_by(Assignment.status)
        ).all()
    )
    total = sum(counts.values())
    done = counts.get("completed", 0)
    return {
        "affected": total,
        "trained": done,
        "trained_pct": round(100.0 * done / total, 2) if total else 100.0,
    }


def effective_gate(item_version: TrainingItemVersion, policy: QmsPolicy) -> float | None:
    """The minimum trained percentage the version needs to become effective, if any."""
    return (
        item_version.min_trained_pct if item_version.min_trained_pct is not None else policy.min_trained_pct
    )


def make_effective(
    uow: UnitOfWork, item_version: TrainingItemVersion, *, now: dt.datetime, policy: QmsPolicy
) -> bool:
    """Make an approved version effective if its date has come and its gate is met.

    Returns:
        Whether the version became effective (false when blocked by the gate).
    """
    session = uow.session
    if item_version.status != "approved":
        raise InvalidTransition(
            f"only an approved version becomes effective; {item_version.label} is {item_version.status}",
            field="status",
        )
    if item_version.effective_at is None or item_version.effective_at > now:
        raise InvalidTransition(
            f"version {item_version.label} is not due to become effective yet",
            field="effective_at",
            code="not_yet_effective",
        )
    figures = trained_percentage(session, item_version.id)
    gate = effective_gate(item_version, policy)
    if gate is not None and figures["trained_pct"] < gate:
        logger.warning(
            "version %s blocked: %.1f%% trained, %.1f%% needed", item_version.id, figures["trained_pct"], gate
        )
        return False
    previous = session.scalars(
        select(TrainingItemVersion).where(
            TrainingItemVersion.training_item_id == item_version.training_item_id,
            TrainingItemVersion.status == "effective",
        )
    ).all()
    document_versions = {
        dv.item_version_id: dv
        for dv in session.scalars(
            select(DocumentVersion).where(
                DocumentVersion.item_version_id.in_([item_version.id, *[p.id for p in previous]])
            )
        )
    }
    with uow.because(f"effective date reached; {figures['trained']} of {figures['affected']} trained"):
        for old in previous:
            old.status = "superseded"
            old.ended_at = now
            if old.id in document_versions:
                document_versions[old.id].status = "superseded"
        item_version.status = "effective"
        item_version.effective_since = now
        dv = document_versions.get(item_version.id)
        if dv is not None:
            dv.status = "effective"
    audit.record(
        uow,
        "training_item_version.effective",
        "qms_training_item_version",
        item_version.id,
        new={**figures, "gate_pct": gate},
    )
    _carry_over_open_assignments(uow, item_version, now=now)
    compliance.refresh_states(session, item_ids=[item_version.training_item_id], now=now)
    uow.publish(
        VersionBecameEffective(
            item_version_id=item_version.id,
            document_version_id=dv.id if dv is not None else None,
            trained_pct=figures["trained_pct"],
        )
    )
    return True


def _carry_over_open_assignments(
    uow: UnitOfWork, item_version: TrainingItemVersion, *, now: dt.datetime
) -> None:
    """Move open assignments still on older versions (CAPA, manual...) onto the version now in force.

    Each is superseded by the person's open assignment on the new version, created with the
    same reason, source and due date when they have none.
    """
    session = uow.session
    stale = list(
        session.scalars(
            select(Assignment).where(
                Assignment.training_item_id == item_version.training_item_id,
                Assignment.status.in_(OPEN_ASSIGNMENT_STATUSES),
                Assignment.item_version_id != item_version.id,
            )
        )
    )
    if not stale:
        return
    holding = dict(
        session.execute(
            select(Assignment.person_id, func.min(Assignment.id))
            .where(
                Assignment.item_version_id == item_version.id, Assignment.status.in_(OPEN_ASSIGNMENT_STATUSES)
            )
            .group_by(Assignment.person_id)
        ).all()
    )
    for old in stale:
        replacement = holding.get(old.person_id)
        if replacement is None:
            due = (
                old.due_at
                if old.due_at is not None and old.due_at > now
                else now + dt.timedelta(days=uow.policy(QmsPolicy).default_due_days)
            )
            replacement = compliance.create_assignments(
                uow,
                [
                    {
                        "person_id": old.person_id,
                        "training_item_id": old.training_item_id,
                        "item_version_id": item_version.id,
                        "due_at": due,
                    }
                ],
                reason=old.reason,
                source_type=old.source_type,
                source_id=old.source_id,
                now=now,
            )[0]
            holding[old.person_id] = replacement
        with uow.because(f"version {item_version.label} became effective"):
            old.status = "superseded"
            old.closed_at = now
            old.superseded_by_id = replacement


def effective_sweep(
    uow: UnitOfWork, *, now: dt.datetime | None = None, policy: QmsPolicy | None = None
) -> dict[str, list[int]]:
    """Make every approved version whose date has come effective, unless its gate blocks it."""
    now = now or uow.clock.now()
    policy = policy or uow.policy(QmsPolicy)
    due = uow.session.scalars(
        select(TrainingItemVersion)
        .where(TrainingItemVersion.status == "approved", TrainingItemVersion.effective_at <= now)
        .order_by(TrainingItemVersion.effective_at, TrainingItemVersion.id)
    ).all()
    outcome: dict[str, list[int]] = {"effective": [], "blocked": []}
    for version in due:
        key = "effective" if make_effective(uow, version, now=now, policy=policy) else "blocked"
        outcome[key].append(version.id)
    return outcome


# -- training items (courses, sessions, OJT) ---------------------------------------------------------


def create_training_item(
    uow: UnitOfWork,
    *,
    code: str,
    kind: str,
    title: str,
    requires_signature: bool = False,
    pass_score: float | None = None,
    requires_trainer: bool = False,
) -> TrainingItem:
    """Create a course, instructor-led session or OJT item (documents make their own)."""
    uow.actor.require(*AUTHORS, action="creating a training item")
    session = uow.session
    if kind not in ("course", "instructor_led", "ojt"):
        raise ValidationFailed(
            "kind is course, instructor_led or ojt (documents create their own read_and_understand item)",
            field="kind",
        )
    if pass_score is not None and not 0 <= pass_score <= 1:
        raise ValidationFailed("pass_score is a scaled score between 0 and 1", field="pass_score")
    if kind in ("instructor_led", "ojt"):
        requires_trainer = True
    if session.scalar(select(TrainingItem.id).where(TrainingItem.code == code)):
        raise Conflict(
            f"the training item code {code!r} is already used", field="code", code="duplicate_code"
        )
    item = TrainingItem(
        code=code,
        kind=kind,
        title=title,
        requires_signature=requires_signature,
        pass_score=pass_score,
        requires_trainer=requires_trainer,
    )
    session.add(item)
    session.flush()
    return item


def create_item_version(
    uow: UnitOfWork,
    item_id: int,
    *,
    label: str,
    retrain: bool = True,
    activity_iris: list[str] | None = None,
    lms_url: str | None = None,
) -> TrainingItemVersion:
    """Draft a version of a course, session or OJT item."""
    uow.actor.require(*AUTHORS, action="drafting a training item version")
    session = uow.session
    item = compliance.require_item(session, item_id)
    if item.kind == "read_and_understand":
        raise ValidationFailed(
            "a document's training versions follow its document versions",
            field="training_item_id",
            code="use_document_versions",
        )
    if any(v.status in ("draft", "in_review", "approved") for v in item.versions):
        raise InvalidTransition(
            f"{item.code} already has a version in progress",
            field="training_item_id",
            code="version_in_progress",
        )
    if any(v.label == label for v in item.versions):
        raise Conflict(f"{item.code} already has a version {label!r}", field="label", code="duplicate_label")
    seq = len(item.versions) + 1
    retrain = retrain or seq == 1
    version = TrainingItemVersion(
        training_item_id=item.id,
        seq=seq,
        label=label,
        retrain=retrain,
        baseline_seq=_baseline(list(item.versions), seq, retrain),
        status="draft",
        activity_iris=list(activity_iris or []),
        lms_url=lms_url,
        author_user_id=uow.actor.user_id,
    )
    session.add(version)
    session.flush()
    session.refresh(item)
    return version


def get_item_version(session: Session, version_id: int, *, lock: bool = False) -> TrainingItemVersion:
    """Return training item version ``version_id`` or raise :class:`NotFound`."""
    version = session.get(
        TrainingItemVersion, version_id, with_for_update={"of": TrainingItemVersion} if lock else None
    )
    if version is None:
        raise NotFound(f"training item version {version_id} does not exist", field="item_version_id")
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
    version = get_item_version(uow.session, version_id, lock=True)
    if version.item.kind == "read_and_understand":
        raise ValidationFailed(
            "approve the document version instead", field="item_version_id", code="use_document_versions"
        )
    if version.status != "draft":
        raise InvalidTransition(
            f"approving needs a draft version; {version.label} is {version.status}", field="status"
        )
    _check_future(effective_at, uow.clock.now())
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
