"""Controlled documents: drafting, versions, controlled files and who may read them; the
training items other packages look up (``get_training_item``, ``list_training_items``).
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.core.errors import Conflict, Forbidden, InvalidTransition, NotFound, ValidationFailed
from bridge.core.uow import UnitOfWork
from qms.documents import catalog
from qms.documents.models import ControlledFile, Document, DocumentVersion, TrainingItem, TrainingItemVersion
from qms.roles import AUTHORS, READERS
from qms.training.models import Assignment, ComplianceState


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
        baseline_seq=catalog.baseline_seq(list(item.versions), seq, retrain),
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


def get_training_item(session: Session, item_id: int) -> TrainingItem:
    """Return training item ``item_id`` (``current_version`` is its effective version)."""
    return catalog.require_item(session, item_id)


def list_training_items(
    session: Session, *, kinds: list[str] | tuple[str, ...] | None = None
) -> list[TrainingItem]:
    """Every training item, by code, optionally of some kinds only."""
    query = select(TrainingItem).order_by(TrainingItem.code)
    if kinds:
        query = query.where(TrainingItem.kind.in_(list(kinds)))
    return list(session.scalars(query))
