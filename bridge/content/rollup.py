"""A SCORM course's result, rolled up from its SCOs: the player is the LMS here, and deciding
when a course is done is the LMS's job.

A unit (SCO) is *done* once any of the learner's attempts on it, in their registration, reported
it complete without failing it; *passed* once an attempt reported it passed. The course is:

* **completed** when every unit is done (a course of three SCOs is not done after the first);
* **passed** as well when every unit that has a mastery score, or ever reported success, passed;
* **failed** at the commit that fails one of its units, while the course is not done (a unit may
  be retried; the course completes later all the same).

Completed and passed are stated once per registration (``satisfied_at``, as cmi5's
``satisfied``). A single-SCO course carries its SCO's score, so a pass mark set on the course
version still applies; a course of several SCOs has no one score.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.content import scorm_profile as profile
from bridge.content.models import ContentAttempt, ContentPackage

DONE, PASSED, FAILED, INCOMPLETE, NOT_ATTEMPTED = "done", "passed", "failed", "incomplete", "not attempted"


def unit_standing(session: Session, package: ContentPackage, registration_id: int | None) -> dict[str, str]:
    """Each unit's standing in a registration (unit identifier → passed / done / failed /
    incomplete / not attempted), from every attempt's last committed data (SCORM) or the
    cmi5-defined verbs it sent (cmi5: whether the AU's moveOn is met is :mod:`bridge.content.cmi5`'s).
    """
    scorm12, cmi5 = package.standard == "scorm12", package.standard == "cmi5"
    mastery = {u["identifier"]: u.get("mastery_score") for u in package.units}
    found: dict[str, list[dict[str, Any]]] = {u["identifier"]: [] for u in package.units}
    if registration_id is not None:
        rows = session.execute(
            select(ContentAttempt.unit_id, ContentAttempt.cmi, ContentAttempt.cmi5)
            .where(ContentAttempt.registration_id == registration_id)
            .order_by(ContentAttempt.id)
        )
        for unit_id, cmi, cmi5_state in rows:
            if unit_id not in found:
                continue
            if cmi5:  # the AU's cmi5-defined verbs, checked on arrival
                verbs = {v.rsplit("/", 1)[-1] for v in (cmi5_state or {}).get("verbs", [])}
                if verbs & {"initialized", "completed", "passed", "failed"}:
                    found[unit_id].append(
                        {
                            "completion": True if "completed" in verbs else None,
                            "success": True if "passed" in verbs else (False if "failed" in verbs else None),
                        }
                    )
            elif cmi:
                found[unit_id].append(profile.outcome(cmi, scorm12, mastery[unit_id]))
    standing = {}
    for unit_id, outcomes in found.items():
        if any(o["success"] is True for o in outcomes):
            standing[unit_id] = PASSED
        elif any(o["completion"] and o["success"] is not False for o in outcomes):
            standing[unit_id] = DONE
        elif outcomes and outcomes[-1]["success"] is False:
            standing[unit_id] = FAILED
        else:
            standing[unit_id] = INCOMPLETE if outcomes else NOT_ATTEMPTED
    return standing


def course_statements(
    session: Session,
    attempt: ContentAttempt,
    package: ContentPackage,
    builder: profile.StatementBuilder,
    *,
    sequence: int,
    first_index: int,
    stamp: str,
    now: dt.datetime,
    unit_failed_now: bool,
    unit_result: dict[str, Any],
) -> list[dict[str, Any]]:
    """The course statements the commit just applied to ``attempt`` calls for (often none)."""
    registration = attempt.registration
    statements: list[dict[str, Any]] = []

    def add(verb: str, result: dict[str, Any]) -> None:
        statements.append(
            builder.course_statement(verb, sequence, first_index + len(statements), stamp, result=result)
        )

    if registration.satisfied_at is not None:
        return statements  # done: a unit played again says nothing more about the course
    single = len(package.units) == 1
    if unit_failed_now:
        add("failed", {**(unit_result if single else {}), "success": False})
    session.flush()  # the commit's data is part of the standing
    standing = unit_standing(session, package, registration.id)
    if not all(s in (DONE, PASSED) for s in standing.values()):
        return statements
    score = {"score": unit_result["score"]} if single and unit_result.get("score") else {}
    add("completed", {**score, "completion": True})
    must_pass = [
        u["identifier"]
        for u in package.units
        if u.get("mastery_score") is not None or standing[u["identifier"]] == PASSED
    ]
    if must_pass and all(standing[u] == PASSED for u in must_pass):
        add("passed", {**score, "success": True, "completion": True})
    registration.satisfied_at = now
    return statements
