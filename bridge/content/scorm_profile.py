"""SCORM runtime data → xAPI statements, following ADL's xAPI SCORM Profile
(https://w3id.org/xapi/scorm): initialized / resumed when an attempt's runtime first reports,
completed / passed / failed / scored as their values appear, responded for each interaction,
suspended when the learner leaves with ``exit = suspend``, and terminated carrying the
authoritative result (score, success, completion, duration).

Statements name the SCO as their object, the course as the parent, the attempt as grouping,
the profile as category, and the learner's registration. The course's own completed / passed /
failed, rolled up from its SCOs by :mod:`bridge.content.rollup`, name the course as their object:
the training item version lists the course, so those are the evidence.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

ADL = "http://adlnet.gov/expapi/verbs/"
VERBS = {
    name: ADL + name
    for name in (
        "initialized",
        "resumed",
        "suspended",
        "terminated",
        "completed",
        "passed",
        "failed",
        "scored",
        "responded",
    )
}
SCORM_PROFILE = "https://w3id.org/xapi/scorm"
SCO_TYPE = "https://w3id.org/xapi/scorm/activity-types/sco"
COURSE_TYPE = "http://adlnet.gov/expapi/activities/course"
ATTEMPT_TYPE = "http://adlnet.gov/expapi/activities/attempt"
INTERACTION_TYPE = "http://adlnet.gov/expapi/activities/cmi.interaction"
_NAMESPACE = uuid.UUID("6c1d8f3e-2f0a-4c52-9a7e-0b8f6b5c4d21")


def _get(cmi: dict[str, Any], *path: str) -> Any:
    node: Any = cmi
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def _number(value: Any) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def outcome(cmi: dict[str, Any], scorm12: bool, mastery: float | None) -> dict[str, Any]:
    """The result a SCO's CMI data states: completion, success, score, session duration, exit."""
    if scorm12:
        core = _get(cmi, "core") or {}
        status = str(core.get("lesson_status") or "")
        raw, low, high = (_number(_get(core, "score", k)) for k in ("raw", "min", "max"))
        score: dict[str, Any] = {}
        if raw is not None:
            low = 0.0 if low is None else low
            high = 100.0 if high is None else high
            score = {"raw": raw, "min": low, "max": high}
            if high > low:
                score["scaled"] = round(max(-1.0, min(1.0, (raw - low) / (high - low))), 4)
        success = {"passed": True, "failed": False}.get(status)
        if success is None and mastery is not None and "scaled" in score and status in ("completed", ""):
            success = score["scaled"] >= mastery
        completion = {"completed": True, "passed": True, "failed": True, "incomplete": False}.get(status)
        return {
            "completion": completion,
            "success": success,
            "score": score,
            "session_time": core.get("session_time"),
            "exit": core.get("exit") or "",
        }
    completion_status = str(cmi.get("completion_status") or "")
    success_status = str(cmi.get("success_status") or "")
    score = {}
    scaled = _number(_get(cmi, "score", "scaled"))
    raw, low, high = (_number(_get(cmi, "score", k)) for k in ("raw", "min", "max"))
    if scaled is not None:
        score["scaled"] = max(-1.0, min(1.0, scaled))
    if raw is not None:
        score["raw"] = raw
        if low is not None:
            score["min"] = low
        if high is not None:
            score["max"] = high
    return {
        "completion": {"completed": True, "incomplete": False}.get(completion_status),
        "success": {"passed": True, "failed": False}.get(success_status),
        "score": score,
        "session_time": cmi.get("session_time"),
        "exit": cmi.get("exit") or "",
    }


_SCORM12_TIME = re.compile(r"^(\d{1,4}):(\d{2}):(\d{2})(?:\.(\d{1,2}))?$")


def duration(value: Any) -> str | None:
    """An ISO 8601 duration from SCORM 1.2 ``HHHH:MM:SS.SS`` or a 2004 duration as it is."""
    if not value:
        return None
    text = str(value)
    found = _SCORM12_TIME.match(text)
    if found:
        hours, minutes, seconds, hundredths = found.groups()
        secs = f"{int(seconds)}.{hundredths}" if hundredths else str(int(seconds))
        return f"PT{int(hours)}H{int(minutes)}M{secs}S"
    return text if text.startswith("P") else None


