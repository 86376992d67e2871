"""Training items and their versions: looked up, created and drafted (courses, sessions, OJT);
the version each item's learners train on.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.core.errors import Conflict, InvalidTransition, NotFound, ValidationFailed
from bridge.core.uow import UnitOfWork
from qms.documents.models import TrainingItem, TrainingItemVersion
from qms.roles import AUTHORS
from qms.training import scope as in_scope


def require_item(session: Session, item_id: int) -> TrainingItem:
    """Return training item ``item_id`` or raise :class:`NotFound`."""
    item = session.get(TrainingItem, item_id)
    if item is None:
        raise NotFound(f"training item {item_id} does not exist", field="training_item_id")
    return item


def baseline_seq(previous: list[TrainingItemVersion], seq: int, retrain: bool) -> int:
    """The ``baseline_seq`` of a new version ``seq`` after ``previous`` (a retraining one starts anew)."""
    if retrain or not previous:
        return seq
    return previous[-1].baseline_seq


def effective_version(session: Session, item_id: int) -> TrainingItemVersion | None:
    """The version of an item in force now."""
    return session.scalar(
        select(TrainingItemVersion).where(
            TrainingItemVersion.training_item_id == item_id, TrainingItemVersion.status == "effective"
        )
    )


def target_versions(session: Session, item_ids: Iterable[int]) -> dict[int, TrainingItemVersion]:
    """The version each item's learners should train on: the latest approved or effective."""
    ids = sorted(set(item_ids))
    found: dict[int, TrainingItemVersion] = {}
    for chunk in in_scope.chunks(ids):
        for version in session.scalars(
            select(TrainingItemVersion)
            .where(
                TrainingItemVersion.training_item_id.in_(chunk),
                TrainingItemVersion.status.in_(("approved", "effective")),
            )
            .order_by(TrainingItemVersion.seq)
        ):
            found[version.training_item_id] = version  # highest seq wins
    return found


def get_item_version(session: Session, version_id: int, *, lock: bool = False) -> TrainingItemVersion:
    """Return training item version ``version_id`` or raise :class:`NotFound`."""
    version = session.get(
        TrainingItemVersion, version_id, with_for_update={"of": TrainingItemVersion} if lock else None
    )
    if version is None:
        raise NotFound(f"training item version {version_id} does not exist", field="item_version_id")
    return version


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
    item = require_item(session, item_id)
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
        baseline_seq=baseline_seq(list(item.versions), seq, retrain),
        status="draft",
        activity_iris=list(activity_iris or []),
        lms_url=lms_url,
        author_user_id=uow.actor.user_id,
    )
    session.add(version)
    session.flush()
    session.refresh(item)
    return version
