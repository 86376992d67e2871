"""The SCIM 2.0 endpoints (RFC 7644) behind ``qms.provisioning.views``' routes.

Every request authenticates a provisioning client's bearer token; each change runs in one unit of
work acting as that client (audited as ``scim:<client>``) and is committed once. Refusals answer
with the SCIM error message (``urn:ietf:params:scim:api:messages:2.0:Error``, ``scimType``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

import orjson
from flask import Response, request
from pydantic import ValidationError
from scim2_models import Context, SCIMException, SearchRequest

from bridge.core.errors import DomainError
from bridge.core.uow import UnitOfWork
from bridge.core.web import database, in_unit_of_work
from qms.provisioning import bulk as provisioning_bulk
from qms.provisioning import clients, groups, resources, services
from qms.provisioning.models import ProvisioningClient
from qms.provisioning.resources import GROUP, USER, ScimRefusal

logger = logging.getLogger(__name__)

PREFIX = "/scim/v2"


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status=status, mimetype=resources.SCIM_MEDIA_TYPE, headers=headers)


def _base() -> str:
    return request.host_url.rstrip("/") + PREFIX


def _client() -> ProvisioningClient:
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("bearer "):
        raise ScimRefusal("send 'Authorization: Bearer <provisioning token>'", status=401, scim_type=None)
    with database().read_sessions() as session:
        client = clients.authenticate(session, header[7:].strip())
        session.expunge(client)
    return client


def _payload() -> Any:
    try:
        return orjson.loads(request.get_data() or b"null")
    except orjson.JSONDecodeError as exc:
        raise ScimRefusal("the request body is not JSON", scim_type="invalidSyntax") from exc


def scim_view(func: Callable[..., Response]) -> Callable[..., Response]:
    """Authenticate the client, run the view in its unit of work, answer refusals the SCIM way."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        try:
            client = _client()
            readonly = request.method in ("GET", "HEAD")
            return in_unit_of_work(
                lambda uow: func(*args, uow=uow, client=client, **kwargs),
                readonly=readonly,
                actor=clients.actor_of(client),
            )
        except (DomainError, SCIMException, ValidationError) as exc:
            body, status = resources.error_body(exc)
            logger.info("SCIM %s %s refused: %s", request.method, request.path, body.get("detail"))
            headers = {"WWW-Authenticate": 'Bearer realm="scim"'} if status == 401 else None
            return _json(body, status, headers)

    return wrapper


def _resource_response(resource: Any, status: int = 200) -> Response:
    params = resources.response_parameters(
        type(resource), request.args.get("attributes"), request.args.get("excludedAttributes")
    )
    body = resources.dump(resource, params)
    return _json(body, status, {"ETag": resource.meta.version, "Location": resource.meta.location})


def _search(model: Any, search: Callable[..., dict[str, Any]], uow: UnitOfWork) -> Response:
    """GET with query parameters, or POST ``.search`` with a SearchRequest body (RFC 7644 §3.4.3)."""
    if request.method == "POST":
        body = resources.parse(SearchRequest, _payload(), Context.SEARCH_REQUEST)
        raw = body.model_dump(scim_ctx=Context.SEARCH_REQUEST)
        args = {
            "filter": raw.get("filter"),
            "startIndex": raw.get("startIndex"),
            "count": raw.get("count"),
            "attributes": ",".join(raw.get("attributes") or []),
            "excludedAttributes": ",".join(raw.get("excludedAttributes") or []),
        }
    else:
        args = request.args.to_dict()
    start, count = resources.paging(args.get("startIndex"), args.get("count"))
    params = resources.response_parameters(model, args.get("attributes"), args.get("excludedAttributes"))
    return _json(search(uow.session, _base(), args.get("filter"), start, count, params))


def _read_only() -> None:
    """Discovery endpoints are read-only (405 for any other method)."""
    if request.method != "GET":
        raise ScimRefusal(f"{request.method} is not allowed here", status=405, scim_type=None)


# -- discovery --------------------------------------------------------------------------------------
@scim_view
def service_provider_config(uow: UnitOfWork, client: ProvisioningClient) -> Response:
    """What this provider supports."""
    _read_only()
    return _json(resources.service_provider_config(_base(), request.host_url + "docs/onboarding"))


def _collection(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": len(items),
        "startIndex": 1,
        "itemsPerPage": len(items),
        "Resources": items,
    }


@scim_view
def resource_types(uow: UnitOfWork, client: ProvisioningClient) -> Response:
    """User and Group."""
    _read_only()
    return _json(_collection(resources.resource_types(_base())))


@scim_view
def resource_type(name: str, uow: UnitOfWork, client: ProvisioningClient) -> Response:
    """One resource type."""
    _read_only()
    found = [t for t in resources.resource_types(_base()) if t["id"] == name]
    if not found:
        raise ScimRefusal(f"no resource type {name}", status=404, scim_type=None)
    return _json(found[0])


