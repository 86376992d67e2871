"""The core's Flask wiring: database per app, the acting user per request, JSON errors,
and ``/healthz``. Domain modules never import this; views and CLI commands do.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    render_template_string,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy import select, text
from werkzeug.exceptions import HTTPException

from bridge.core import audit
from bridge.core.accounts import UserAccount, authenticate_token, check_credentials
from bridge.core.actor import Actor
from bridge.core.clock import Clock
from bridge.core.db import Database, is_lost_connection
from bridge.core.errors import DomainError, Unauthorized
from bridge.core.settings import Settings
from bridge.core.uow import UnitOfWork

logger = logging.getLogger(__name__)

bp = Blueprint("core", __name__)
# Machine endpoints authenticate every request themselves and never use the cookie session.
STATELESS_PREFIXES = ("/xapi/",)


class ConsoleSessionInterface(SecureCookieSessionInterface):
    """Signed-cookie sessions for the console, none for the machine endpoints.

    The record store answers thousands of requests a second; opening a cookie session for each
    (building a signing serializer, parsing cookies) would cost more than authenticating it.
    Those paths get a :class:`NullSession`, which refuses writes, so misuse fails loudly.
    """

    def __init__(self, stateless_prefixes: tuple[str, ...] = STATELESS_PREFIXES) -> None:
        """Serve ``stateless_prefixes`` without a session."""
        self.stateless_prefixes = stateless_prefixes
        self._serializers: dict[tuple[int, str | bytes], Any] = {}

    def get_signing_serializer(self, app: Flask) -> Any:
        """The serializer of ``app``'s secret key, built once per key."""
        key = (id(app), app.secret_key or "")
        serializer = self._serializers.get(key)
        if serializer is None:
            serializer = self._serializers[key] = super().get_signing_serializer(app)
        return serializer

    def open_session(self, app: Flask, request: Any) -> Any:
        """No session on the stateless paths; the signed cookie elsewhere."""
        if request.path.startswith(self.stateless_prefixes):
            return self.null_session_class()
        return super().open_session(app, request)


F = TypeVar("F", bound=Callable[..., Any])
JSON_PREFIXES = ("/api/", "/xapi/", "/healthz", "/lti/register")


def settings() -> Settings:
    """The settings of the running app."""
    return current_app.extensions["gxpbridge.settings"]


def database() -> Database:
    """The database of the running app."""
    return current_app.extensions["gxpbridge.db"]


def current_actor(optional: bool = False) -> Actor | None:
    """The authenticated actor of this request (bearer token or console session).

    Raises:
        Unauthorized: No valid credentials and ``optional`` is false.
    """
    if "gxp_actor" in g:
        return g.gxp_actor
    actor: Actor | None = None
    header = request.headers.get("Authorization", "")
    db = database()
    if header.lower().startswith("bearer "):
        with db.read_sessions() as db_session:
            actor = authenticate_token(db_session, header[7:].strip()).actor()
    elif session.get("user_id"):
        with db.read_sessions() as db_session:
            user = db_session.get(UserAccount, session["user_id"])
            if user is not None and user.active and user.locked_at is None:
                actor = user.actor()
            else:
                session.clear()
    if actor is None and not optional:
        raise Unauthorized("sign in or send 'Authorization: Bearer <API token>'")
    g.gxp_actor = actor
    return actor


def unit_of_work(actor: Actor | None = None, *, readonly: bool = False) -> UnitOfWork:
    """A unit of work for this request, acting as ``actor`` or the authenticated user.

    Views do not call this themselves: :func:`transactional` (and the REST registry's route
    wrapper) open it, hand it over and commit it once.
    """
    return UnitOfWork(database(), actor or current_actor(), readonly=readonly)


T = TypeVar("T")


def in_unit_of_work(call: Callable[[UnitOfWork], T], *, readonly: bool = False,
                    actor: Actor | Callable[[], Actor] | None = None) -> T:
    """Run ``call(uow)`` in this request's unit of work and commit it once when it returns.

    The one place a request's transaction is committed: on an exception everything rolls
    back (except the refusal writes a :class:`DomainError` carries); a read-only unit of
    work is never committed. A Flask response returned by ``call`` is built before the commit,
    so a failed commit never reaches the client as a success.
    """
    who = actor() if callable(actor) else actor
    with unit_of_work(who, readonly=readonly) as uow:
        result = call(uow)
        if not readonly:
            uow.commit()
    return result


