"""Rule: statements the LMS and its content send become training evidence, in their own
transaction.

The record store publishes ``StatementsStored`` once per POST/PUT with the fresh statement ids
(a statement stored again under the same id is not fresh). This handler reads them in the same
session, turns the ones that can be evidence into plain observations (the identities their actor
may hold, the IRIs their activity may be listed under) and hands them to :mod:`qms.training.evidence`.

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
Statements about a unit (SCO or AU) of a package played here are parts of a course: the player
states the course's result, which is the evidence (:mod:`bridge.content.iris`).
The handler does a constant number of queries per batch, whatever its size.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from bridge.content.iris import is_unit_iri
from bridge.core.people import IdentityLinked, Person, PersonIdentity
from bridge.core.uow import UnitOfWork
from lti.models import LtiPlatform
from qms.training import evidence, evidence_inbox
from qms.training.evidence_lookup import driver_rows
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


def actor_keys(actor: dict[str, Any]) -> list[list[str]]:
    """The identity key (kind, namespace, value) the agent names itself by (LTI keys are added
    by :func:`people_holding`, which knows the platforms).
    """
    if "mbox" in actor:
        return [["mbox", "", actor["mbox"].strip().lower()]]
    if "mbox_sha1sum" in actor:
        return [["mbox_sha1sum", "", actor["mbox_sha1sum"].lower()]]
    if "account" in actor:
        return [["xapi_account", actor["account"]["homePage"], actor["account"]["name"]]]
    return []  # openid: no person carries one


def observation_of(statement_id: str, statement: dict[str, Any]) -> dict[str, Any] | None:
    """The observation a stored statement makes for :mod:`qms.training.evidence`, or ``None``."""
    verb = statement["verb"]["id"]
    obj, actor = statement["object"], statement["actor"]
    if verb not in evidence.EVIDENCE_VERBS or obj.get("objectType", "Activity") != "Activity":
        return None
    if actor.get("objectType") == "Group":
        return None
    keys = actor_keys(actor)
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


# The people holding the statements' own identities and, for accounts whose home page is a
# registered platform's issuer (or the xAPI home page recorded on it), the LTI identity (issuer,
# account name): one query for the batch, on the driver.
_OWN = (
    "SELECT i.kind, i.namespace, i.value, i.person_id, p.active, '' AS issuer_home, '' AS xapi_home "
    "FROM person_identity i JOIN person p ON p.id = i.person_id "
    "WHERE i.kind {0} AND i.namespace {1} AND i.value {2}"
)
# The tables these read (checked at import, so a rename cannot silently break the rule).
assert (Person.__tablename__, PersonIdentity.__tablename__, LtiPlatform.__tablename__) == (
    "person",
    "person_identity",
    "lti_platform",
)
_LTI = (
    " UNION ALL SELECT i.kind, i.namespace, i.value, i.person_id, p.active, rtrim(lower(l.issuer), '/'), "
    "rtrim(lower(coalesce(l.xapi_homepage, '')), '/') "
    "FROM lti_platform l JOIN person_identity i "
    "ON i.kind = 'lti' AND i.namespace = l.issuer "
    "JOIN person p ON p.id = i.person_id "
    "WHERE l.active AND i.value {3} AND (rtrim(lower(l.issuer), '/') {4} "
    "OR rtrim(lower(coalesce(l.xapi_homepage, '')), '/') {5})"
)


def people_holding(
    uow: UnitOfWork, observations: list[dict[str, Any]]
) -> dict[tuple[str, str, str], tuple[int, bool]]:
    """Who holds each observation's identities (person id, active); adds the LTI keys found."""
    own = {tuple(k) for o in observations for k in o["actor_keys"]}
    accounts = [o for o in observations if o["actor_keys"][0][0] == "xapi_account"]
    lists: list[list[str]] = [
        sorted({k[0] for k in own}),
        sorted({k[1] for k in own}),
        sorted({k[2] for k in own}),
    ]
    sql = _OWN
    if accounts:
        homes = sorted({_home(o["actor_keys"][0][1]) for o in accounts})
        lists += [sorted({o["actor_keys"][0][2] for o in accounts}), homes, homes]
        sql += _LTI
    holders: dict[tuple[str, str, str], tuple[int, bool]] = {}
    lti: dict[tuple[str, str], list[tuple[str, set[str]]]] = {}
    for kind, namespace, value, person_id, active, issuer_home, xapi_home in driver_rows(
        uow.session, sql, *lists
    ):
        if kind == "lti" and (issuer_home or xapi_home):
            holders[(kind, namespace, value)] = (person_id, bool(active))
            lti.setdefault(("", value), []).append((namespace, {issuer_home, xapi_home} - {""}))
        elif (kind, namespace, value) in own:
            holders[(kind, namespace, value)] = (person_id, bool(active))
    for observation in accounts:
        _kind, home, name = observation["actor_keys"][0]
        for issuer, homes in lti.get(("", name), []):
            if _home(home) in homes and ["lti", issuer, name] not in observation["actor_keys"]:
                observation["actor_keys"].append(["lti", issuer, name])
    return holders


def record_evidence_of_statements(uow: UnitOfWork, event: StatementsStored) -> None:
    """Stored statements whose actor is a person and whose activity a training item version
    lists become evidence on that version, and move its assignment (content complete, or
    completed when the item needs no signature nor sign-off); the others wait in the inbox.
    A voiding statement withdraws the evidence of the statement it voids.
    """
    wanted = evidence.EVIDENCE_VERBS | {VOIDED}
    ids = event.statement_ids
    if event.verb_ids:  # most statements are no evidence: read back only the ones that may be
        ids = tuple(i for i, verb in zip(ids, event.verb_ids, strict=True) if verb in wanted)
    relevant = statements_by_id(uow.session, ids, verbs=wanted)
    if not relevant:
        return
    observations, voids = [], []
    base_url = uow.setting("base_url")
    for s in relevant:
        if s.statement["verb"]["id"] == VOIDED:
            voids.append((s.statement_id, s.statement["object"]["id"].lower()))
        elif is_unit_iri(base_url, s.statement["object"].get("id") or ""):
            continue  # a part of a course played here: the course's rolled-up result is the evidence
        elif not s.voided:  # voided on arrival: its voiding statement came first
            found = observation_of(s.statement_id, s.statement)
            if found is not None:
                observations.append(found)
    holders = people_holding(uow, observations) if observations else {}
    evidence.record_observations(uow, observations, voids, holders=holders)


def apply_statements_waiting_for_the_identity(uow: UnitOfWork, event: IdentityLinked) -> None:
    """Statements that waited in the inbox for an actor nobody was known by become evidence
    once an identity names that actor: a learner's first LTI launch (the LMS's statements name
    them by its home page and their LMS user id), an e-mail recorded on a person, a QA mapping.
    """
    rows = evidence_inbox.waiting_for_actor(uow.session, event.kind, event.namespace, event.value)
    if not rows:
        return
    # Copies: resolving adds the LTI keys an account stands for, which must not touch the rows.
    observations = [
        {**row.observation, "actor_keys": [list(k) for k in row.observation["actor_keys"]]} for row in rows
    ]
    holders = people_holding(uow, observations)
    applied = evidence_inbox.apply_waiting(uow, rows, observations=observations, holders=holders)
    logger.info(
        "identity %s|%s|%s of person %s: %d waiting statements, %d became evidence",
        event.kind,
        event.namespace,
        event.value,
        event.person_id,
        len(rows),
        len(applied),
    )