@scim_view
def schemas(uow: UnitOfWork, client: ProvisioningClient) -> Response:
    """User, the enterprise extension, Group."""
    _read_only()
    return _json(_collection(resources.schemas(_base())))


@scim_view
def schema(schema_id: str, uow: UnitOfWork, client: ProvisioningClient) -> Response:
    """One schema."""
    _read_only()
    found = [s for s in resources.schemas(_base()) if s["id"] == schema_id]
    if not found:
        raise ScimRefusal(f"no schema {schema_id}", status=404, scim_type=None)
    return _json(found[0])


# -- users ------------------------------------------------------------------------------------------
@scim_view
def list_users(uow: UnitOfWork, client: ProvisioningClient) -> Response:
    """Filter (RFC 7644 §3.4.2.2), startIndex and count."""
    return _search(USER, services.search_users, uow)


@scim_view
def create_user(uow: UnitOfWork, client: ProvisioningClient) -> Response:
    """Provision (hire) a person."""
    row = services.create_user(uow, client, _payload())
    return _resource_response(services.to_resource(uow.session, row, _base()), 201)


@scim_view
def get_user(scim_id: str, uow: UnitOfWork, client: ProvisioningClient) -> Response:
    """One user (404 once deleted)."""
    return _resource_response(
        services.to_resource(uow.session, services.live_user(uow.session, scim_id), _base())
    )


@scim_view
def replace_user(scim_id: str, uow: UnitOfWork, client: ProvisioningClient) -> Response:
    """Replace a user: department → transfer, active → leave or return."""
    row = services.replace_user(uow, client, scim_id, _payload(), if_match=request.headers.get("If-Match"))
    return _resource_response(services.to_resource(uow.session, row, _base()))


@scim_view
def patch_user(scim_id: str, uow: UnitOfWork, client: ProvisioningClient) -> Response:
    """Add / replace / remove operations."""
    row = services.patch_user(uow, client, scim_id, _payload(), if_match=request.headers.get("If-Match"))
    return _resource_response(services.to_resource(uow.session, row, _base()))


@scim_view
def delete_user(scim_id: str, uow: UnitOfWork, client: ProvisioningClient) -> Response:
    """Terminate the employment (the person is never deleted)."""
    services.delete_user(uow, client, scim_id, if_match=request.headers.get("If-Match"))
    return Response(status=204)


# -- groups -----------------------------------------------------------------------------------------
@scim_view
def list_groups(uow: UnitOfWork, client: ProvisioningClient) -> Response:
    """Filter, startIndex and count."""
    return _search(GROUP, groups.search_groups, uow)


@scim_view
def create_group(uow: UnitOfWork, client: ProvisioningClient) -> Response:
    """A group for a job function, with members."""
    row = groups.create_group(uow, client, _payload())
    return _resource_response(groups.to_resource(uow.session, row, _base()), 201)


@scim_view
def get_group(scim_id: str, uow: UnitOfWork, client: ProvisioningClient) -> Response:
    """One group."""
    return _resource_response(
        groups.to_resource(uow.session, groups.live_group(uow.session, scim_id), _base())
    )


@scim_view
def replace_group(scim_id: str, uow: UnitOfWork, client: ProvisioningClient) -> Response:
    """Replace a group's name and members."""
    row = groups.replace_group(uow, scim_id, _payload(), if_match=request.headers.get("If-Match"))
    return _resource_response(groups.to_resource(uow.session, row, _base()))


@scim_view
def patch_group(scim_id: str, uow: UnitOfWork, client: ProvisioningClient) -> Response:
    """Members in and out (job function starts and ends)."""
    row = groups.patch_group(uow, scim_id, _payload(), if_match=request.headers.get("If-Match"))
    return _resource_response(groups.to_resource(uow.session, row, _base()))


@scim_view
def delete_group(scim_id: str, uow: UnitOfWork, client: ProvisioningClient) -> Response:
    """Members leave the job function; the job function stays."""
    groups.delete_group(uow, scim_id, if_match=request.headers.get("If-Match"))
    return Response(status=204)


@scim_view
def bulk(uow: UnitOfWork, client: ProvisioningClient) -> Response:
    """Many operations in one request and one transaction (RFC 7644 §3.7); ``bulkId`` references."""
    if (request.content_length or 0) > provisioning_bulk.MAX_PAYLOAD:
        raise ScimRefusal("the bulk request is too large", status=413, scim_type="tooLarge")
    return _json(provisioning_bulk.run_bulk(uow, client, _payload(), _base()))


@scim_view
def search_all(uow: UnitOfWork, client: ProvisioningClient) -> Response:
    """Searching several resource types at once is not implemented (501, RFC 7644 §3.4.3)."""
    raise ScimRefusal(
        "search several resource types at once is not implemented: use /Users/.search or /Groups/.search",
        status=501,
        scim_type=None,
    )


@scim_view
def unknown(anything: str, uow: UnitOfWork, client: ProvisioningClient) -> Response:
    """No such endpoint: a SCIM 404."""
    raise ScimRefusal(f"no SCIM endpoint /{anything}", status=404, scim_type=None)
