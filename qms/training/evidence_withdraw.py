"""Withdrawing evidence when its statement is voided.

Evidence rows are append-only: a withdrawal is a new row naming the row it withdraws. Evidence
that only moved an assignment to "content complete" is withdrawn and the assignment reopens
(unless other live evidence holds it there). Evidence a completion or a signature rests on is
never silently removed: the new row flags it for QA review (``review_required``, audited).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy import select

from bridge.core import audit
from bridge.core.uow import UnitOfWork
from qms.training.evidence_models import Evidence, EvidenceInbox
from qms.training.models import Assignment

logger = logging.getLogger(__name__)

VOIDED = "http://adlnet.gov/expapi/verbs/voided"


def withdraw(uow: UnitOfWork, voids: Sequence[tuple[str, str]]) -> list[Evidence]:
    """Withdraw the evidence of voided statements; ``voids`` are (voiding id, voided id) pairs."""
    session = uow.session
    now = uow.clock.now()
    targets = {target: voiding for voiding, target in voids}
    for held in session.scalars(select(EvidenceInbox).where(EvidenceInbox.statement_id.in_(sorted(targets)))):
        held.voided = True
    originals = list(
        session.scalars(
            select(Evidence).where(
                Evidence.statement_id.in_(sorted(targets)), Evidence.withdraws_id.is_(None)
            )
        )
    )
    already = set(
        session.scalars(
            select(Evidence.statement_id).where(Evidence.statement_id.in_(sorted(targets.values())))
        )
    )
    added = []
    for original in originals:
        voiding = targets[original.statement_id]
        if voiding in already:
            continue
        assignment = session.get(Assignment, original.assignment_id) if original.assignment_id else None
        decision, reason = "withdrawn", f"statement {original.statement_id} was voided by {voiding}"
        if original.completion_id is not None or (
            assignment is not None and assignment.status == "completed"
        ):
            decision = "review_required"
            reason += ": a completion or signature rests on this evidence, so it stays until QA reviews it"
        elif (
            assignment is not None
            and original.decision == "content_complete"
            and assignment.status == "content_complete"
        ):
            others = session.scalar(
                select(Evidence.id)
                .where(
                    Evidence.assignment_id == assignment.id,
                    Evidence.decision == "content_complete",
                    Evidence.id != original.id,
                    ~Evidence.id.in_(select(Evidence.withdraws_id).where(Evidence.withdraws_id.is_not(None))),
                )
                .limit(1)
            )
            if others is None:
                overdue = assignment.due_at is not None and assignment.due_at < now
                assignment.status = "overdue" if overdue else "open"
                reason += f"; assignment {assignment.id} is {assignment.status} again"
        row = Evidence(
            statement_id=voiding,
            person_id=original.person_id,
            training_item_id=original.training_item_id,
            item_version_id=original.item_version_id,
            assignment_id=original.assignment_id,
            completion_id=original.completion_id,
            withdraws_id=original.id,
            verb=VOIDED,
            activity_iri=original.activity_iri,
            decision=decision,
            reason=reason,
            source="statement",
            recorded_at=now,
        )
        session.add(row)
        session.flush()
        audit.record(uow, "create", "qms_evidence", row.id, new=audit.snapshot(row), reason=reason)
        if decision == "review_required":
            audit.record(
                uow,
                "evidence.review_required",
                "qms_evidence",
                original.id,
                new={"voided_by": voiding, "completion_id": original.completion_id},
                reason=reason,
            )
        added.append(row)
    return added
