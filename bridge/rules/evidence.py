"""Rule: statements the LMS and its content send become training evidence, in their own
transaction.

The record store publishes ``StatementsStored`` once per POST/PUT with the fresh statement ids
(a statement stored again under the same id is not fresh). This handler reads them in the same
session, turns the ones that can be evidence into plain observations (the identities their actor
may hold, the IRIs their activity may be listed under) and hands them to :mod:`qms.evidence`.

Identities: ``mbox`` and ``mbox_sha1sum`` map as they are; an ``account`` maps as an xAPI account
(home page + name) and, when its home page is a registered LTI platform's issuer or the xAPI home
page recorded on the platform, as the LTI identity (issuer, name): Moodle sends its ``wwwroot`` as
home page and its user id as name, which is also its LTI ``sub``.

Activities (Moodle's log store quirks, deliberately):

* a quiz attempt ``<wwwroot>/mod/quiz/attempt.php?attempt=N&cmid=M`` is evidence on the course
  module ``<wwwroot>/mod/quiz/view.php?id=M`` (Moodle sends the score on the attempt);
* a SCORM SCO ``<wwwroot>/mod/scorm/view.php?id=M#sco`` is evidence on the course module
  ``<wwwroot>/mod/scorm/view.php?id=M`` (the plugin puts the course-module id where the SCO id
  belongs, so the SCO cannot be told apart from its module anyway).

The exact IRI is tried first, so a version may still list an attempt or SCO IRI itself.
The handler does a constant number of queries per batch, whatever its size.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from bridge.core.uow import UnitOfWork
from lti.models import LtiPlatform
from qms import evidence
from xapi.read import statements_by_id
from xapi.statements import StatementsStored

logger = logging.getLogger(__name__)

VOIDED = "http://adlnet.gov/expapi/verbs/voided"
_QUIZ_ATTEMPT = re.compile(r"^(?P<base>.+)/mod/quiz/attempt\.php\?(?:[^#]*&)?cmid=(?P<cmid>\d+)(?:&[^#]*)?$")
_SCORM_SCO = re.compile(r"^(?P<module>.+/mod/scorm/view\.php\?id=\d+)#sco$")


def activity_iris(iri: str) -> list[str]:
    """The IRIs a statement's activity may be listed under, the exact one first."""
    candidates = [iri]
    attempt = _QUIZ_ATTEMPT.match(iri)
    if attempt:
        candidates.append(f"{attempt['base']}/mod/quiz/view.php?id={attempt['cmid']}")
    sco = _SCORM_SCO.match(iri)
    if sco:
        candidates.append(sco["module"])
    return candidates


def _home(url: str | None) -> str:
    return (url or "").strip().rstrip("/").lower()


def actor_keys(actor: dict[str, Any], platforms: dict[str, list[str]]) -> list[list[str]]:
    """The identity keys (kind, namespace, value) the agent may be known by, its own first."""
    if "mbox" in actor:
        return [["mbox", "", actor["mbox"].strip().lower()]]
    if "mbox_sha1sum" in actor:
        return [["mbox_sha1sum", "", actor["mbox_sha1sum"].lower()]]
    if "account" in actor:
        home, name = actor["account"]["homePage"], actor["account"]["name"]
        keys = [["xapi_account", home, name]]
        keys += [["lti", issuer, name] for issuer in platforms.get(_home(home), [])]
        return keys
    return []  # openid: no person carries one


def observation_of(
    statement_id: str, statement: dict[str, Any], platforms: dict[str, list[str]]
) -> dict[str, Any] | None:
    """The observation a stored statement makes for :mod:`qms.evidence`, or ``None``."""
    verb = statement["verb"]["id"]
    obj, actor = statement["object"], statement["actor"]
    if verb not in evidence.EVIDENCE_VERBS or obj.get("objectType", "Activity") != "Activity":
        return None
    if actor.get("objectType") == "Group":
        return None
    keys = actor_keys(actor, platforms)
    if not keys:
        return None
    result = statement.get("result") or {}
    candidates = activity_iris(obj["id"])
    return {
        "statement_id": statement_id,
        "verb": verb,
        "actor_keys": keys,
        "actor_key": "|".join(keys[0]),
        "actor_name": actor.get("name"),
        "activity_iris": candidates,
        "activity_iri": candidates[-1],
        "object_iri": obj["id"],
        "success": result.get("success"),
        "completion": result.get("completion"),
        "score": result.get("score"),
        "duration": result.get("duration"),
        "registration": (statement.get("context") or {}).get("registration"),
        "timestamp": statement.get("timestamp"),
    }


_PLATFORMS = f"SELECT issuer, xapi_homepage, active FROM {LtiPlatform.__tablename__}"  # noqa: S608 - a constant


def _platform_homes(uow: UnitOfWork) -> dict[str, list[str]]:
    homes: dict[str, list[str]] = {}
    # A handful of rows read once a batch: on the driver, SQLAlchemy's machinery costing more.
    cursor = uow.session.connection().connection.cursor()
    try:
        cursor.execute(_PLATFORMS)
        platforms = cursor.fetchall()
    finally:
        cursor.close()
    for issuer, home, active in platforms:
        if not active:
            continue
        for key in {_home(issuer), _home(home)} - {""}:
            if issuer not in homes.setdefault(key, []):
                homes[key].append(issuer)
    return homes


def record_evidence_of_statements(uow: UnitOfWork, event: StatementsStored) -> None:
    """Stored statements whose actor is a person and whose activity a training item version
    lists become evidence on that version, and move its assignment (content complete, or
    completed when the item needs no signature nor sign-off); the others wait in the inbox.
    A voiding statement withdraws the evidence of the statement it voids.
    """
    wanted = evidence.EVIDENCE_VERBS | {VOIDED}
    relevant = statements_by_id(uow.session, event.statement_ids, verbs=wanted)
    if not relevant:
        return
    platforms = _platform_homes(uow) if any("account" in s.statement["actor"] for s in relevant) else {}
    observations, voids = [], []
    for s in relevant:
        if s.statement["verb"]["id"] == VOIDED:
            voids.append((s.statement_id, s.statement["object"]["id"].lower()))
        elif not s.voided:  # voided on arrival: its voiding statement came first
            found = observation_of(s.statement_id, s.statement, platforms)
            if found is not None:
                observations.append(found)
    evidence.record_observations(uow, observations, voids)
