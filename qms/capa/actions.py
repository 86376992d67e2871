"""CAPA actions. A training action names training items and people and/or job functions: the
assignments are created in the same transaction as the action, with ``reason="capa"`` and the
CAPA as their source.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.core.errors import InvalidTransition, NotFound, ValidationFailed
from bridge.core.people import Person, get_person
from bridge.core.uow import UnitOfWork
from qms.capa import services as capas
from qms.capa.models import ACTION_KINDS, PLANNING_STATUSES, Capa, CapaAction, CapaActionAssignment
from qms.documents import catalog
from qms.documents.models import TrainingItem
from qms.org.models import JobFunction, PersonJobFunction
from qms.roles import AUTHORS
from qms.training import assignments
from qms.training import scope as in_scope
from qms.training.models import OPEN_ASSIGNMENT_STATUSES, Assignment

logger = logging.getLogger(__name__)


def _job_function_members(session: Session, job_function_ids: list[int], at: dt.datetime) -> set[int]:
    for jf_id in job_function_ids:
        if session.get(JobFunction, jf_id) is None:
            raise NotFound(f"job function {jf_id} does not exist", field="job_function_ids")
    if not job_function_ids:
        return set()
    members = set(
        session.scalars(
            select(PersonJobFunction.person_id)
            .join(Person, Person.id == PersonJobFunction.person_id)
            .where(
                PersonJobFunction.job_function_id.in_(job_function_ids),
                in_scope.active_at(PersonJobFunction, at),
                Person.active.is_(True),
            )
        )
    )
    return in_scope.employed_people(session, sorted(members), at)


def add_action(
    uow: UnitOfWork,
    capa_id: int,
    *,
    kind: str,
    description: str,
    due_at: dt.datetime,
    owner_person_id: int | None = None,
    training_item_ids: list[int] | None = None,
    person_ids: list[int] | None = None,
    job_function_ids: list[int] | None = None,
) -> tuple[CapaAction, list[int]]:
    """Add an action; a training action creates its assignments in the same transaction.

    The people of a training action are those named plus the current, employed members of
    the named job functions. Each item is assigned on its latest approved or effective
    version; a person who already holds an open assignment on that version keeps it and the
    action relies on it.

    Returns:
        The action and the ids of the assignments it created.

    Raises:
        InvalidTransition: The CAPA is past planning (effectiveness check, closed, cancelled),
            or an item has no approved or effective version.
        ValidationFailed: A training action without items or without anybody, or a
            non-training action naming items or people.
    """
    uow.actor.require(*AUTHORS, action="adding a CAPA action")
    session = uow.session
    capa = capas.get_capa(session, capa_id, lock=True)
    if capa.status not in PLANNING_STATUSES:
        raise InvalidTransition(
            f"actions are added while the CAPA is {', '.join(PLANNING_STATUSES)}; "
            f"{capa.number} is {capa.status}",
            field="status",
        )
    if kind not in ACTION_KINDS:
        raise ValidationFailed(f"kind must be one of {', '.join(ACTION_KINDS)}", field="kind")
    if not description.strip():
        raise ValidationFailed("describe the action", field="description")
    capas.check_due(due_at, uow.clock.now())
    if owner_person_id is not None:
        capas.check_owner(session, owner_person_id, "owner_person_id")
    item_ids = list(training_item_ids or [])
    people = list(person_ids or [])
    functions = list(job_function_ids or [])
    now = uow.clock.now()
    if kind != "training":
        if item_ids or people or functions:
            raise ValidationFailed(
                "only a training action names training items, people or job functions",
                field="training_item_ids",
                code="not_a_training_action",
            )
    else:
        if not item_ids:
            raise ValidationFailed(
                "a training action names at least one training item", field="training_item_ids"
            )
        for name, values in (
            ("training_item_ids", item_ids),
            ("person_ids", people),
            ("job_function_ids", functions),
        ):
            if len(set(values)) != len(values):
                raise ValidationFailed("a value is listed twice", field=name)
        if not people and not functions:
            raise ValidationFailed(
                "a training action names people, job functions or both",
                field="person_ids",
                code="no_trainees",
            )
    seq = 1 + max((a.seq for a in capa.actions), default=0)
    action = CapaAction(
        capa_id=capa.id,
        seq=seq,
        kind=kind,
        description=description.strip(),
        owner_person_id=owner_person_id,
        due_at=due_at,
        status="open",
        training_item_ids=item_ids,
        person_ids=people,
        job_function_ids=functions,
    )
    session.add(action)
    session.flush()
    created: list[int] = []
    if kind == "training":
        created = _assign_training(uow, capa, action, item_ids, people, functions, due_at, now)
    session.expire(capa, ["actions"])
    logger.info("CAPA %s: %s action %d (%d assignments)", capa.number, kind, seq, len(created))
    return action, created


def _assign_training(
    uow: UnitOfWork,
    capa: Capa,
    action: CapaAction,
    item_ids: list[int],
    person_ids: list[int],
    job_function_ids: list[int],
    due_at: dt.datetime,
    now: dt.datetime,
) -> list[int]:
    session = uow.session
    for person_id in person_ids:
        try:
            get_person(session, person_id)
        except NotFound as exc:
            raise NotFound(exc.message, field="person_ids") from exc
    trainees = sorted(set(person_ids) | _job_function_members(session, job_function_ids, now))
    if not trainees:
        raise ValidationFailed(
            "the job functions named have no current members and no person is named",
            field="job_function_ids",
            code="no_trainees",
        )
    for item_id in item_ids:
        if session.get(TrainingItem, item_id) is None:
            raise NotFound(f"training item {item_id} does not exist", field="training_item_ids")
    targets = catalog.target_versions(session, item_ids)
    created: list[int] = []
    for item_id in item_ids:
        version = targets.get(item_id)
        if version is None:
            item = catalog.require_item(session, item_id)
            raise InvalidTransition(
                f"{item.code} has no approved or effective version to train on",
                field="training_item_ids",
                code="no_trainable_version",
            )
        # ``assign`` checks each person with ``session.get``: load them in bulk first and hold
        # them (the identity map keeps weak references) so that those checks hit it.
        held = [
            person
            for chunk in in_scope.chunks(trainees)
            for person in session.scalars(select(Person).where(Person.id.in_(chunk)))
        ]
        new_ids = assignments.assign(
            uow,
            person_ids=trainees,
            item_version_id=version.id,
            due_at=due_at,
            reason="capa",
            source_type="capa",
            source_id=capa.id,
        )
        del held
        created.extend(new_ids)
        relied_on = set(new_ids)
        for assignment_id in new_ids:
            session.add(
                CapaActionAssignment(action_id=action.id, assignment_id=assignment_id, created_by_action=True)
            )
        # People who already hold an open assignment on this version: the action relies on it.
        for assignment_id in session.scalars(
            select(Assignment.id).where(
                Assignment.item_version_id == version.id,
                Assignment.person_id.in_(trainees),
                Assignment.status.in_(OPEN_ASSIGNMENT_STATUSES),
            )
        ):
            if assignment_id not in relied_on:
                session.add(
                    CapaActionAssignment(
                        action_id=action.id, assignment_id=assignment_id, created_by_action=False
                    )
                )
    session.flush()
    session.expire(action, ["links"])
    return created


def complete_action(uow: UnitOfWork, capa_id: int, action_id: int, *, note: str) -> CapaAction:
    """Record a corrective or preventive action as done (a training action completes by its training)."""
    uow.actor.require(*AUTHORS, action="completing a CAPA action")
    session = uow.session
    capa = capas.get_capa(session, capa_id, lock=True)
    action = capas.get_action(session, capa, action_id)
    if capa.status != "actions_in_progress":
        raise InvalidTransition(
            f"actions are completed once the plan is approved (actions_in_progress); {capa.number} is "
            f"{capa.status}",
            field="status",
        )
    if action.kind == "training":
        raise InvalidTransition(
            "a training action completes when its assignments are completed",
            field="action_id",
            code="training_action_completes_itself",
        )
    if action.status != "open":
        raise InvalidTransition(
            f"action {action.seq} is {action.status}", field="action_id", code="action_not_open"
        )
    if not note.strip():
        raise ValidationFailed("say what was done", field="note")
    action.status = "done"
    action.completed_at = uow.clock.now()
    action.completion_note = note.strip()
    session.flush()
    return action
