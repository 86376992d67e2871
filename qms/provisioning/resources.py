"""The SCIM resources served (scim2-models): User with the enterprise extension, Group; the
discovery documents (ServiceProviderConfig, ResourceTypes, Schemas); errors, filters and pages.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError
from scim2_models import (
    AuthenticationScheme,
    Bulk,
    ChangePassword,
    Context,
    EnterpriseUser,
    Error,
    ETag,
    Filter,
    Group,
    ListResponse,
    Meta,
    Patch,
    ResourceType,
    ResponseParameters,
    SCIMException,
    ScimFilter,
    ServiceProviderConfig,
    Sort,
    User,
)

from bridge.core.errors import DomainError, ValidationFailed

USER = User[EnterpriseUser]
GROUP = Group
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
SCIM_MEDIA_TYPE = "application/scim+json"
MAX_RESULTS = 1000
DEFAULT_COUNT = 100

_SCIM_TYPES = {400: "invalidValue", 409: "uniqueness"}


class ScimRefusal(DomainError):
    """A refusal in SCIM terms: an HTTP status and a ``scimType``."""

    def __init__(self, message: str, *, status: int = 400, scim_type: str | None = "invalidValue") -> None:
        """A refusal with ``status`` and ``scim_type``."""
        super().__init__(message, code=scim_type or "scim_error")
        self.status = status
        self.scim_type = scim_type


def error_body(exc: BaseException) -> tuple[dict[str, Any], int]:
    """The ``urn:ietf:params:scim:api:messages:2.0:Error`` body and status of a refusal."""
    if isinstance(exc, ScimRefusal):
        status, scim_type, detail = exc.status, exc.scim_type, exc.message
    elif isinstance(exc, SCIMException):
        error = exc.to_error()
        status, scim_type, detail = int(error.status or 400), error.scim_type, error.detail or str(exc)
    elif isinstance(exc, ValidationError):
        status, scim_type = 400, "invalidValue"
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "body"
        detail = f"{where}: {first['msg']}"
    elif isinstance(exc, DomainError):
        status = exc.status
        scim_type = _SCIM_TYPES.get(status) if status in (400, 409) else None
        if exc.code in ("invalid_transition", "not_employed", "already_on_leave", "not_on_leave"):
            scim_type = "mutability"
        detail = exc.message
    else:  # pragma: no cover - the views only pass refusals here
        status, scim_type, detail = 500, None, "an unexpected error occurred; it was logged"
    error = Error(status=status, scim_type=scim_type, detail=detail)
    return error.model_dump(), status


def parse(model: Any, payload: Any, context: Context) -> Any:
    """Validate a request body against a SCIM model in the given context (RFC 7643 rules)."""
    if not isinstance(payload, dict):
        raise ScimRefusal("the request body must be a JSON object", scim_type="invalidSyntax")
    return model.model_validate(payload, scim_ctx=context)


_SIMPLE_EQ = re.compile(r'^\s*(userName|externalId|displayName)\s+eq\s+"((?:[^"\\]|\\.)*)"\s*$', re.I)


def compile_filter(model: Any, text: str | None) -> ScimFilter[Any] | None:
    """A bound filter, or a 400 ``invalidFilter``."""
    if not text:
        return None
    try:
        return ScimFilter[model](text)
    except Exception as exc:  # the parser raises several kinds for a bad expression
        raise ScimRefusal(f"the filter {text!r} is not valid: {exc}", scim_type="invalidFilter") from exc


def simple_equality(text: str | None) -> tuple[str, str] | None:
    """``(attribute, value)`` of a filter that is one ``eq`` on an indexed attribute, else ``None``."""
    match = _SIMPLE_EQ.match(text or "")
    if match is None:
        return None
    return match.group(1).lower(), match.group(2).replace('\\"', '"').replace("\\\\", "\\")


def paging(start_index: Any, count: Any) -> tuple[int, int]:
    """``startIndex`` (1-based, below 1 counts as 1) and ``count`` (negative counts as 0)."""
    try:
        start = int(start_index) if start_index not in (None, "") else 1
        size = int(count) if count not in (None, "") else DEFAULT_COUNT
    except ValueError as exc:
        raise ValidationFailed("startIndex and count are integers", field="startIndex") from exc
    return max(start, 1), min(max(size, 0), MAX_RESULTS)


def meta(resource_type: str, location: str, created: Any, modified: Any, version: int) -> Meta:
    """The ``meta`` of a served resource (weak ETag from the row's version)."""
    return Meta(
        resource_type=resource_type,
        location=location,
        created=created,
        last_modified=modified,
        version=f'W/"{version}"',
    )


def response_parameters(model: Any, attributes: str | None, excluded: str | None) -> Any:
    """The ``attributes`` / ``excludedAttributes`` of a request, or ``None``."""
    if not attributes and not excluded:
        return None
    try:
        return ResponseParameters[model](attributes=attributes or None, excluded_attributes=excluded or None)
    except ValidationError as exc:
        raise ScimRefusal(
            f"bad attributes or excludedAttributes: {exc.errors()[0]['msg']}", scim_type="invalidPath"
        ) from exc


def dump(
    resource: Any, params: Any = None, context: Context = Context.RESOURCE_QUERY_RESPONSE
) -> dict[str, Any]:
    """A served resource as JSON."""
    return resource.model_dump(scim_ctx=context, response_parameters=params)


def list_response(
    model: Any, resources: list[Any], total: int, start: int, params: Any = None
) -> dict[str, Any]:
    """A ``ListResponse`` body."""
    return ListResponse[model](
        total_results=total, start_index=start, items_per_page=len(resources), resources=resources
    ).model_dump(scim_ctx=Context.SEARCH_RESPONSE, response_parameters=params)


def service_provider_config(base: str, documentation: str) -> dict[str, Any]:
    """What this service provider supports (RFC 7643 §5)."""
    config = ServiceProviderConfig(
        documentation_uri=documentation,
        patch=Patch(supported=True),
        bulk=Bulk(supported=True, max_operations=1000, max_payload_size=16 * 1024 * 1024),
        filter=Filter(supported=True, max_results=MAX_RESULTS),
        change_password=ChangePassword(supported=False),
        sort=Sort(supported=False),
        etag=ETag(supported=True),
        authentication_schemes=[
            AuthenticationScheme(
                type="oauthbearertoken",
                name="Bearer token",
                description="one token per provisioning client (gxpbridge qms scim-client issue)",
                primary=True,
            )
        ],
    )
    config.meta = Meta(resource_type="ServiceProviderConfig", location=f"{base}/ServiceProviderConfig")
    return config.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)


def resource_types(base: str) -> list[dict[str, Any]]:
    """The User and Group resource types."""
    found = []
    for model in (USER, GROUP):
        resource_type = ResourceType.from_resource(model)
        resource_type.meta = Meta(
            resource_type="ResourceType", location=f"{base}/ResourceTypes/{resource_type.id}"
        )
        found.append(resource_type.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE))
    return found


def schemas(base: str) -> list[dict[str, Any]]:
    """The schemas of User, the enterprise extension and Group."""
    found = []
    for model in (User, EnterpriseUser, Group):
        schema = model.to_schema()
        schema.meta = Meta(resource_type="Schema", location=f"{base}/Schemas/{schema.id}")
        found.append(schema.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE))
    return found
