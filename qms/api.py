"""The route registry of ``/api/v1``: each endpoint is declared once with its pydantic
request models, roles and responses; Flask routes and ``/api/v1/openapi.json`` are both
generated from the declarations, so the description cannot drift from the code.

Each feature adds its endpoints with ``@api.route(...)`` in its views modules
(``qms/documents/views.py``, ``qms/capa/views.py``...); ``qms/__init__.py`` imports them all
before ``init_app`` registers the blueprint.
"""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from flask import Blueprint, Response, request
from pydantic import BaseModel, ValidationError

from bridge.core.errors import ValidationFailed
from bridge.core.types import INT64_MAX, first_out_of_range
from bridge.core.web import current_actor, in_unit_of_work

logger = logging.getLogger(__name__)

PREFIX = "/api/v1"
_PARAM = re.compile(r"{(\w+)}")
# Integer path parameters are database ids: beyond 64 bits the route does not match (404;
# bridge.core.web.IdConverter).
_INT_CONVERTER = "id:"
_ID_SCHEMA = {"type": "integer", "format": "int64", "minimum": 0, "maximum": INT64_MAX}


def _default(value: Any) -> Any:
    if hasattr(value, "__dict__"):
        return {k: v for k, v in vars(value).items() if not k.startswith("_")}
    raise TypeError(f"cannot serialise {type(value).__name__}")


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response (RFC 3339 times, UTF-8)."""
    body = orjson.dumps(data, default=_default, option=orjson.OPT_NON_STR_KEYS)
    return Response(body, status=status, mimetype="application/json", headers=headers)


def _field_of(error: dict[str, Any]) -> str:
    parts = [str(p) for p in error.get("loc", ())]
    return ".".join(parts) if parts else "body"


def validation_error(exc: ValidationError, where: str) -> ValidationFailed:
    """Turn pydantic errors into a 400 naming the first field and the rule, with all errors."""
    errors = [{"field": _field_of(e), "rule": e["type"], "message": e["msg"]} for e in exc.errors()]
    first = errors[0]
    return ValidationFailed(
        f"{first['field']}: {first['message']}",
        field=first["field"],
        code="invalid_" + where,
        details={"errors": errors},
    )


def _refuse_huge_integers(data: Any, where: str) -> None:
    """Refuse (400) any integer beyond 64 bits: ids and counts the database cannot hold."""
    found = first_out_of_range(data)
    if found:
        raise ValidationFailed(
            f"{found}: the number is out of range (at most {INT64_MAX})", field=found,
            code="invalid_" + where,
            details={"errors": [{"field": found, "rule": "int64_range",
                                 "message": f"at most {INT64_MAX} and at least {-INT64_MAX - 1}"}]},
        )


def _schema_of_annotation(view: Callable[..., Any]) -> dict[str, Any]:
    """A JSON schema from the view's return annotation: a list of objects or an object."""
    annotation = str(getattr(view, "__annotations__", {}).get("return", ""))
    if annotation.startswith(("list", "typing.List")):
        return {"type": "array", "items": {"type": "object"}}
    return {"type": "object"}


@dataclass
class Endpoint:
    """One declared endpoint."""

    method: str
    path: str
    summary: str
    tags: tuple[str, ...]
    view: Callable[..., Any]
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    roles: tuple[str, ...] | None = None
    public: bool = False
    status: int = 200
    response: type[BaseModel] | None = None
    request_content: dict[str, Any] | None = None
    response_content: dict[str, Any] | None = None
    description: str = ""
    path_types: dict[str, type] = field(default_factory=dict)
    operation_id: str | None = None
    records_reads: bool = False


