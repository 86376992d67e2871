"""Effective dates: the trained percentage of a version's affected people, the gate, and the
transition of approved versions into force (the ``effective`` sweep).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bridge.core import audit
from bridge.core.errors import InvalidTransition
from bridge.core.uow import UnitOfWork
from qms.documents.models import DocumentVersion, TrainingItemVersion
from qms.events import VersionBecameEffective
from qms.notifications import webhooks
from qms.policy import QmsPolicy
from qms.training import assignments
from qms.training import state as compliance_state
from qms.training.models import MATRIX_REASONS, OPEN_ASSIGNMENT_STATUSES, Assignment, Completion

logger = logging.getLogger(__name__)


def trained_percentage(session: Session, item_version_id: int) -> dict[str, Any]:
    """How many of the people assigned a version have completed it."""
    counts = dict(
        session.execute(
            select(Assignment.status, func.count())
            .where(
                Assignment.item_version_id == item_version_id,
                Assignment.status.in_((*OPEN_ASSIGNMENT_STATUSES, "completed")),
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
    since = _effective_moment(session, item_version, gate, now=now)
    with uow.because(f"effective date reached; {figures['trained']} of {figures['affected']} trained"):
        for old in previous:
            old.status = "superseded"
            old.ended_at = since
            if old.id in document_versions:
                document_versions[old.id].status = "superseded"
        item_version.status = "effective"
        item_version.effective_since = since
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
    _close_already_met(uow, item_version, now=now)
    compliance_state.refresh_states(session, item_ids=[item_version.training_item_id], now=now)
    webhooks.version_effective(uow, item_version_id=item_version.id,
                               document_version_id=dv.id if dv is not None else None)
    uow.publish(
        VersionBecameEffective(
            item_version_id=item_version.id,
            document_version_id=dv.id if dv is not None else None,
            trained_pct=figures["trained_pct"],
        )
    )
    return True


def _effective_moment(
    session: Session, item_version: TrainingItemVersion, gate: float | None, *, now: dt.datetime
) -> dt.datetime:
    """When the version came into force: its approved effective date, not when the sweep ran.

    A gated version that had not reached its gate at the approved date came into force only
    when it did (now, when this sweep finds it met).
    """
    approved_moment = item_version.effective_at or now
    if gate is None:
        return approved_moment
    done, total = 0, 0
    for status, closed_at in session.execute(
        select(Assignment.status, Assignment.closed_at).where(
            Assignment.item_version_id == item_version.id,
            Assignment.status.in_((*OPEN_ASSIGNMENT_STATUSES, "completed")),
        )
    ):
        total += 1
        done += status == "completed" and closed_at is not None and closed_at <= approved_moment
    pct = 100.0 * done / total if total else 100.0
    return approved_moment if pct >= gate else now


def _close_already_met(uow: UnitOfWork, item_version: TrainingItemVersion, *, now: dt.datetime) -> None:
    """Close as met the open assignments on the version now in force of people already trained on it.

    A revision with no retraining (minor) is satisfied by a completion of the version it
    follows; no matrix assignment is left open (and later overdue) for a person counted as trained.
    """
    session = uow.session
    open_rows = list(
        session.scalars(
            select(Assignment).where(
                Assignment.item_version_id == item_version.id, Assignment.status.in_(OPEN_ASSIGNMENT_STATUSES)
            )
        )
    )
    if not open_rows:
        return
    met: dict[int, int] = {}
    for person_id, completion_id in session.execute(
        select(Completion.person_id, func.max(Completion.id))
        .join(TrainingItemVersion, TrainingItemVersion.id == Completion.item_version_id)
        .where(
            Completion.training_item_id == item_version.training_item_id,
            Completion.person_id.in_(sorted({a.person_id for a in open_rows})),
            TrainingItemVersion.seq >= item_version.baseline_seq,
        )
        .group_by(Completion.person_id)
    ):
        met[person_id] = completion_id
    with uow.because(f"version {item_version.label} needs no retraining: already trained"):
        for assignment in open_rows:
            # Periodic retraining, CAPA, deviation and manual assignments ask for training anew.
            renewable = assignment.reason in MATRIX_REASONS and assignment.reason != "periodic"
            if assignment.person_id in met and renewable:
                assignment.status = "completed"
                assignment.closed_at = now
                assignment.completion_id = met[assignment.person_id]


def _carry_over_open_assignments(
    uow: UnitOfWork, item_version: TrainingItemVersion, *, now: dt.datetime
) -> None:
    """Move open assignments still on older versions (CAPA, manual...) onto the version now in force.

    Each is superseded by the person's open assignment on the new version from the same
    source, created with the same reason, source and due date (kept, even when already past:
    overdue training stays overdue) when they have none.
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
    holding: dict[tuple[int, str | None, int | None], int] = {}
    for person_id, source_type, source_id, first in session.execute(
        select(Assignment.person_id, Assignment.source_type, Assignment.source_id, func.min(Assignment.id))
        .where(Assignment.item_version_id == item_version.id, Assignment.status.in_(OPEN_ASSIGNMENT_STATUSES))
        .group_by(Assignment.person_id, Assignment.source_type, Assignment.source_id)
    ):
        holding[(person_id, source_type, source_id)] = first
    any_open = {key[0]: value for key, value in holding.items()}
    for old in stale:
        key = (old.person_id, old.source_type, old.source_id)
        # A matrix obligation merges into the person's open one on the new version; a CAPA,
        # deviation or manual one keeps its own record, source and due date.
        replacement = holding.get(key) or (
            any_open.get(old.person_id) if old.reason in MATRIX_REASONS else None
        )
        if replacement is None:
            due = (
                old.due_at
                if old.due_at is not None
                else now + dt.timedelta(days=uow.policy(QmsPolicy).default_due_days)
            )
            replacement = assignments.create_assignments(
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
            holding[key] = replacement
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
