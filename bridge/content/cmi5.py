"""cmi5: the launch of an assignable unit, its short-lived auth token, and the cmi5 rules its
statements must keep before the record store takes them.

The AU is launched with the cmi5 parameters (``endpoint``, ``fetch``, ``actor``, ``registration``,
``activityId``). ``endpoint`` is this attempt's own xAPI endpoint (``/play/<token>/xapi/``), the
only place the auth token is accepted: the token is bound to the attempt, so it can only write
statements of that actor and registration. The fetch URL answers once (cmi5 §8.2.2).

Before launching, the LMS records ``launched`` and writes the ``LMS.LaunchData`` State document.
When a passed/completed AU satisfies its ``moveOn`` and every AU of the course is satisfied, the
LMS records the course's ``satisfied`` statement.
"""

from __future__ import annotations

import json
import logging
import secrets
import uuid
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import select

from bridge.content.models import ContentAttempt, ContentRegistration
from bridge.content.runtime import Play, digest, player_principal, state_scope, timestamp
from bridge.core.errors import Forbidden, Unauthorized
from bridge.core.uow import UnitOfWork
from xapi import state_profiles as xstate
from xapi.statements import store_statements

logger = logging.getLogger(__name__)

ADL = "http://adlnet.gov/expapi/verbs/"
ADL_W3ID = "https://w3id.org/xapi/adl/verbs/"
LAUNCHED, INITIALIZED, COMPLETED, PASSED, FAILED, TERMINATED = (
    ADL + v for v in ("launched", "initialized", "completed", "passed", "failed", "terminated")
)
ABANDONED, WAIVED, SATISFIED = (ADL_W3ID + v for v in ("abandoned", "waived", "satisfied"))
CMI5_DEFINED = frozenset({INITIALIZED, COMPLETED, PASSED, FAILED, TERMINATED})
CATEGORY = "https://w3id.org/xapi/cmi5/context/categories/cmi5"
MOVEON_CATEGORY = "https://w3id.org/xapi/cmi5/context/categories/moveon"
SESSION_ID = "https://w3id.org/xapi/cmi5/context/extensions/sessionid"
MASTERY = "https://w3id.org/xapi/cmi5/context/extensions/masteryscore"
LAUNCH_DATA = "LMS.LaunchData"
_NAMESPACE = uuid.UUID("2b0c7a9e-5c1f-4e0b-8c39-7d6a3f1e9b54")


def _context(play: Play, *, categories: tuple[str, ...] = (CATEGORY,)) -> dict[str, Any]:
    return {
        "registration": play.registration,
        "contextActivities": {"category": [{"id": c, "objectType": "Activity"} for c in categories]},
        "extensions": {SESSION_ID: play.attempt.cmi5["session_id"]},
    }


def _lms_statement(
    play: Play,
    verb: str,
    obj: dict[str, Any],
    index: str,
    now: str,
    categories: tuple[str, ...] = (CATEGORY,),
) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid5(_NAMESPACE, f"{play.attempt.id}:{index}")),
        "actor": play.actor,
        "verb": {"id": verb, "display": {"en-US": verb.rsplit("/", 1)[-1]}},
        "object": obj,
        "context": _context(play, categories=categories),
        "timestamp": now,
    }


def prepare_launch(uow: UnitOfWork, play: Play) -> None:
    """Record ``launched`` and write ``LMS.LaunchData`` for a new cmi5 attempt."""
    play.attempt.cmi5 = {"session_id": str(uuid.uuid4()), "verbs": []}
    unit = play.unit
    launch_data: dict[str, Any] = {
        "contextTemplate": {"extensions": {SESSION_ID: play.attempt.cmi5["session_id"]}},
        "launchMode": "Normal",
        "launchMethod": "AnyWindow",
        "moveOn": unit.get("move_on") or "NotApplicable",
    }
    if unit.get("mastery_score") is not None:
        launch_data["masteryScore"] = unit["mastery_score"]
    if unit.get("launch_parameters"):
        launch_data["launchParameters"] = unit["launch_parameters"]
    xstate.put_document(
        uow,
        state_scope(play),
        LAUNCH_DATA,
        json.dumps(launch_data).encode(),
        "application/json",
        preconditions=xstate.Preconditions(),
        policy=xstate.policy_for(xstate.STATE, xstate.V1),
    )
    au = {"id": unit["activity_iri"], "objectType": "Activity"}
    launched = _lms_statement(play, LAUNCHED, au, "launched", timestamp(uow.clock.now()))
    launched["context"]["extensions"]["https://w3id.org/xapi/cmi5/context/extensions/launchmode"] = "Normal"
    launched["context"]["extensions"]["https://w3id.org/xapi/cmi5/context/extensions/moveon"] = launch_data[
        "moveOn"
    ]
    store_statements(uow, player_principal(uow.settings.base_url), [launched], v2=False)


