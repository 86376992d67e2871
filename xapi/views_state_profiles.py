"""The xAPI document resources: ``/xapi/activities/state``, ``/xapi/activities/profile`` and
``/xapi/agents/profile`` (xAPI 1.0.3 and 2.0.0, negotiated per request).

Parameters are checked before anything is read or written: an unknown parameter, a parameter
spelled in another case, a repeated one, a missing required one or a malformed value is a 400
naming it. Documents are stored and returned byte for byte with their Content-Type; every GET
carries a quoted ETag (SHA-1 of the content) and Last-Modified.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any

from flask import Response, request
from werkzeug.http import parse_etags

from bridge.core.errors import NotFound, ValidationFailed
from bridge.core.uow import UnitOfWork
from bridge.core.web import database, in_unit_of_work
from xapi import state_profiles as sp
from xapi.auth import Principal
from xapi.blueprint import bp, is_v2, principal, xapi_version

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Resource:
    """One document resource: its kind, scope, id parameter and the parameters of each method."""

    kind: str
    label: str
    scope: str  # the xAPI scope granting read and write
    id_param: str
    required: dict[str, frozenset[str]]
    optional: dict[str, frozenset[str]]


def _spec(required: dict[str, set[str]], optional: dict[str, set[str]]) -> tuple[dict, dict]:
    return ({m: frozenset(p) for m, p in required.items()}, {m: frozenset(p) for m, p in optional.items()})


_STATE_REQ, _STATE_OPT = _spec(
    {"GET": {"activityId", "agent"}, "PUT": {"activityId", "agent", "stateId"},
     "POST": {"activityId", "agent", "stateId"}, "DELETE": {"activityId", "agent"}},
    {"GET": {"registration", "stateId", "since"}, "PUT": {"registration"}, "POST": {"registration"},
     "DELETE": {"registration", "stateId"}},
)
_ACT_REQ, _ACT_OPT = _spec(
    {"GET": {"activityId"}, "PUT": {"activityId", "profileId"}, "POST": {"activityId", "profileId"},
     "DELETE": {"activityId", "profileId"}},
    {"GET": {"profileId", "since"}, "PUT": set(), "POST": set(), "DELETE": set()},
)
_AGENT_REQ, _AGENT_OPT = _spec(
    {"GET": {"agent"}, "PUT": {"agent", "profileId"}, "POST": {"agent", "profileId"},
     "DELETE": {"agent", "profileId"}},
    {"GET": {"profileId", "since"}, "PUT": set(), "POST": set(), "DELETE": set()},
)
STATE = Resource(sp.STATE, "State", "state", "stateId", _STATE_REQ, _STATE_OPT)
ACTIVITY_PROFILE = Resource(sp.ACTIVITY_PROFILE, "Activity Profile", "profile", "profileId",
                            _ACT_REQ, _ACT_OPT)
AGENT_PROFILE = Resource(sp.AGENT_PROFILE, "Agent Profile", "profile", "profileId", _AGENT_REQ, _AGENT_OPT)


def _parameters(resource: Resource, method: str) -> dict[str, str]:
    """The query parameters of this request, checked against the resource's list for ``method``."""
    required = resource.required[method]
    allowed = required | resource.optional[method]
    by_lower = {name.lower(): name for name in allowed}
    values: dict[str, str] = {}
    for name in request.args:
        if name not in allowed:
            if name.lower() in by_lower:
                raise ValidationFailed(f"parameter {name!r} must be spelled {by_lower[name.lower()]!r} "
                                       "(xAPI parameter names are case-sensitive)", field=name,
                                       code="unknown_parameter")
            raise ValidationFailed(f"parameter {name!r} is not accepted by {method} on the "
                                   f"{resource.label} Resource; accepted: {', '.join(sorted(allowed))}",
                                   field=name, code="unknown_parameter")
        given = request.args.getlist(name)
        if len(given) > 1:
            raise ValidationFailed(f"parameter {name!r} is given {len(given)} times; give it once",
                                   field=name, code="repeated_parameter")
        values[name] = given[0]
    missing = sorted(required - set(values))
    if missing:
        raise ValidationFailed(f"{method} on the {resource.label} Resource requires the parameter"
                               f"{'s' if len(missing) > 1 else ''} {', '.join(missing)}",
                               field=missing[0], code="missing_parameter")
    return values


def _scope(resource: Resource, values: dict[str, str]) -> sp.DocumentScope:
    activity_id = sp.parse_activity_id(values["activityId"]) if "activityId" in values else None
    agent_key = sp.parse_agent(values["agent"]) if "agent" in values else None
    registration = sp.parse_registration(values["registration"]) if "registration" in values else None
    return sp.DocumentScope(resource.kind, activity_id, agent_key, registration)


def _document_id(resource: Resource, values: dict[str, str]) -> str | None:
    if resource.id_param not in values:
        return None
    return sp.validate_document_id(values[resource.id_param], resource.id_param)


