"""The ``/xapi`` blueprint and what every xAPI resource shares: version negotiation, HTTP Basic
authentication with LRS credentials, the common response headers and the error format.

Views live in several modules (``views.py``, ``views_statements.py``, ``views_state_profiles.py``);
each imports :data:`bp` and registers its routes on it.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request

from bridge.core.errors import DomainError, Unauthorized, ValidationFailed
from bridge.core.web import database
from xapi import auth, rawdb
from xapi.limits import LrsLimits
from xapi.query import consistent_through

logger = logging.getLogger(__name__)

bp = Blueprint("xapi", __name__, url_prefix="/xapi")

V1 = "1.0.3"
V2 = "2.0.0"
SUPPORTED_VERSIONS = (V1, V2)
V1_PATTERN = _V1_RE = re.compile(r"^1\.0(\.[0-9]+)?$")
_V2_RE = re.compile(r"^2\.0(\.[0-9]+)?$")
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "HEAD, GET, POST, PUT, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type, Content-Length, Authorization, If-Match, "
    "If-None-Match, X-Experience-API-Version, Accept-Language",
    "Access-Control-Expose-Headers": "ETag, Last-Modified, Cache-Control, Content-Type, Content-Length, "
    "WWW-Authenticate, X-Experience-API-Version, "
    "X-Experience-API-Consistent-Through",
}


def negotiate_version(header: str | None) -> str:
    """Map a request's ``X-Experience-API-Version`` to the version we answer in.

    Any 1.0.x maps to 1.0.3 and 2.0 / 2.0.x to 2.0.0.

    Raises:
        ValidationFailed: Missing or unsupported version.
    """
    value = (header or "").strip()
    if not value:
        raise ValidationFailed(
            "the X-Experience-API-Version header is required (1.0.x or 2.0.0)",
            field="X-Experience-API-Version",
            code="version_required",
        )
    if _V2_RE.match(value):
        return V2
    if _V1_RE.match(value):
        return V1
    raise ValidationFailed(
        f"xAPI version {value!r} is not supported; use 1.0.x or 2.0.0",
        field="X-Experience-API-Version",
        code="version_unsupported",
    )


def xapi_version() -> str:
    """The version negotiated for this request (1.0.3 when not negotiated yet)."""
    return g.get("xapi_version", V1)


def is_v2() -> bool:
    """Whether this request speaks xAPI 2.0."""
    return xapi_version() == V2


def principal() -> auth.Principal:
    """The LRS credential of this request (authenticating it on first use).

    Raises:
        Unauthorized: Missing, wrong or revoked credentials.
    """
    found = g.get("xapi_principal")
    if found is None:
        found = auth.authenticate(
            database(), request.headers.get("Authorization"), pepper=current_app.config["SECRET_KEY"]
        )
        g.xapi_principal = found
    return found


def limits() -> LrsLimits:
    """The record store's per-request limits (registered at start, the defaults otherwise)."""
    return current_app.extensions["gxpbridge.policies"].get(LrsLimits) or DEFAULT_LIMITS


DEFAULT_LIMITS = LrsLimits.model_construct()
_last_version: dict[int, str] = {}


@bp.before_request
def _negotiate() -> None:
    g.xapi_started = time.perf_counter()
    rawdb.begin_scope()
    if request.method == "OPTIONS":
        return
    if request.endpoint == "xapi.about":
        g.xapi_version = V2 if _V2_RE.match(request.headers.get("X-Experience-API-Version", "")) else V1
        return
    who = principal()  # 401 before 400: an unauthenticated caller learns nothing of the rules
    # A request without a usable version is refused in the version this credential last spoke
    # (a 1.0.x client reads a 1.0.3 refusal), else in the newest.
    g.xapi_version = _last_version.get(who.credential_id, V2)
    g.xapi_version = negotiate_version(request.headers.get("X-Experience-API-Version"))
    _last_version[who.credential_id] = g.xapi_version
    if request.environ.get("xapi.alternate"):
        if g.xapi_version == V2:
            raise ValidationFailed(
                "xAPI 2.0 has no alternate request syntax: drop the method parameter",
                field="method",
                code="alternate_syntax_removed",
            )
        if request.environ.get("xapi.alternate_error"):
            raise ValidationFailed(
                request.environ["xapi.alternate_error"], field="method", code="invalid_alternate_syntax"
            )


_CORS_LOWER = tuple((name.lower(), name, value) for name, value in CORS_HEADERS.items())


@bp.after_request
def _common_headers(response: Response) -> Response:
    headers = response.headers
    # One pass over what the view set; werkzeug's setdefault would scan the headers per name.
    present = {name.lower() for name, _value in headers.to_wsgi_list()}
    if "x-experience-api-version" in present:
        del headers["X-Experience-API-Version"]
    headers.add("X-Experience-API-Version", xapi_version())
    started = g.get("xapi_started")
    if started is not None:
        # Server-side time of the request (read by bench/lrs.py, shown by browser dev tools).
        headers.add("Server-Timing", f"app;dur={(time.perf_counter() - started) * 1000:.2f}")
    if request.endpoint == "xapi.get_statements" and "x-experience-api-consistent-through" not in present:
        # Clients poll on this header, errors included: everything stored before now is visible.
        headers.add("X-Experience-API-Consistent-Through", consistent_through(database().clock))
    for lower, name, value in _CORS_LOWER:
        if lower not in present:
            headers.add(name, value)
    return response


@bp.teardown_request
def _release_reads(_exc: BaseException | None) -> None:
    rawdb.end_scope()


def error_response(exc: DomainError) -> Response:
    """The xAPI error body: JSON naming the error, the failing property and the rule."""
    if exc.status >= 500:
        logger.error("xapi %s %s failed: %s", request.method, request.path, exc.message)
    else:
        logger.info("xapi refused %s %s: %s (%s)", request.method, request.path, exc.message, exc.code)
    response = jsonify(exc.to_dict())
    response.status_code = exc.status
    if isinstance(exc, Unauthorized):
        response.headers["WWW-Authenticate"] = 'Basic realm="GxP Bridge LRS"'
    return response


@bp.errorhandler(DomainError)
def _domain_error(exc: DomainError) -> Any:
    return error_response(exc)