def launch_url(play: Play, origin: str, token: str) -> str:
    """The AU's URL with the cmi5 launch parameters."""
    base = f"{origin}/play/{token}"
    launch = play.unit["launch"]
    target = launch if launch.startswith(("http://", "https://")) else f"{base}/pkg/{launch}"
    query = urlencode(
        {
            "endpoint": f"{base}/xapi/",
            "fetch": f"{base}/fetch",
            "actor": json.dumps(play.actor, separators=(",", ":")),
            "registration": play.registration,
            "activityId": play.unit["activity_iri"],
        }
    )
    return target + ("&" if "?" in target else "?") + query


def fetch_token(play: Play) -> dict[str, str]:
    """The auth token, once per launch (cmi5 §8.2.2: a second request gets an error)."""
    if play.attempt.auth_token_hash is not None:
        return {"error-code": "1", "error-text": "the auth token of this launch was already fetched"}
    token = secrets.token_urlsafe(32)
    play.attempt.auth_token_hash = digest(token)
    return {"auth-token": token}


def check_auth(play: Play, header: str | None) -> None:
    """The request must carry this attempt's auth token (``Authorization: Basic <token>``)."""
    scheme, _, value = (header or "").partition(" ")
    if (
        scheme.lower() != "basic"
        or play.attempt.auth_token_hash is None
        or not secrets.compare_digest(digest(value.strip()), play.attempt.auth_token_hash)
    ):
        raise Unauthorized(
            "send the auth token from the fetch URL as 'Authorization: Basic <token>'", code="cmi5_token"
        )


def _same_agent(a: Any, b: dict[str, Any]) -> bool:
    return (
        isinstance(a, dict)
        and a.get("account") == b["account"]
        and not {"mbox", "mbox_sha1sum", "openid"} & set(a)
    )


def _verbs_of_registration(uow: UnitOfWork, play: Play) -> dict[str, set[str]]:
    """The cmi5 verbs each AU of the registration recorded, over all its sessions."""
    seen: dict[str, set[str]] = {}
    for unit_id, state in uow.session.execute(
        select(ContentAttempt.unit_id, ContentAttempt.cmi5).where(
            ContentAttempt.registration_id == play.attempt.registration_id
        )
    ):
        seen.setdefault(unit_id, set()).update((state or {}).get("verbs", []))
    return seen