def transactional(view: F | None = None, *, readonly: bool = False,
                  actor: Callable[[], Actor] | None = None) -> Any:
    """View decorator: the view receives ``uow`` and the request commits it once on success.

    Args:
        view: The view (when used bare, ``@transactional``).
        readonly: Open a read-only unit of work (never committed).
        actor: Who acts, when it is not the signed-in user or token holder (an LTI launch,
            an LRS credential, the login attempt itself).
    """

    def decorate(func: F) -> F:
        @wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return in_unit_of_work(
                lambda uow: current_app.make_response(func(*args, uow=uow, **kwargs)),
                readonly=readonly, actor=actor)

        return wrapper  # type: ignore[return-value]

    return decorate(view) if view is not None else decorate


def require_roles(*roles: str) -> Callable[[F], F]:
    """View decorator: authenticate and require one of ``roles``."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            actor = current_actor()
            assert actor is not None
            actor.require(*roles, action=f"{request.method} {request.path}")
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def wants_json() -> bool:
    """Whether this request should get JSON errors (API paths, or asked for JSON)."""
    if request.path.startswith(JSON_PREFIXES):
        return True
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    accepted = request.accept_mimetypes
    return best == "application/json" and accepted[best] > accepted["text/html"]


def _domain_error(exc: DomainError) -> Any:
    logger.info("refused %s %s: %s (%s)", request.method, request.path, exc.message, exc.code)
    if wants_json():
        response = jsonify(exc.to_dict())
    else:
        response = current_app.make_response(
            render_template_string(
                "<!doctype html><title>{{ title }}</title><main style='font-family:sans-serif;"
                "max-width:40em;margin:3em auto'><h1>{{ title }}</h1><p>{{ message }}</p></main>",
                title=exc.code.replace("_", " ").capitalize(),
                message=exc.message,
            )
        )
    response.status_code = exc.status
    if exc.status == 401 and request.path.startswith("/api/"):
        response.headers["WWW-Authenticate"] = 'Bearer realm="gxpbridge"'
    return response


def _http_error(exc: HTTPException) -> Any:
    if not wants_json():
        return exc
    response = jsonify({"error": (exc.name or "error").lower().replace(" ", "_"), "message": exc.description})
    response.status_code = exc.code or 500
    return response


def _unexpected_error(exc: Exception) -> Any:
    if isinstance(exc, HTTPException):
        return _http_error(exc)
    if is_lost_connection(exc):
        # A server restart or a dropped socket: the transaction did not complete; the pool has
        # been replaced, so a retry gets a fresh connection.
        logger.error("database connection lost on %s %s: %s", request.method, request.path, exc)
        body = {
            "error": "database_unavailable",
            "message": "the database connection was lost during the request; retry it",
        }
        status, headers = 503, {"Retry-After": "1"}
    else:
        logger.exception("unhandled error on %s %s", request.method, request.path)
        body = {"error": "internal_error", "message": "an unexpected error occurred; it was logged"}
        status, headers = 500, {}
    if wants_json():
        return jsonify(body), status, headers
    return body["message"], status, headers


@bp.get("/healthz")
def healthz() -> Any:
    """Liveness and database check."""
    db = database()
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        logger.error("health check: database unreachable: %s", exc)
        return jsonify(
            {"status": "unavailable", "database": "unreachable", "message": str(exc).splitlines()[0]}
        ), 503
    from bridge import __version__

    return jsonify({"status": "ok", "database": db.dialect, "version": __version__})


def csrf_token() -> str:
    """The session's CSRF token for server-rendered forms."""
    token = session.get("csrf_token")
    if not token:
        token = session["csrf_token"] = secrets.token_urlsafe(24)
    return token


