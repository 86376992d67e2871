"""The runtime of a play: attempts (play links), SCORM commits → statements in the record store,
suspend data and location in its State resource.

A commit is idempotent: it carries the player's sequence number, and one at or below the last
applied changes nothing (a page-unload beacon repeating the final commit is harmless). The
statements of a commit are stored through the record store's own function in the request's unit
of work, so ``StatementsStored`` fires and the bridge records evidence in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.content import rollup
from bridge.content import scorm_profile as profile
from bridge.content.models import ContentAttempt, ContentPackage, ContentRegistration
from bridge.content.packages import ContentLimits
from bridge.core.errors import NotFound, Unauthorized, ValidationFailed
from bridge.core.people import Person, link_identity
from bridge.core.uow import UnitOfWork
from xapi import state_profiles as xstate
from xapi.auth import Principal
from xapi.statements import store_statements

logger = logging.getLogger(__name__)

RESUME_STATE_ID = "https://w3id.org/xapi/scorm/gxpbridge/resume"


def digest(token: str) -> str:
    """The stored hash of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def timestamp(now: dt.datetime) -> str:
    """An xAPI timestamp (UTC, milliseconds)."""
    return now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def player_principal(base_url: str) -> Principal:
    """The authority of the statements the player stores."""
    return Principal(
        credential_id=None,
        name="content-player",
        scopes=frozenset({"all"}),  # type: ignore[arg-type]
        authority={
            "objectType": "Agent",
            "name": "GxP Bridge content player",
            "account": {"homePage": base_url.rstrip("/"), "name": "content-player"},
        },
    )


def learner_actor(session: Session, person: Person, base_url: str) -> dict[str, Any]:
    """The learner as an xAPI Agent: an account on this site, linked to the person (so the bridge
    maps their statements to them).
    """
    identity = link_identity(session, person, "xapi_account", base_url.rstrip("/"), f"person-{person.id}")
    return {
        "objectType": "Agent",
        "name": person.display_name,
        "account": {"homePage": identity.namespace, "name": identity.value},
    }


@dataclass(frozen=True)
class Play:
    """What the player needs for one attempt."""

    attempt: ContentAttempt
    package: ContentPackage
    unit: dict[str, Any]
    actor: dict[str, Any]

    @property
    def registration(self) -> str:
        """The learner's registration on the package."""
        return self.attempt.registration.registration


def state_scope(play: Play) -> xstate.DocumentScope:
    """Where the unit's State documents of this learner and registration live."""
    return xstate.DocumentScope(
        kind=xstate.STATE,
        activity_id=play.unit["activity_iri"],
        agent_key=xstate.parse_agent(json.dumps(play.actor)),
        registration=play.registration,
    )


def start_attempt(
    uow: UnitOfWork, package: ContentPackage, person_id: int, unit_id: str | None = None
) -> tuple[str, ContentAttempt]:
    """Open an attempt of ``unit_id`` (the first unit by default); return its play token."""
    session = uow.session
    person = session.get(Person, person_id)
    if person is None or not person.active:
        raise Unauthorized("only an active person can play a course", code="person_inactive")
    unit = package.unit(unit_id)
    if unit is None:
        raise NotFound(f"the package has no unit {unit_id!r}", field="unit")
    registration = session.scalar(
        select(ContentRegistration).where(
            ContentRegistration.person_id == person_id, ContentRegistration.package_id == package.id
        )
    )
    if registration is None:
        registration = ContentRegistration(
            registration=str(uuid.uuid4()), person_id=person_id, package_id=package.id
        )
        session.add(registration)
        session.flush()
    token = secrets.token_urlsafe(32)
    now = uow.clock.now()
    attempt = ContentAttempt(
        token_hash=digest(token),
        registration=registration,
        unit_id=unit["identifier"],
        status="open",
        last_sequence=-1,
        cmi={},
        cmi5={},
        started_at=now,
        expires_at=now + dt.timedelta(hours=uow.policy(ContentLimits).attempt_hours),
    )
    session.add(attempt)
    session.flush()
    actor = learner_actor(session, person, uow.settings.base_url)
    attempt.resumed = resume_data(session, Play(attempt, package, unit, actor)).get("exit") == "suspend"
    return token, attempt


def play_of(session: Session, token: str, now: dt.datetime, base_url: str) -> Play:
    """The attempt a play token names, with its package, unit and learner.

    Raises:
        Unauthorized: Unknown or expired token.
    """
    attempt = session.scalar(select(ContentAttempt).where(ContentAttempt.token_hash == digest(token or "")))
    if attempt is None or attempt.expires_at <= now:
        raise Unauthorized(
            "this play link is unknown or has expired: open the course again", code="play_expired"
        )
    package = attempt.registration.package
    unit = package.unit(attempt.unit_id)
    person_id = attempt.registration.person_id
    name = session.scalar(select(Person.display_name).where(Person.id == person_id))
    assert unit is not None and name is not None
    actor = {
        "objectType": "Agent",
        "name": name,
        "account": {"homePage": base_url.rstrip("/"), "name": f"person-{person_id}"},
    }
    return Play(attempt, package, unit, actor)