def _etags(header: str) -> tuple[str, ...] | None:
    raw = request.headers.get(header)
    if raw is None or not raw.strip():
        return None
    parsed = parse_etags(raw)
    if parsed.star_tag:
        return ("*",)
    # If-Match compares strongly (a weak tag never matches); If-None-Match compares weakly.
    return tuple(sorted(parsed.as_set(include_weak=header == "If-None-Match")))


def _preconditions() -> sp.Preconditions:
    return sp.Preconditions(if_match=_etags("If-Match"), if_none_match=_etags("If-None-Match"))


def _written(result: sp.WriteResult) -> Response:
    response = Response(status=204)
    response.headers["ETag"] = f'"{result.etag}"'
    response.last_modified = result.updated_at
    return response


def _handle(resource: Resource) -> Any:
    method = "GET" if request.method == "HEAD" else request.method
    caller = principal()
    if method == "GET":
        caller.require(resource.scope, "all/read", action=f"reading {resource.label} documents")
    else:
        caller.require(resource.scope, action=f"changing {resource.label} documents")
    values = _parameters(resource, method)
    scope = _scope(resource, values)
    document_id = _document_id(resource, values)
    if method == "GET":
        return _get(resource, values, scope, document_id)
    if method == "DELETE":
        return _delete(caller, scope, document_id)
    assert document_id is not None  # required for PUT and POST
    content = request.get_data(cache=True)
    content_type = request.headers.get("Content-Type")
    preconditions = _preconditions()

    def write(uow: UnitOfWork) -> sp.WriteResult:
        if method == "PUT":
            return sp.put_document(uow, scope, document_id, content, content_type,
                                     preconditions=preconditions,
                                     policy=sp.policy_for(resource.kind, xapi_version()))
        return sp.post_document(uow, scope, document_id, content, content_type,
                                  preconditions=preconditions)

    return _written(in_unit_of_work(write, actor=caller.actor()))


def _get(resource: Resource, values: dict[str, str], scope: sp.DocumentScope,
         document_id: str | None) -> Response:
    if document_id is not None and "since" in values and is_v2():
        raise ValidationFailed(f"since is not allowed with {resource.id_param}: a single document GET "
                               "takes no since", field="since", code="unknown_parameter")
    with database().read_sessions() as session:
        if document_id is None:
            since = sp.parse_since(values["since"]) if "since" in values else None
            ids, latest = sp.list_document_ids(session, scope, since)
            body = json.dumps(ids, ensure_ascii=False).encode("utf-8")
            response = Response(body, status=200, content_type="application/json")
            response.headers["ETag"] = f'"{hashlib.sha1(body, usedforsecurity=False).hexdigest()}"'
            if latest is not None:
                response.last_modified = latest
            response.headers["Cache-Control"] = "no-cache"
            return response
        found = sp.get_document(session, scope, document_id)
    if found is None:
        raise NotFound(f"no {resource.label} document {document_id!r} here", field=resource.id_param)
    if_none_match = _etags("If-None-Match")
    if if_none_match is not None and ("*" in if_none_match or found.etag in if_none_match):
        response = Response(status=304)
    else:
        response = Response(found.content, status=200, content_type=found.content_type)
    response.headers["ETag"] = f'"{found.etag}"'
    response.last_modified = found.updated_at
    response.headers["Cache-Control"] = "no-cache"
    return response


def _delete(caller: Principal, scope: sp.DocumentScope, document_id: str | None) -> Response:
    preconditions = _preconditions()
    if document_id is None and preconditions.given:
        # Only the State Resource accepts a DELETE without its id: every document of the context.
        raise ValidationFailed("If-Match / If-None-Match apply to one document: name it with "
                               "stateId, or drop the header to delete every document of the "
                               "context", field="If-Match", code="precondition_not_applicable")

    def delete(uow: UnitOfWork) -> None:
        if document_id is None:
            count = sp.delete_documents(uow, scope)
            logger.info("xapi %s deleted %d State documents", caller.name, count)
        else:
            sp.delete_document(uow, scope, document_id, preconditions=preconditions)

    in_unit_of_work(delete, actor=caller.actor())
    return Response(status=204)


@bp.route("/activities/state", methods=["GET", "PUT", "POST", "DELETE"])
def activity_state() -> Any:
    """State documents of an Activity, Agent and optional registration."""
    return _handle(STATE)


@bp.route("/activities/profile", methods=["GET", "PUT", "POST", "DELETE"])
def activity_profile() -> Any:
    """Activity Profile documents."""
    return _handle(ACTIVITY_PROFILE)


@bp.route("/agents/profile", methods=["GET", "PUT", "POST", "DELETE"])
def agent_profile() -> Any:
    """Agent Profile documents."""
    return _handle(AGENT_PROFILE)
