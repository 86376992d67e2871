"""The training matrix: requirements (job function, department or equipment to a training item),
added, changed and retired; never deleted, so as-of questions still see them.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.core.errors import InvalidTransition, NotFound, ValidationFailed
from bridge.core.uow import UnitOfWork
from qms.documents import catalog
from qms.org import services as org
from qms.policy import QmsPolicy
from qms.roles import AUTHORS
from qms.training import compliance
from qms.training import scope as in_scope
from qms.training import state as compliance_state
from qms.training.models import SCOPE_KINDS, Requirement


def get_requirement(session: Session, requirement_id: int) -> Requirement:
    """Return requirement ``requirement_id`` or raise :class:`NotFound`."""
    requirement = session.get(Requirement, requirement_id)
    if requirement is None:
        raise NotFound(f"requirement {requirement_id} does not exist", field="requirement_id")
    return requirement


def active_requirements(session: Session, at: dt.datetime) -> list[Requirement]:
    """The requirements in force at ``at``."""
    return list(
        session.scalars(
            select(Requirement).where(in_scope.active_at(Requirement, at)).order_by(Requirement.id)
        )
    )


def check_interval(interval: int | None, grace: int, field_prefix: str = "") -> None:
    """Refuse a non-positive interval, a negative grace period, or a grace period without interval."""
    if interval is not None and interval <= 0:
        raise ValidationFailed(
            "the retraining interval is a positive number of days",
            field=f"{field_prefix}retrain_interval_days",
        )
    if grace < 0:
        raise ValidationFailed("the grace period is zero or more days", field=f"{field_prefix}grace_days")
    if grace and interval is None:
        raise ValidationFailed(
            "a grace period needs a retraining interval", field=f"{field_prefix}grace_days"
        )


def duplicate_of(session: Session, scope: str, scope_id: int, item_id: int) -> Requirement | None:
    """The requirement in force for the same scope and item, if any."""
    column = {
        "job_function": Requirement.job_function_id,
        "department": Requirement.department_id,
        "equipment": Requirement.equipment_id,
    }[scope]
    return session.scalar(
        select(Requirement).where(
            Requirement.scope == scope,
            column == scope_id,
            Requirement.training_item_id == item_id,
            Requirement.valid_to.is_(None),
        )
    )


def add_requirement(
    uow: UnitOfWork,
    *,
    scope: str,
    scope_id: int,
    training_item_id: int,
    retrain_interval_days: int | None = None,
    grace_days: int = 0,
    policy: QmsPolicy | None = None,
    sync: bool = True,
) -> tuple[Requirement, list[int]]:
    """Add a matrix cell; everyone in its scope who is not trained gets an assignment.

    Returns:
        The requirement and the ids of the assignments created.
    """
    uow.actor.require(*AUTHORS, action="changing the training matrix")
    session = uow.session
    if scope not in SCOPE_KINDS:
        raise ValidationFailed(f"scope is one of {', '.join(SCOPE_KINDS)}", field="scope")
    org.get_unit(session, scope, scope_id)
    catalog.require_item(session, training_item_id)
    check_interval(retrain_interval_days, grace_days)
    if duplicate_of(session, scope, scope_id, training_item_id) is not None:
        raise InvalidTransition(
            "this requirement is already in the matrix",
            field="training_item_id",
            code="duplicate_requirement",
        )
    requirement = Requirement(
        scope=scope,
        training_item_id=training_item_id,
        valid_from=uow.clock.now(),
        retrain_interval_days=retrain_interval_days,
        grace_days=grace_days,
        **{f"{scope}_id": scope_id},
    )
    with uow.because("training matrix changed"):
        session.add(requirement)
    created: list[int] = []
    if sync:
        people = in_scope.people_in_scope(session, requirement, uow.clock.now())
        created = compliance.sync_people(
            uow,
            people,
            reason="matrix",
            source_type="requirement",
            source_id=requirement.id,
            policy=policy,
            requirement_ids=[requirement.id],
        )
    return requirement, created


def retire_requirement(
    uow: UnitOfWork, requirement_id: int, *, reason: str, sync: bool = True
) -> Requirement:
    """Retire a matrix cell (kept for as-of questions); obligations only it caused end."""
    uow.actor.require(*AUTHORS, action="changing the training matrix")
    session = uow.session
    requirement = get_requirement(session, requirement_id)
    if requirement.valid_to is not None:
        raise InvalidTransition(
            f"requirement {requirement.id} is already retired", field="requirement_id", code="already_retired"
        )
    if not (reason or "").strip():
        raise ValidationFailed("retiring a requirement needs a reason", field="reason")
    now = uow.clock.now()
    people = in_scope.people_in_scope(session, requirement, now)
    with uow.because(reason):
        requirement.valid_to = now
    if sync:
        compliance.sync_people(
            uow,
            people,
            reason="matrix",
            source_type="requirement",
            source_id=requirement.id,
            now=now,
            requirement_ids=[requirement.id],
        )
    return requirement


def update_requirement(
    uow: UnitOfWork, requirement_id: int, *, retrain_interval_days: int | None, grace_days: int, reason: str
) -> Requirement:
    """Change a requirement's periodic retraining (audited); states are recomputed."""
    uow.actor.require(*AUTHORS, action="changing the training matrix")
    session = uow.session
    requirement = get_requirement(session, requirement_id)
    if requirement.valid_to is not None:
        raise InvalidTransition("a retired requirement cannot change", field="requirement_id")
    check_interval(retrain_interval_days, grace_days)
    with uow.because(reason or "training matrix changed"):
        requirement.retrain_interval_days = retrain_interval_days
        requirement.grace_days = grace_days
    compliance_state.refresh_states(session, item_ids=[requirement.training_item_id], now=uow.clock.now())
    return requirement