def resume_data(session: Session, play: Play) -> dict[str, Any]:
    """The suspend data and location kept for the learner (empty on a first attempt)."""
    stored = xstate.get_document(session, state_scope(play), RESUME_STATE_ID)
    if stored is None:
        return {}
    try:
        found = json.loads(stored.content)
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _unwrap(cmi: Any) -> dict[str, Any]:
    while isinstance(cmi, dict) and isinstance(cmi.get("cmi"), dict) and len(cmi) <= 2:
        cmi = cmi["cmi"]
    if not isinstance(cmi, dict):
        raise ValidationFailed("cmi must be a JSON object", field="cmi")
    return cmi


def apply_commit(uow: UnitOfWork, play: Play, sequence: int, cmi: Any, *, terminate: bool) -> dict[str, Any]:
    """Apply one commit of SCORM runtime data; store its statements; keep the resume data."""
    attempt = play.attempt
    if attempt.status != "open" or sequence <= attempt.last_sequence:
        return {"result": True, "errorCode": 0, "applied": False}
    cmi = _unwrap(cmi)
    scorm12 = play.package.standard == "scorm12"
    mastery = play.unit.get("mastery_score")
    before = profile.outcome(attempt.cmi, scorm12, mastery) if attempt.cmi else None
    now_out = profile.outcome(cmi, scorm12, mastery)
    builder = profile.StatementBuilder(
        actor=play.actor,
        sco=play.unit,
        course_iri=play.package.course_iri,
        course_title=play.package.title,
        registration=play.registration,
        attempt_id=attempt.id,
    )
    stamp = timestamp(uow.clock.now())
    statements: list[dict[str, Any]] = []

    def add(verb: str, **kwargs: Any) -> None:
        statements.append(builder.statement(verb, sequence, len(statements), stamp, **kwargs))

    if attempt.last_sequence < 0:
        add("resumed" if attempt.resumed else "initialized")
    result = profile.result_of(now_out, final=False)
    changed = before is None or any(before[k] != now_out[k] for k in ("completion", "success", "score"))
    if changed:
        if now_out["completion"] and not (before and before["completion"]):
            add("completed", result=result)
        if now_out["success"] is True and not (before and before["success"] is True):
            add("passed", result=result)
        if now_out["success"] is False and not (before and before["success"] is False):
            add("failed", result=result)
        if now_out["score"] and (before is None or before["score"] != now_out["score"]):
            add("scored", result={"score": now_out["score"]})
    seen = len(profile.interactions(attempt.cmi)) if attempt.cmi else 0
    for interaction in profile.interactions(cmi)[seen:]:
        statements.append(
            profile.interaction_statement(builder, interaction, sequence, len(statements), stamp)
        )
    previous = _resume_of(attempt.cmi, scorm12) if attempt.cmi else None
    attempt.cmi, attempt.last_sequence = cmi, sequence
    if changed:  # the course's result follows its units' (a heartbeat changes neither)
        statements.extend(
            rollup.course_statements(
                uow.session,
                attempt,
                play.package,
                builder,
                sequence=sequence,
                first_index=len(statements),
                stamp=stamp,
                now=uow.clock.now(),
                unit_failed_now=now_out["success"] is False and not (before and before["success"] is False),
                unit_result=result,
            )
        )
    if terminate:
        if now_out["exit"] == "suspend":
            add("suspended")
        add("terminated", result=profile.result_of(now_out, final=True) or None)
        attempt.status, attempt.terminated_at = "terminated", uow.clock.now()
    if _resume_of(cmi, scorm12) != previous:  # a bare heartbeat changes nothing to resume from
        _keep_resume_data(uow, play, cmi, scorm12)
    if statements:
        store_statements(uow, player_principal(uow.settings.base_url), statements, v2=False)
    return {"result": True, "errorCode": 0, "applied": True, "statements": len(statements)}


def _resume_of(cmi: dict[str, Any], scorm12: bool) -> dict[str, str]:
    """What a learner resumes from: suspend data, location, and whether they suspended."""
    core = (cmi.get("core") or {}) if scorm12 else cmi
    location = core.get("lesson_location") if scorm12 else cmi.get("location")
    return {
        "suspend_data": str(cmi.get("suspend_data") or ""),
        "location": str(location or ""),
        "exit": str(core.get("exit") or ""),
    }


def _keep_resume_data(uow: UnitOfWork, play: Play, cmi: dict[str, Any], scorm12: bool) -> None:
    content = json.dumps(_resume_of(cmi, scorm12), separators=(",", ":")).encode()
    xstate.put_document(
        uow,
        state_scope(play),
        RESUME_STATE_ID,
        content,
        "application/json",
        preconditions=xstate.Preconditions(),
        policy=xstate.policy_for(xstate.STATE, xstate.V1),
    )
