"""What CAPA does when a new version comes into force (called by ``bridge/rules``)."""

from __future__ import annotations

import logging

from sqlalchemy import select

from bridge.core.uow import UnitOfWork
from qms.documents.models import TrainingItemVersion
from qms.events import VersionBecameEffective
from qms.training import assignments
from qms.training import state as compliance_state
from qms.training.models import OPEN_ASSIGNMENT_STATUSES, Assignment

logger = logging.getLogger(__name__)


def carry_training_to_new_version(uow: UnitOfWork, event: VersionBecameEffective) -> None:
    """Move the open CAPA assignments on versions no longer in force to the new effective version.

    The superseded version can no longer be signed: without this, a CAPA whose trainees are
    outside the matrix (which the document's own approval reassigns) could never close.
    Each stale assignment is superseded by the person's open assignment on the new version,
    created here (reason ``capa``, same CAPA, same due date) when they hold none.
    """
    session = uow.session
    version = session.get(TrainingItemVersion, event.item_version_id)
    if version is None:
        return
    stale = list(
        session.scalars(
            select(Assignment)
            .join(TrainingItemVersion, TrainingItemVersion.id == Assignment.item_version_id)
            .where(
                Assignment.training_item_id == version.training_item_id,
                Assignment.item_version_id != version.id,
                Assignment.source_type == "capa",
                Assignment.status.in_(OPEN_ASSIGNMENT_STATUSES),
                TrainingItemVersion.status.in_(("superseded", "obsolete")),
            )
            .order_by(Assignment.id)
        )
    )
    if not stale:
        return
    holding = {
        a.person_id: a.id
        for a in session.scalars(
            select(Assignment).where(
                Assignment.item_version_id == version.id,
                Assignment.person_id.in_(sorted({a.person_id for a in stale})),
                Assignment.status.in_(OPEN_ASSIGNMENT_STATUSES),
            )
        )
    }
    now = uow.clock.now()
    for assignment in stale:
        successor = holding.get(assignment.person_id)
        if successor is None:
            (successor,) = assignments.create_assignments(
                uow,
                [
                    {
                        "person_id": assignment.person_id,
                        "training_item_id": assignment.training_item_id,
                        "item_version_id": version.id,
                        "due_at": assignment.due_at,
                    }
                ],
                reason="capa",
                source_type="capa",
                source_id=assignment.source_id,
                now=now,
            )
            holding[assignment.person_id] = successor
        with uow.because(f"version {version.label} became effective: CAPA training moves to it"):
            assignment.status = "superseded"
            assignment.closed_at = now
            assignment.superseded_by_id = successor
    compliance_state.refresh_states(
        session, person_ids=sorted(holding), item_ids=[version.training_item_id], now=now
    )
    logger.info("%d open CAPA assignment(s) moved to version %s", len(stale), version.label)