def check_statements(uow: UnitOfWork, play: Play, statements: list[dict[str, Any]]) -> None:
    """Refuse (403) statements that break the cmi5 rules for this launch (nothing is stored)."""
    verbs = list(play.attempt.cmi5.get("verbs", []))
    registration_verbs = _verbs_of_registration(uow, play).get(play.attempt.unit_id, set())
    mastery = play.unit.get("mastery_score")
    for index, statement in enumerate(statements):
        where = f"statement {index}"
        if not isinstance(statement, dict):
            raise Forbidden(f"{where} is not a JSON object", code="cmi5_rule")
        verb = (statement.get("verb") or {}).get("id")
        context = statement.get("context") or {}
        if not _same_agent(statement.get("actor"), play.actor):
            raise Forbidden(f"{where}: the actor must be the launch's actor", code="cmi5_actor")
        if context.get("registration") != play.registration:
            raise Forbidden(
                f"{where}: context.registration must be the launch's registration", code="cmi5_registration"
            )
        if TERMINATED in verbs:
            raise Forbidden(
                f"{where}: the session was terminated; no statement may follow", code="cmi5_order"
            )
        if verb not in CMI5_DEFINED:
            continue
        categories = {
            c.get("id")
            for c in (context.get("contextActivities") or {}).get("category", [])
            if isinstance(c, dict)
        }
        if CATEGORY not in categories:
            raise Forbidden(
                f"{where}: a cmi5 defined statement carries the cmi5 category", code="cmi5_category"
            )
        if (statement.get("object") or {}).get("id") != play.unit["activity_iri"]:
            raise Forbidden(f"{where}: the object must be the launched AU", code="cmi5_object")
        if (context.get("extensions") or {}).get(SESSION_ID) != play.attempt.cmi5["session_id"]:
            raise Forbidden(f"{where}: the session id extension must be the launch's", code="cmi5_session")
        if verb == INITIALIZED and INITIALIZED in verbs:
            raise Forbidden(f"{where}: initialized once per session", code="cmi5_order")
        if verb != INITIALIZED and INITIALIZED not in verbs:
            raise Forbidden(f"{where}: initialized must come first", code="cmi5_order")
        result = statement.get("result") or {}
        scaled = (result.get("score") or {}).get("scaled")
        if verb == COMPLETED:
            if COMPLETED in registration_verbs | set(verbs):
                raise Forbidden(f"{where}: completed once per registration", code="cmi5_order")
            if result.get("completion") is not True:
                raise Forbidden(f"{where}: completed needs result.completion true", code="cmi5_result")
        if verb in (PASSED, FAILED):
            if PASSED in registration_verbs | set(verbs):
                raise Forbidden(f"{where}: the AU was already passed in this registration", code="cmi5_order")
            if result.get("success") is not (verb == PASSED):
                raise Forbidden(
                    f"{where}: {verb.rsplit('/', 1)[-1]} needs result.success {str(verb == PASSED).lower()}",
                    code="cmi5_result",
                )
            if mastery is not None:
                if scaled is None:
                    raise Forbidden(
                        f"{where}: the AU has a mastery score: send result.score.scaled", code="cmi5_result"
                    )
                if (verb == PASSED) != (scaled >= mastery):
                    raise Forbidden(
                        f"{where}: scaled score {scaled} against mastery score {mastery} is not "
                        f"{verb.rsplit('/', 1)[-1]}",
                        code="cmi5_result",
                    )
        verbs.append(verb)
    play.attempt.cmi5 = {**play.attempt.cmi5, "verbs": verbs}
    if TERMINATED in verbs:
        play.attempt.status, play.attempt.terminated_at = "terminated", uow.clock.now()


def _satisfies(move_on: str, verbs: set[str]) -> bool:
    completed, passed = COMPLETED in verbs, PASSED in verbs
    return {
        "Passed": passed,
        "Completed": completed,
        "CompletedAndPassed": completed and passed,
        "CompletedOrPassed": completed or passed,
        "NotApplicable": True,
    }.get(move_on, False)


def record_satisfaction(uow: UnitOfWork, play: Play) -> bool:
    """Record the course's ``satisfied`` once every AU meets its moveOn (True when recorded now)."""
    registration = uow.session.get(ContentRegistration, play.attempt.registration_id)
    assert registration is not None
    if registration.satisfied_at is not None:
        return False
    seen = _verbs_of_registration(uow, play)
    if not all(
        _satisfies(u.get("move_on") or "NotApplicable", seen.get(u["identifier"], set()))
        for u in play.package.units
    ):
        return False
    course = {
        "id": play.package.course_iri,
        "objectType": "Activity",
        "definition": {"type": "https://w3id.org/xapi/cmi5/activitytype/course"},
    }
    satisfied = _lms_statement(
        play,
        SATISFIED,
        course,
        "satisfied",
        timestamp(uow.clock.now()),
        categories=(CATEGORY, MOVEON_CATEGORY),
    )
    store_statements(uow, player_principal(uow.settings.base_url), [satisfied], v2=False)
    registration.satisfied_at = uow.clock.now()
    return True