class ApiRegistry:
    """Declares endpoints on one blueprint and describes them as OpenAPI 3.1."""

    def __init__(self, name: str = "qms_api") -> None:
        """Create an empty registry; :meth:`blueprint` builds the routes of one app."""
        self.name = name
        self._endpoints: dict[tuple[str, str], tuple[Endpoint, Callable[..., Any]]] = {}

    @property
    def endpoints(self) -> list[Endpoint]:
        """Every declared endpoint, in declaration order."""
        return [endpoint for endpoint, _handler in self._endpoints.values()]

    def blueprint(self) -> Blueprint:
        """A new blueprint holding every declared endpoint.

        One per app, so that a module imported after an app was built still reaches the next app.
        """
        blueprint = Blueprint(self.name, __name__, url_prefix=PREFIX)
        for endpoint, handler in self._endpoints.values():
            flask_path = _PARAM.sub(
                lambda m, e=endpoint: (
                    f"<{_INT_CONVERTER if e.path_types.get(m.group(1), int) is int else ''}"
                    f"{m.group(1)}>"
                ),
                endpoint.path,
            )
            blueprint.add_url_rule(
                flask_path, endpoint=handler.__name__, view_func=handler, methods=[endpoint.method]
            )
        return blueprint

    def route(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        tags: tuple[str, ...] | list[str],
        body: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        roles: tuple[str, ...] | None = None,
        public: bool = False,
        status: int = 200,
        response: type[BaseModel] | None = None,
        request_content: dict[str, Any] | None = None,
        response_content: dict[str, Any] | None = None,
        path_types: dict[str, type] | None = None,
        operation_id: str | None = None,
        records_reads: bool = False,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Declare an endpoint; the view gets path parameters, ``body`` and ``query`` models.

        A view with a ``uow`` parameter gets the request's unit of work: read-only for GET,
        otherwise committed once after the view returns (the view never commits).

        Args:
            method: HTTP method.
            path: Path below ``/api/v1`` with ``{name}`` parameters (integers unless
                ``path_types`` says otherwise).
            summary: One line for the OpenAPI document.
            tags: OpenAPI tags.
            body: Pydantic model of the JSON body (``extra="forbid"``).
            query: Pydantic model of the query string.
            roles: Roles allowed (administrators always are); ``None`` lets any
                authenticated user in (the view checks ownership).
            public: No authentication at all.
            status: Success status.
            response: Pydantic model describing the success body.
            request_content: Non-JSON request media types for the OpenAPI document.
            response_content: Non-JSON response media types for the OpenAPI document.
            path_types: Types of path parameters that are not integers.
            operation_id: The OpenAPI ``operationId`` when the view's name is not the one to
                publish (it stays stable when a view moves to another module).
            records_reads: A GET whose serving is itself a regulated fact (a controlled file
                presented to a learner): its unit of work may write, and commits once.
        """
        types = path_types or {}

        def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
            endpoint = Endpoint(
                method=method.upper(),
                path=path,
                summary=summary,
                tags=tuple(tags),
                view=view,
                body=body,
                query=query,
                roles=roles,
                public=public,
                status=status,
                response=response,
                request_content=request_content,
                response_content=response_content,
                description=(view.__doc__ or "").strip(),
                path_types=types,
                operation_id=operation_id,
                records_reads=records_reads,
            )

            takes_uow = "uow" in inspect.signature(view).parameters

            def handler(**params: Any) -> Any:
                if not endpoint.public:
                    actor = current_actor()
                    assert actor is not None
                    if endpoint.roles is not None:
                        actor.require(*endpoint.roles, action=f"{request.method} {request.path}")
                kwargs: dict[str, Any] = dict(params)
                if endpoint.body is not None:
                    payload = request.get_json(silent=True)
                    if payload is None:
                        raise ValidationFailed(
                            "the request body must be a JSON object", field="body", code="invalid_body"
                        )
                    _refuse_huge_integers(payload, "body")
                    try:
                        kwargs["body"] = endpoint.body.model_validate(payload)
                    except ValidationError as exc:
                        raise validation_error(exc, "body") from exc
                if endpoint.query is not None:
                    try:
                        kwargs["query"] = endpoint.query.model_validate(request.args.to_dict())
                    except ValidationError as exc:
                        raise validation_error(exc, "query") from exc
                    _refuse_huge_integers(kwargs["query"].model_dump(), "query")
                if not takes_uow:
                    return respond(view(**kwargs))
                # The request owns the unit of work: opened here, committed once after the view
                # returns (reads never commit), rolled back on any error.
                return in_unit_of_work(
                    lambda uow: respond(view(uow=uow, **kwargs)),
                    readonly=endpoint.method in ("GET", "HEAD") and not endpoint.records_reads,
                )

            def respond(result: Any) -> Response:
                if isinstance(result, Response):
                    return result
                return json_response(result, endpoint.status)

            handler.__name__ = f"{view.__module__.replace('.', '_')}_{view.__name__}"
            # Keyed by method and path: a module imported twice replaces its own declarations.
            self._endpoints[(endpoint.method, path)] = (endpoint, handler)
            return view

        return decorate

    # -- OpenAPI ---------------------------------------------------------------------------------
    def openapi(self, *, title: str, version: str) -> dict[str, Any]:
        """The OpenAPI 3.1 document of every declared endpoint."""
        schemas: dict[str, Any] = {
            "Error": {
                "type": "object",
                "required": ["error", "message"],
                "properties": {
                    "error": {"type": "string", "description": "stable machine-readable code"},
                    "message": {"type": "string", "description": "the rule that was broken"},
                    "field": {"type": "string", "description": "the input field at fault"},
                    "details": {"description": "structured details (all errors, blocking records)"},
                },
            },
        }

        def ref(model: type[BaseModel]) -> dict[str, Any]:
            schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, sub in schema.pop("$defs", {}).items():
                schemas[name] = sub
            schemas[model.__name__] = schema
            return {"$ref": f"#/components/schemas/{model.__name__}"}

        def error(description: str) -> dict[str, Any]:
            return {
                "description": description,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            }

        paths: dict[str, Any] = {}
        names = [endpoint.view.__name__ for endpoint in self.endpoints]

        def operation_id(endpoint: Endpoint) -> str:
            # Unique across modules: qualified by the module only where two views share a name.
            if endpoint.operation_id:
                return endpoint.operation_id
            name = endpoint.view.__name__
            if names.count(name) == 1:
                return name
            return f"{endpoint.view.__module__.rsplit('.', 1)[-1]}_{name}"

        for endpoint in self.endpoints:
            operation: dict[str, Any] = {
                "operationId": operation_id(endpoint),
                "summary": endpoint.summary,
                "tags": list(endpoint.tags),
            }
            if endpoint.description:
                operation["description"] = endpoint.description
            if endpoint.roles:
                operation["x-roles"] = list(endpoint.roles)
            parameters = [
                {
                    "name": name,
                    "in": "path",
                    "required": True,
                    "schema": dict(_ID_SCHEMA) if endpoint.path_types.get(name, int) is int
                    else {"type": "string"},
                }
                for name in _PARAM.findall(endpoint.path)
            ]
            if endpoint.query is not None:
                query_schema = endpoint.query.model_json_schema()
                required = set(query_schema.get("required", []))
                for name, prop in query_schema.get("properties", {}).items():
                    parameters.append(
                        {
                            "name": name,
                            "in": "query",
                            "required": name in required,
                            "schema": prop,
                            "description": prop.get("description", ""),
                        }
                    )
            if parameters:
                operation["parameters"] = parameters
            if endpoint.body is not None:
                operation["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": ref(endpoint.body)}},
                }
            elif endpoint.request_content:
                operation["requestBody"] = {"required": True, "content": endpoint.request_content}
            success: dict[str, Any] = {"description": "success"}
            if endpoint.response_content:
                success["content"] = endpoint.response_content
            elif endpoint.response is not None:
                success["content"] = {"application/json": {"schema": ref(endpoint.response)}}
            else:
                success["content"] = {"application/json": {"schema": _schema_of_annotation(endpoint.view)}}
            responses: dict[str, Any] = {str(endpoint.status): success}
            if endpoint.body is not None or endpoint.query is not None or endpoint.method != "GET":
                responses["400"] = error("invalid input: the field and the rule are named")
            if not endpoint.public:
                responses["401"] = error("no valid bearer token")
                responses["403"] = error("the actor's role does not allow this")
            if parameters and any(p["in"] == "path" for p in parameters):
                responses["404"] = error("no such record")
            if endpoint.method != "GET":
                responses["409"] = error("refused by a state machine or a conflicting record")
            operation["responses"] = responses
            if not endpoint.public:
                operation["security"] = [{"bearerAuth": []}]
            paths.setdefault(PREFIX + endpoint.path, {})[endpoint.method.lower()] = operation
        return {
            "openapi": "3.1.0",
            "info": {
                "title": title,
                "version": version,
                "description": "Quality system of GxP Bridge: organisation, documents, change control, "
                "training matrix, assignments, completions and compliance.",
            },
            "paths": dict(sorted(paths.items())),
            "components": {
                "schemas": dict(sorted(schemas.items())),
                "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
            },
        }


api = ApiRegistry()
