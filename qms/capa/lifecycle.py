"""The CAPA lifecycle after investigation: the plan is approved and the CAPA closed with an
e-signature by a QA approver. Closure is refused while any assignment of its training actions
is still open, and the refusal lists them.
"""

from __future__ import annotations

import logging

from bridge.core import signatures
from bridge.core.errors import InvalidTransition, ValidationFailed
from bridge.core.uow import UnitOfWork
from qms.capa import services as capas
from qms.capa.models import Capa
from qms.documents import approval
from qms.notifications import webhooks
from qms.policy import QmsPolicy
from qms.roles import APPROVERS, AUTHORS
from qms.training import state as compliance_state
from qms.training.models import OPEN_ASSIGNMENT_STATUSES, Assignment

logger = logging.getLogger(__name__)


def approve_plan(
    uow: UnitOfWork,
    capa_id: int,
    *,
    username: str,
    password: str,
    lockout_threshold: int,
    policy: QmsPolicy | None = None,
) -> Capa:
    """Investigation → actions in progress: a QA approver signs the root cause and the plan.

    Raises:
        InvalidTransition: Not under investigation, no root cause, or no action.
        Forbidden: The approver authored the CAPA (unless the site policy allows it).
    """
    uow.actor.require(*APPROVERS, action="approving a CAPA plan")
    policy = policy or uow.policy(QmsPolicy)
    session = uow.session
    capa = capas.get_capa(session, capa_id, lock=True)
    approval.check_not_self_approval(uow, capa.author_user_id, f"CAPA {capa.number}", policy)
    capas.transition(uow, capa, ("investigation",), "actions_in_progress", "approving the plan")
    if not capa.root_cause:
        raise InvalidTransition(
            f"{capa.number} has no root cause: record it before approving the plan",
            field="root_cause",
            code="root_cause_required",
        )
    if not capa.actions:
        raise InvalidTransition(
            f"{capa.number} has no action: a plan names at least one",
            field="actions",
            code="actions_required",
        )
    signature = signatures.sign(
        uow,
        username=username,
        password=password,
        meaning="approved",
        record_type="qms_capa",
        record_id=capa.id,
        content=capas.capa_content(capa),
        lockout_threshold=lockout_threshold,
    )
    capa.approved_at = signature.signed_at
    capa.approval_signature_id = signature.id
    session.flush()
    return capa


def start_effectiveness_check(uow: UnitOfWork, capa_id: int) -> Capa:
    """Actions in progress → effectiveness check, once every action is done.

    Corrective and preventive actions must be completed; training actions must have no open
    assignment (effectiveness cannot be judged on training not yet given).
    """
    uow.actor.require(*AUTHORS, action="starting a CAPA effectiveness check")
    session = uow.session
    capa = capas.get_capa(session, capa_id, lock=True)
    capas.transition(
        uow, capa, ("actions_in_progress",), "effectiveness_check", "starting the effectiveness check"
    )
    pending = [a for a in capa.actions if a.kind != "training" and a.status == "open"]
    if pending:
        raise InvalidTransition(
            f"{capa.number} has {len(pending)} open action(s): complete them before the effectiveness check",
            field="actions",
            code="actions_open",
            details={
                "open_actions": [
                    {"action_id": a.id, "seq": a.seq, "kind": a.kind, "description": a.description}
                    for a in pending
                ]
            },
        )
    blocking = capas.open_training(session, capa)
    if blocking:
        raise InvalidTransition(
            f"{capa.number}: {len(blocking)} training assignment(s) of its training actions are not "
            "completed: the effectiveness check starts once the training is done",
            field="training",
            code="capa_training_incomplete",
            details={"open_assignments": blocking},
        )
    session.flush()
    return capa


def close_capa(
    uow: UnitOfWork,
    capa_id: int,
    *,
    effectiveness_summary: str,
    username: str,
    password: str,
    lockout_threshold: int,
) -> Capa:
    """Effectiveness check → closed, signed by a QA approver.

    Refused while any assignment of its training actions is open: the refusal lists them.
    """
    uow.actor.require(*APPROVERS, action="closing a CAPA")
    session = uow.session
    capa = capas.get_capa(session, capa_id, lock=True)
    capas.transition(uow, capa, ("effectiveness_check",), "closed", "closing")
    if not effectiveness_summary.strip():
        raise ValidationFailed("state how effectiveness was verified", field="effectiveness_summary")
    blocking = capas.open_training(session, capa)
    if blocking:
        raise InvalidTransition(
            f"{capa.number} cannot close: {len(blocking)} training assignment(s) of its training actions "
            "are not completed",
            field="training",
            code="capa_training_incomplete",
            details={"open_assignments": blocking},
        )
    now = uow.clock.now()
    for action in capa.actions:
        if action.kind == "training" and action.status == "open":
            action.status = "done"
            action.completed_at = now
            action.completion_note = "every assignment of the action is completed"
    capa.effectiveness_summary = effectiveness_summary.strip()
    signature = signatures.sign(
        uow,
        username=username,
        password=password,
        meaning="closed",
        record_type="qms_capa",
        record_id=capa.id,
        content=capas.capa_content(capa),
        lockout_threshold=lockout_threshold,
    )
    capa.closed_at = signature.signed_at
    capa.closure_signature_id = signature.id
    session.flush()
    webhooks.capa_closed(uow, capa_id=capa.id, number=capa.number)
    logger.info("CAPA %s closed", capa.number)
    return capa


def cancel_capa(
    uow: UnitOfWork, capa_id: int, *, reason: str, username: str, password: str, lockout_threshold: int
) -> Capa:
    """Cancel a CAPA that is not closed (signed); the open assignments its actions created are cancelled."""
    uow.actor.require(*APPROVERS, action="cancelling a CAPA")
    session = uow.session
    capa = capas.get_capa(session, capa_id, lock=True)
    approval.check_not_self_approval(
        uow, capa.author_user_id, f"CAPA {capa.number}", uow.policy(QmsPolicy), action="cancel"
    )
    if not reason.strip():
        raise ValidationFailed("a cancellation needs a reason", field="reason")
    capas.transition(
        uow,
        capa,
        ("open", "investigation", "actions_in_progress", "effectiveness_check"),
        "cancelled",
        "cancelling",
    )
    signature = signatures.sign(
        uow,
        username=username,
        password=password,
        meaning="rejected",
        record_type="qms_capa",
        record_id=capa.id,
        content={**capas.capa_content(capa), "cancel_reason": reason},
        lockout_threshold=lockout_threshold,
        comment=reason,
    )
    now = signature.signed_at
    capa.cancelled_at = now
    capa.cancel_reason = reason.strip()
    touched: set[int] = set()
    with uow.because(f"CAPA {capa.number} cancelled: {reason.strip()}"):
        for action in capa.actions:
            if action.status == "open":
                action.status = "cancelled"
            for link in action.links:
                if not link.created_by_action:
                    continue
                assignment = session.get(Assignment, link.assignment_id)
                if assignment is not None and assignment.status in OPEN_ASSIGNMENT_STATUSES:
                    assignment.status = "cancelled"
                    assignment.closed_at = now
                    touched.add(assignment.person_id)
    if touched:
        compliance_state.refresh_states(session, person_ids=sorted(touched), now=now)
    session.flush()
    return capa