def check_csrf() -> None:
    """Refuse a form post whose CSRF token does not match the session's (400)."""
    sent = request.form.get("csrf_token", "")
    expected = session.get("csrf_token", "")
    if not expected or not secrets.compare_digest(sent, expected):
        abort(400, description="the form expired or was not sent from this site; reload and retry")


def _safe_next(target: str | None) -> str:
    # Only local paths: an open redirect after login would help phishing.
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("core.home")


# Paths a newcomer may want, shown on the home page when the package providing them is wired.
HOME_LINKS = (
    ("Quality console", "/console/"),
    ("REST API description (OpenAPI)", "/api/v1/openapi.json"),
    ("xAPI record store (About)", "/xapi/about"),
    ("LTI 1.3 tool public keys (JWKS)", "/lti/jwks"),
    ("LTI Dynamic Registration", "/lti/register"),
    ("LMS platforms (administrators)", "/lti/admin/"),
    ("Health check", "/healthz"),
)


@bp.get("/")
def home() -> Any:
    """Landing page: what runs here."""
    rules = {rule.rule for rule in current_app.url_map.iter_rules()}
    services = [(name, path) for name, path in HOME_LINKS if path in rules]
    return render_template("home.html", services=services)


def _sign_in(uow: UnitOfWork, username: str, password: str) -> int:
    user = uow.session.scalar(select(UserAccount).where(UserAccount.username == username))
    if user is None or user.password_hash is None:
        raise Unauthorized("wrong username or password", code="wrong_password")
    check_credentials(uow, user, password, threshold=settings().lockout_threshold)
    audit.record(uow, "user.login", "user_account", user.id)
    return user.id


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """Console sign-in with lockout after repeated failures (§11.300)."""
    error = None
    username = ""
    next_url = request.values.get("next", "")
    if request.method == "POST":
        check_csrf()
        username = request.form.get("username", "").strip().lower()
        password = request.form.get("password", "")
        attempt = Actor(kind="user", username=username or "?", display_name=f"login as {username}")
        try:
            user_id = in_unit_of_work(lambda uow: _sign_in(uow, username, password), actor=attempt)
        except DomainError as exc:
            error = "wrong username or password" if exc.code == "wrong_password" else exc.message
            return render_template("login.html", error=error, username=username, next=next_url), exc.status
        session.clear()
        session["user_id"] = user_id
        return redirect(_safe_next(next_url))
    return render_template("login.html", error=error, username=username, next=next_url)


@bp.post("/logout")
def logout() -> Any:
    """Sign out of the console."""
    check_csrf()
    session.clear()
    return redirect(url_for("core.login"))


@bp.get("/api/v1/me")
def me() -> Any:
    """The authenticated user."""
    actor = current_actor()
    assert actor is not None
    return jsonify(
        {
            "username": actor.username,
            "display_name": actor.display_name,
            "user_id": actor.user_id,
            "person_id": actor.person_id,
            "roles": sorted(actor.roles),
        }
    )


def register_policy(app: Flask, policy: Any) -> None:
    """Make ``policy`` (a package's settings object, read once at start) reach every unit of work
    as ``uow.policy(type(policy))``.
    """
    app.extensions["gxpbridge.policies"][type(policy)] = policy


def init_app(app: Flask, app_settings: Settings, clock: Clock) -> None:
    """Attach settings, clock, database, error handlers and core routes to ``app``."""
    app.extensions["gxpbridge.settings"] = app_settings
    app.clock = clock  # type: ignore[attr-defined]
    policies: dict[type, Any] = app.extensions.setdefault("gxpbridge.policies", {})
    db = Database(app_settings.resolved_database_url())
    db.configure(clock=clock, settings=app_settings, policies=policies)
    app.extensions["gxpbridge.db"] = db
    app.session_interface = ConsoleSessionInterface()
    app.register_error_handler(DomainError, _domain_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)
    app.register_blueprint(bp)

    @app.context_processor
    def _template_globals() -> dict[str, Any]:
        try:
            actor = current_actor(optional=True)
        except DomainError:
            actor = None
        return {"site_name": app_settings.site_name, "csrf_token": csrf_token, "actor": actor}
