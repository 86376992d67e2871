"""The cmi5 AU's side of a play: the fetch URL and the attempt's own xAPI endpoint
(``/play/<token>/xapi/``: statements, State documents, agent profile, about), where the AU's
auth token is the credential and the cmi5 rules are checked before the record store stores.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Response, request

from bridge.content import cmi5, security
from bridge.content.runtime import state_scope
from bridge.content.views import PLAYER, _json_body, _play, bp
from bridge.core.errors import NotFound, ValidationFailed
from bridge.core.uow import UnitOfWork
from bridge.core.web import transactional
from xapi import state_profiles as xstate
from xapi.statements import store_statements

logger = logging.getLogger(__name__)
XAPI_VERSION = "1.0.3"


def _xapi(response: Response) -> Response:
    response.headers["X-Experience-API-Version"] = XAPI_VERSION
    return security.no_store(response)


@bp.post("/play/<token>/fetch")
@transactional(actor=lambda: PLAYER)
def fetch(token: str, uow: UnitOfWork) -> Any:
    """The cmi5 fetch URL: the auth token of this launch, once."""
    security.check_same_origin()
    play = _play(uow, token)
    if play.package.standard != "cmi5":
        raise NotFound("this attempt is not a cmi5 launch")
    return _xapi(Response(json.dumps(cmi5.fetch_token(play)), mimetype="application/json"))


@bp.route("/play/<token>/xapi/statements", methods=["POST", "PUT"])
@transactional(actor=lambda: PLAYER)
def statements(token: str, uow: UnitOfWork) -> Any:
    """Statements of the AU: checked against the cmi5 rules, then stored (and made evidence)."""
    play = _play(uow, token)
    cmi5.check_auth(play, request.headers.get("Authorization"))
    body = _json_body()
    batch = body if isinstance(body, list) else [body]
    put_id = request.args.get("statementId") if request.method == "PUT" else None
    if request.method == "PUT":
        if not put_id or not isinstance(body, dict):
            raise ValidationFailed("PUT needs ?statementId= and one statement", field="statementId")
    cmi5.check_statements(uow, play, batch)
    ids = store_statements(uow, cmi5.player_principal(uow.settings.base_url), batch, v2=False, put_id=put_id)
    uow.session.flush()
    cmi5.record_satisfaction(uow, play)
    if request.method == "PUT":
        return _xapi(Response(status=204))
    return _xapi(Response(json.dumps(ids), mimetype="application/json"))


def _scope(play: Any) -> xstate.DocumentScope:
    if request.args.get("activityId") != play.unit["activity_iri"]:
        raise ValidationFailed("activityId must be the launched AU", field="activityId")
    agent = xstate.parse_agent(request.args.get("agent", ""))
    scope = state_scope(play)
    if agent != scope.agent_key:
        raise ValidationFailed("agent must be the launch's actor", field="agent")
    registration = request.args.get("registration")
    if registration is not None and registration.lower() != play.registration:
        raise ValidationFailed("registration must be the launch's", field="registration")
    return scope


@bp.route("/play/<token>/xapi/activities/state", methods=["GET", "PUT", "POST", "DELETE"])
@transactional(actor=lambda: PLAYER)
def state(token: str, uow: UnitOfWork) -> Any:
    """The AU's State documents (``LMS.LaunchData``, its own bookmarks) in the record store."""
    play = _play(uow, token)
    cmi5.check_auth(play, request.headers.get("Authorization"))
    scope = _scope(play)
    state_id = request.args.get("stateId")
    if request.method == "GET":
        if not state_id:
            ids, _latest = xstate.list_document_ids(uow.session, scope)
            return _xapi(Response(json.dumps(ids), mimetype="application/json"))
        found = xstate.get_document(uow.session, scope, state_id)
        if found is None:
            raise NotFound(f"no state document {state_id!r}")
        response = Response(found.content, mimetype=found.content_type)
        response.headers["ETag"] = f'"{found.etag}"'
        return _xapi(response)
    if not state_id:
        raise ValidationFailed("stateId is required", field="stateId")
    if state_id == cmi5.LAUNCH_DATA:
        raise ValidationFailed("LMS.LaunchData is written by the LMS only", field="stateId")
    if request.method == "DELETE":
        xstate.delete_document(uow, scope, state_id, preconditions=xstate.Preconditions())
        return _xapi(Response(status=204))
    content = request.get_data()
    write = xstate.put_document if request.method == "PUT" else xstate.post_document
    kwargs: dict[str, Any] = {"preconditions": xstate.Preconditions()}
    if request.method == "PUT":
        kwargs["policy"] = xstate.policy_for(xstate.STATE, xstate.V1)
    write(uow, scope, state_id, content, request.content_type, **kwargs)
    return _xapi(Response(status=204))


@bp.get("/play/<token>/xapi/agents/profile")
@transactional(readonly=True, actor=lambda: PLAYER)
def agent_profile(token: str, uow: UnitOfWork) -> Any:
    """No learner preferences are kept (``cmi5LearnerPreferences`` answers 404)."""
    play = _play(uow, token)
    cmi5.check_auth(play, request.headers.get("Authorization"))
    raise NotFound("no agent profile document")


@bp.get("/play/<token>/xapi/about")
def about(token: str) -> Any:
    """The xAPI versions this endpoint speaks."""
    return _xapi(Response(json.dumps({"version": [XAPI_VERSION]}), mimetype="application/json"))
