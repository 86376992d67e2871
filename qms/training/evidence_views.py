"""``/api/v1`` routes of training evidence: the evidence of assignments, completions and people,
the inbox of statements waiting for their actor or activity, and mapping them.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import Field

from bridge.core.errors import Forbidden, NotFound
from bridge.core.uow import UnitOfWork
from bridge.core.web import current_actor, settings
from qms.api import api
from qms.roles import READERS
from qms.schemas import Reason, Strict
from qms.training import assignments, evidence_inbox
from qms.training.models import Completion

logger = logging.getLogger(__name__)

MAPPERS = ("qa_author", "supervisor")
ACTIVITY_MAPPERS = ("qa_author", "qa_approver")


class ActorMapping(Strict):
    """An identity statements name (as listed by the inbox) and the person it is."""

    kind: str = Field(
        pattern=r"^(xapi_account|mbox|mbox_sha1sum)$",
        description="xapi_account, mbox or mbox_sha1sum (as the inbox lists it)",
    )
    namespace: str = Field(default="", max_length=500, description="the account's home page")
    value: str = Field(min_length=1, max_length=500, description="account name, mailto: IRI or SHA-1 hash")
    person_id: int
    reason: str = Reason


class ActivityMapping(Strict):
    """An activity IRI to add to a training item version, e-signed (username and password)."""

    activity_iri: str = Field(min_length=3, max_length=1000)
    item_version_id: int
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=200)
    reason: str = Reason


def _self_or_reader(person_id: int) -> None:
    actor = current_actor()
    assert actor is not None
    if actor.person_id != person_id and not actor.has_role(*READERS):
        raise Forbidden("a learner sees only their own training record", code="not_own_record")


@api.route(
    "GET", "/assignments/{assignment_id}/evidence", summary="Evidence of an assignment", tags=["evidence"]
)
def assignment_evidence(assignment_id: int, uow: UnitOfWork) -> list[dict[str, Any]]:
    """Statement ids, verbs, results and the decision each led to, on every version of the item
    (``assigned_version`` says whether it names the assigned one).
    """
    assignment = assignments.get_assignment(uow.session, assignment_id)
    _self_or_reader(assignment.person_id)
    return evidence_inbox.for_assignment(uow.session, assignment)


@api.route(
    "GET",
    "/completions/{completion_id}/evidence",
    summary="Evidence a completion rests on",
    tags=["evidence"],
)
def completion_evidence(completion_id: int, uow: UnitOfWork) -> list[dict[str, Any]]:
    """The statements behind a completion (and the content-complete evidence of its assignment)."""
    completion = uow.session.get(Completion, completion_id)
    if completion is None:
        raise NotFound(f"completion {completion_id} does not exist", field="completion_id")
    _self_or_reader(completion.person_id)
    return evidence_inbox.for_completion(uow.session, completion)


@api.route("GET", "/people/{person_id}/evidence", summary="A person's training evidence", tags=["evidence"])
def person_evidence(person_id: int, uow: UnitOfWork) -> list[dict[str, Any]]:
    """Every piece of evidence of the person, newest first (the transcript's evidence)."""
    _self_or_reader(person_id)
    return evidence_inbox.for_person(uow.session, person_id)


@api.route(
    "GET",
    "/evidence/unmapped",
    summary="Actors and activities statements wait for",
    tags=["evidence"],
    roles=READERS,
)
def unmapped_evidence(uow: UnitOfWork) -> dict[str, Any]:
    """Unknown (or ambiguous) actors and activities of stored outcome statements, with counts."""
    return evidence_inbox.unmapped(uow.session)


@api.route(
    "GET",
    "/evidence/review",
    summary="Voided evidence a completion rests on",
    tags=["evidence"],
    roles=READERS,
)
def evidence_review(uow: UnitOfWork) -> list[dict[str, Any]]:
    """Evidence whose statement was voided after a completion or signature came to rest on it."""
    return evidence_inbox.review_queue(uow.session)


@api.route(
    "POST",
    "/evidence/unmapped/actors",
    summary="Map an actor to a person",
    tags=["evidence"],
    roles=MAPPERS,
    body=ActorMapping,
    status=201,
)
def map_actor(body: ActorMapping, uow: UnitOfWork) -> dict[str, Any]:
    """Links the identity to the person (audited) and applies the statements waiting for it, once."""
    return evidence_inbox.map_actor(
        uow,
        kind=body.kind,
        namespace=body.namespace,
        value=body.value,
        person_id=body.person_id,
        reason=body.reason,
    )


@api.route(
    "POST",
    "/evidence/unmapped/activities",
    summary="Map an activity to a training item version",
    tags=["evidence"],
    roles=ACTIVITY_MAPPERS,
    body=ActivityMapping,
    status=201,
)
def map_activity(body: ActivityMapping, uow: UnitOfWork) -> dict[str, Any]:
    """Adds the IRI to the version's activity IRIs (e-signed, audited) and applies the statements
    waiting for it, once.
    """
    return evidence_inbox.map_activity(
        uow,
        activity_iri=body.activity_iri,
        item_version_id=body.item_version_id,
        username=body.username,
        password=body.password,
        reason=body.reason,
        lockout_threshold=settings().lockout_threshold,
    )