class StatementBuilder:
    """Builds the statements of one attempt of one SCO."""

    def __init__(
        self,
        *,
        actor: dict[str, Any],
        sco: dict[str, Any],
        course_iri: str,
        course_title: str,
        registration: str,
        attempt_id: int,
        authority_name: str = "",
    ) -> None:
        """Everything the statements of the attempt share."""
        self.actor, self.sco, self.registration, self.attempt_id = actor, sco, registration, attempt_id
        self.course = {
            "id": course_iri,
            "objectType": "Activity",
            "definition": {"type": COURSE_TYPE, "name": {"en-US": course_title}},
        }
        self.attempt = {
            "id": f"{sco['activity_iri']}/attempts/{attempt_id}",
            "objectType": "Activity",
            "definition": {"type": ATTEMPT_TYPE},
        }

    def statement(
        self,
        verb: str,
        sequence: int,
        index: int,
        timestamp: str,
        *,
        result: dict[str, Any] | None = None,
        obj: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One statement (its id is derived from the attempt, commit and position: a commit
        replayed builds the same ids, which the record store takes as repeats).
        """
        statement: dict[str, Any] = {
            "id": str(uuid.uuid5(_NAMESPACE, f"{self.attempt_id}:{sequence}:{index}:{verb}")),
            "actor": self.actor,
            "verb": {"id": VERBS[verb], "display": {"en-US": verb}},
            "object": obj
            or {
                "id": self.sco["activity_iri"],
                "objectType": "Activity",
                "definition": {
                    "type": SCO_TYPE,
                    "name": {"en-US": self.sco.get("title") or self.sco["identifier"]},
                },
            },
            "context": {
                "registration": self.registration,
                "contextActivities": {
                    "parent": [self.course],
                    "grouping": [self.attempt],
                    "category": [{"id": SCORM_PROFILE, "objectType": "Activity"}],
                },
            },
            "timestamp": timestamp,
        }
        if obj is not None:  # an interaction: the SCO becomes a parent
            statement["context"]["contextActivities"]["parent"] = [
                {"id": self.sco["activity_iri"], "objectType": "Activity"},
                self.course,
            ]
        if result:
            statement["result"] = result
        return statement

    def course_statement(
        self, verb: str, sequence: int, index: int, timestamp: str, *, result: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """A statement about the whole course (its result rolled up from the units): the course is
        the object, there is no parent, and the attempt whose commit completed it is the grouping.
        """
        statement = self.statement(verb, sequence, index, timestamp, result=result)
        statement["object"] = self.course
        statement["context"]["contextActivities"].pop("parent")
        return statement


def result_of(found: dict[str, Any], *, final: bool) -> dict[str, Any]:
    """The xAPI result of an outcome (the authoritative one on ``terminated`` when ``final``)."""
    result: dict[str, Any] = {}
    if found["score"]:
        result["score"] = found["score"]
    if found["success"] is not None:
        result["success"] = found["success"]
    if found["completion"] is not None:
        result["completion"] = found["completion"]
    if final and duration(found["session_time"]):
        result["duration"] = duration(found["session_time"])
    return result


def interactions(cmi: dict[str, Any]) -> list[dict[str, Any]]:
    """The interactions of the CMI data (scorm-again sends them as ``childArray``)."""
    node = cmi.get("interactions") or _get(cmi, "interactions", "childArray") or []
    if isinstance(node, dict):
        node = node.get("childArray") or [v for k, v in sorted(node.items()) if k.isdigit()]
    return [i for i in node if isinstance(i, dict) and i.get("id")]


def interaction_statement(
    builder: StatementBuilder, interaction: dict[str, Any], sequence: int, index: int, timestamp: str
) -> dict[str, Any]:
    """A ``responded`` statement for one interaction."""
    iri = f"{builder.sco['activity_iri']}/interactions/{re.sub(r'[^A-Za-z0-9._~-]', '_', interaction['id'])}"
    definition: dict[str, Any] = {"type": INTERACTION_TYPE}
    kind = interaction.get("type")
    if kind in (
        "true-false",
        "choice",
        "fill-in",
        "long-fill-in",
        "matching",
        "performance",
        "sequencing",
        "likert",
        "numeric",
        "other",
    ):
        definition["interactionType"] = kind
    elif kind == "true_false":
        definition["interactionType"] = "true-false"
    elif kind == "fill_in":
        definition["interactionType"] = "fill-in"
    result: dict[str, Any] = {}
    response = interaction.get("learner_response") or interaction.get("student_response")
    if response not in (None, ""):
        result["response"] = str(response)
    verdict = str(interaction.get("result") or "")
    if verdict in ("correct", "incorrect", "wrong"):
        result["success"] = verdict == "correct"
    return builder.statement(
        "responded",
        sequence,
        index,
        timestamp,
        result=result or None,
        obj={"id": iri, "objectType": "Activity", "definition": definition},
    )
