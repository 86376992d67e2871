"""xAPI resources other than statements and documents: About, Activities, Agents."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from flask import Response, jsonify, request

from bridge.core import people
from bridge.core.errors import ValidationFailed
from bridge.core.web import database
from xapi import formats, models
from xapi import query as q
from xapi.blueprint import SUPPORTED_VERSIONS, V1, V1_PATTERN, bp, principal

logger = logging.getLogger(__name__)


@bp.get("/about")
def about() -> Any:
    """The versions this LRS speaks (no authentication needed)."""
    # A 1.0.x client is told of 1.0.x only: the 1.0.3 spec allows no other value here, and
    # 1.0.x clients (e.g. TinCanPython) refuse an About listing 2.0.0.
    sent = request.headers.get("X-Experience-API-Version", "")
    if V1_PATTERN.match(sent.strip()):
        return jsonify({"version": [V1], "extensions": {}})
    return jsonify({"version": list(SUPPORTED_VERSIONS), "extensions": {}})


def _only_params(*allowed: str) -> None:
    unknown = sorted(set(request.args) - set(allowed))
    if unknown:
        raise ValidationFailed(
            f"unknown query parameter {unknown[0]!r} (parameter names are case-sensitive)",
            field=unknown[0],
            code="invalid_parameter",
        )


@bp.get("/activities")
def get_activity() -> Any:
    """The Activity object of ``activityId`` with its canonical definition."""
    principal()
    _only_params("activityId")
    activity_id = request.args.get("activityId")
    if not activity_id:
        raise ValidationFailed(
            "GET /activities needs the activityId parameter", field="activityId", code="invalid_parameter"
        )
    try:
        models.check_iri(activity_id)
    except Exception as exc:
        raise ValidationFailed(
            "parameter activityId must be an IRI", field="activityId", code="invalid_parameter"
        ) from exc
    with database().read_sessions() as session:
        definition = formats.canonical_definitions(session, {activity_id}).get(activity_id)
    body: dict[str, Any] = {"objectType": "Activity", "id": activity_id}
    if definition:
        body["definition"] = definition
    return Response(orjson.dumps(body), mimetype="application/json")


@bp.get("/agents")
def get_agents() -> Any:
    """The Person object of ``agent``: every identity known for the same person."""
    principal()
    _only_params("agent")
    if "agent" not in request.args:
        raise ValidationFailed(
            "GET /agents needs the agent parameter", field="agent", code="invalid_parameter"
        )
    agent = q.parse_agent_param(request.args["agent"])
    if agent.get("objectType", "Agent") != "Agent":
        raise ValidationFailed("parameter agent must be an Agent", field="agent", code="invalid_parameter")
    with database().read_sessions() as session:
        person = person_object(session, agent)
    return Response(orjson.dumps(person), mimetype="application/json")


def person_object(session: Any, agent: dict[str, Any]) -> dict[str, Any]:
    """Build the xAPI Person object of ``agent``, joined with the person it names (if known)."""
    names: list[str] = []
    found: dict[str, list[Any]] = {"mbox": [], "mbox_sha1sum": [], "openid": [], "account": []}

    def add(kind: str, value: Any) -> None:
        if value not in found[kind]:
            found[kind].append(value)

    if agent.get("name"):
        names.append(agent["name"])
    for kind in ("mbox", "mbox_sha1sum", "openid", "account"):
        if kind in agent:
            add(kind, agent[kind])
    person = None
    if "mbox" in agent:
        person = people.find_person_by_identity(session, "mbox", "", agent["mbox"])
    elif "mbox_sha1sum" in agent:
        person = people.find_person_by_identity(session, "mbox_sha1sum", "", agent["mbox_sha1sum"])
    elif "account" in agent:
        person = people.find_person_by_identity(
            session, "xapi_account", agent["account"]["homePage"], agent["account"]["name"]
        )
    if person is not None:
        if person.display_name not in names:
            names.append(person.display_name)
        for identity in person.identities:
            if identity.kind == "mbox":
                add("mbox", identity.value)
            elif identity.kind == "mbox_sha1sum":
                add("mbox_sha1sum", identity.value)
            elif identity.kind == "xapi_account":
                add("account", {"homePage": identity.namespace, "name": identity.value})
    body: dict[str, Any] = {"objectType": "Person"}
    if names:
        body["name"] = names
    body.update({kind: values for kind, values in found.items() if values})
    return body
