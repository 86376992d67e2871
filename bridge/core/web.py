"""The core's Flask wiring: database per app, the acting user per request, JSON errors,
and ``/healthz``. Domain modules never import this; views and CLI commands do.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    g,
    has_request_context,
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
from sqlalchemy.exc import DataError, DBAPIError
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from bridge.core import audit, headers, policy_store, replica_routing, sessions
from bridge.core.accounts import (
    UserAccount,
    authenticate_token,
    burn_password_check,
    check_credentials,
)
from bridge.core.actor import Actor
from bridge.core.clock import Clock, SystemClock
from bridge.core.db import Database, is_lost_connection
from bridge.core.errors import DomainError, Forbidden, Unauthorized
from bridge.core.jobs import register_sweep
from bridge.core.replica import Replica
from bridge.core.settings import Settings
from bridge.core.types import INT64_MAX
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

    def get_cookie_secure(self, app: Flask) -> bool:
        """``Secure`` whenever the request came over HTTPS (directly or through a trusted proxy)
        or the site's base URL is HTTPS.
        """
        return bool(super().get_cookie_secure(app) or (request and request.is_secure))


class IdConverter(IntegerConverter):
    """``<id:name>``: a database id in a path, 0 to 2^63 - 1; a larger number matches no route
    (404) instead of overflowing the database driver (500).
    """

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", INT64_MAX)
        super().__init__(map, *args, **kwargs)


F = TypeVar("F", bound=Callable[..., Any])
JSON_PREFIXES = ("/api/", "/xapi/", "/healthz", "/lti/register")


def settings() -> Settings:
    """The settings in force for this request: the app's (environment), with the policy values
    an administrator set in the console (``bridge.core.policy_store``), read once per request so
    a change applies from the next one. The record store's stateless paths, which use none of
    those values, skip the read.
    """
    base: Settings = current_app.extensions["gxpbridge.settings"]
    if not has_request_context() or request.path.startswith(STATELESS_PREFIXES):
        return base
    found = g.get("gxp_settings")
    if found is None:
        with database().read_sessions() as db_session:
            found = g.gxp_settings = policy_store.apply_settings(
                base, policy_store.overrides(db_session))
    return found


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
    elif session.get("sid"):
        now = current_app.clock.now()  # type: ignore[attr-defined]
        config = settings()
        with db.read_sessions() as db_session:
            row = sessions.live(db_session, session["sid"], now,
                                idle=dt.timedelta(minutes=config.session_idle_minutes),
                                absolute=dt.timedelta(hours=config.session_absolute_hours))
            user = db_session.get(UserAccount, row.user_id) if row is not None else None
            if row is not None and user is not None and user.active and user.locked_at is None:
                actor = user.actor()
                if sessions.needs_touch(row, now):
                    g.gxp_touch_session = row.id
            else:
                session.clear()
        if actor is not None:
            _check_cookie_write()
    elif session:
        session.clear()  # a cookie from before server-side sessions, or a forged one
    if actor is None and not optional:
        raise Unauthorized("sign in or send 'Authorization: Bearer <API token>'")
    g.gxp_actor = actor
    return actor


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def same_origin(origin: str) -> bool:
    """Whether ``origin`` (an ``Origin`` header) is this site's own."""
    if not origin or origin == "null":
        return False
    own = {f"{request.scheme}://{request.host}".lower(), headers.origin_of(settings().base_url)}
    return origin.rstrip("/").lower() in own


def _check_cookie_write() -> None:
    """Refuse a write to the REST API authenticated by the console cookie alone (CSRF).

    A browser sends the cookie with any site's form or script, so such a write must also carry
    the session's CSRF token in ``X-CSRF-Token`` or come from a page of this site (``Origin``).
    Bearer-token requests never reach here.
    """
    if request.method in SAFE_METHODS or not request.path.startswith("/api/"):
        return
    sent = request.headers.get("X-CSRF-Token", "")
    expected = session.get("csrf_token", "")
    if sent and expected and secrets.compare_digest(sent, expected):
        return
    if same_origin(request.headers.get("Origin", "")):
        return
    raise Forbidden("a write authenticated by the console session needs its CSRF token in the "
                    "X-CSRF-Token header (or send 'Authorization: Bearer <API token>')",
                    code="csrf_failed")


def unit_of_work(actor: Actor | None = None, *, readonly: bool = False,
                 replica: bool = False) -> UnitOfWork:
    """A unit of work for this request, acting as ``actor`` or the authenticated user.

    Views do not call this themselves: :func:`transactional` (and the REST registry's route
    wrapper) open it, hand it over and commit it once.
    """
    return UnitOfWork(database(), actor or current_actor(), readonly=readonly, replica=replica)


T = TypeVar("T")
def in_unit_of_work(call: Callable[[UnitOfWork], T], *, readonly: bool = False,
                    actor: Actor | Callable[[], Actor] | None = None) -> T:
    """Run ``call(uow)`` in this request's unit of work and commit it once when it returns.

    The one place a request's transaction is committed: on an exception everything rolls
    back (except the refusal writes a :class:`DomainError` carries); a read-only unit of
    work is never committed. A Flask response returned by ``call`` is built before the commit,
    so a failed commit never reaches the client as a success. A read-only unit of work reads
    from the replica when :func:`bridge.core.replica_routing.may_serve` allows it; should the
    replica fail it (its connection lost, or a hot standby cancelling the query in a recovery
    conflict), the read runs again on the primary: a read writes nothing, so running it twice
    is safe.
    """
    who = actor() if callable(actor) else actor
    if readonly and replica_routing.may_serve(database(), settings()):
        try:
            with unit_of_work(who, readonly=True, replica=True) as uow:
                g.gxp_read_source = "replica"
                return call(uow)
        except DBAPIError as exc:
            if is_lost_connection(exc):
                database().replica.mark_lost(exc)  # type: ignore[union-attr]
            else:
                logger.warning("read on the replica failed, reading the primary: %s",
                               str(exc.orig).splitlines()[0] if exc.orig else exc)
            g.pop("gxp_consistent_through", None)
    with unit_of_work(who, readonly=readonly) as uow:
        g.gxp_read_source = "primary"
        result = call(uow)
        if not readonly:
            uow.commit()
            replica_routing.remember_write(database())
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
    # The exception's own headers: Allow on a 405, WWW-Authenticate, Retry-After...
    for name, value in exc.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def _out_of_range(exc: Exception) -> bool:
    """A number too large for the database column (an id beyond 64 bits that slipped through)."""
    if isinstance(exc, OverflowError):
        return True
    return isinstance(exc, DataError) and "out of range" in str(exc.orig or exc).lower()


def _unexpected_error(exc: Exception) -> Any:
    if isinstance(exc, HTTPException):
        return _http_error(exc)
    if _out_of_range(exc):
        logger.warning("number out of range on %s %s: %s", request.method, request.path, exc)
        body = {"error": "out_of_range", "message": "a number in the request is out of range"}
        return (jsonify(body) if wants_json() else body["message"]), 400
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

    body: dict[str, Any] = {"status": "ok", "database": db.dialect, "version": __version__}
    if db.replica is not None:
        # An unreachable or lagging replica is not an outage: the primary answers every read.
        body["replica"] = db.replica.status().as_dict(db.replica.max_lag_seconds)
    return jsonify(body)


def csrf_token() -> str:
    """The session's CSRF token for server-rendered forms."""
    token = session.get("csrf_token")
    if not token:
        token = session["csrf_token"] = secrets.token_urlsafe(24)
    return token


def check_csrf() -> None:
    """Refuse a form post whose CSRF token does not match the session's (400).

    The token comes in the form field ``csrf_token`` or, for an htmx request, the header
    ``X-CSRF-Token`` (the console layout sends it with every htmx request).
    """
    sent = request.form.get("csrf_token", "") or request.headers.get("X-CSRF-Token", "")
    expected = session.get("csrf_token", "")
    if not expected or not secrets.compare_digest(sent, expected):
        abort(400, description="the form expired or was not sent from this site; reload and retry")


_SAFE_PATH = re.compile(r"/(?![/\\])[!-~]*")


def safe_next(target: str | None, default: str | None = None) -> str:
    """``target`` when it is a same-origin relative path, else ``default`` (the home page).

    An open redirect after login would help phishing. Only printable ASCII without spaces is
    accepted (a tab or newline is dropped by browsers, so ``/%09/evil.example`` would become
    ``//evil.example``, and a newline in ``Location`` is an error), the path must start with
    one ``/`` not followed by another or by a backslash, and no scheme or host may be parsed from it.
    """
    if target and _SAFE_PATH.fullmatch(target) and "\\" not in target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc:
            return target
    return default or url_for("core.home")


def _signed_in_home() -> str:
    """Where a signed-in user starts: the console's dashboard when it is served, else ``/``."""
    if "console.dashboard" in current_app.view_functions:
        return url_for("console.dashboard")
    return url_for("core.home")


# Paths a newcomer may want, shown on the home page when the package providing them is wired.
HOME_LINKS = (
    ("Quality console", "/console/"),
    ("REST API description (OpenAPI)", "/api/v1/openapi.json"),
    ("xAPI record store (About)", "/xapi/about"),
    ("LTI 1.3 tool public keys (JWKS)", "/lti/jwks"),
    ("LTI Dynamic Registration", "/lti/register"),
    ("LMS platforms (administrators)", "/console/lti/"),
    ("Health check", "/healthz"),
)


@bp.get("/")
def home() -> Any:
    """Landing page: the console for a signed-in user, else what runs here and a sign-in link."""
    try:
        actor = current_actor(optional=True)
    except DomainError:
        actor = None
    if actor is not None and actor.kind == "user" and "console.dashboard" in current_app.view_functions:
        return redirect(url_for("console.dashboard"))
    rules = {rule.rule for rule in current_app.url_map.iter_rules()}
    services = [(name, path) for name, path in HOME_LINKS if path in rules]
    return render_template("home.html", services=services)


def _sign_in(uow: UnitOfWork, username: str, password: str) -> str:
    user = uow.session.scalar(select(UserAccount).where(UserAccount.username == username))
    if user is None or user.password_hash is None:
        burn_password_check(password)  # as slow as a real check: the timing names no account
        raise Unauthorized("wrong username or password", code="wrong_password")
    check_credentials(uow, user, password, threshold=settings().lockout_threshold)
    audit.record(uow, "user.login", "user_account", user.id)
    return sessions.start(uow.session, user.id, uow.clock.now())


SIGN_IN_REFUSALS = frozenset({"wrong_password", "account_locked", "account_inactive"})


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
            token = in_unit_of_work(lambda uow: _sign_in(uow, username, password), actor=attempt)
        except DomainError as exc:
            if exc.code not in SIGN_IN_REFUSALS:
                raise
            # One answer for an unknown user, a wrong password and a locked or deactivated
            # account: the sign-in page never tells whether an account exists or is locked (the
            # lock and the refused attempt are audited).
            return render_template("login.html", error="wrong username or password",
                                   username=username, next=next_url), 401
        session.clear()  # a new session (and CSRF token): nothing survives from before sign-in
        session["sid"] = token
        replica_routing.remember_write(database())  # cleared with the old session just above
        return redirect(safe_next(next_url) if next_url else _signed_in_home())
    return render_template("login.html", error=error, username=username, next=next_url)


@bp.post("/logout")
def logout() -> Any:
    """Sign out of the console."""
    check_csrf()
    token = session.get("sid")
    if token:
        with database().write_sessions() as db_session:
            sessions.revoke(db_session, token, current_app.clock.now())  # type: ignore[attr-defined]
            db_session.commit()
    session.clear()
    g.pop("gxp_touch_session", None)
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


def _touch_session(response: Any) -> Any:
    """After the request's own transaction: note that the console session was used."""
    session_id = g.pop("gxp_touch_session", None)
    if session_id is not None:
        try:
            with database().write_sessions() as db_session:
                sessions.touch(db_session, session_id, current_app.clock.now())  # type: ignore[attr-defined]
                db_session.commit()
        except Exception:
            logger.exception("could not record the use of a console session")
    return response


def _purge_sessions(uow: UnitOfWork) -> int:
    config = uow.settings
    return sessions.purge(uow.session, uow.clock.now(),
                          idle=dt.timedelta(minutes=config.session_idle_minutes),
                          absolute=dt.timedelta(hours=config.session_absolute_hours))


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
    if app_settings.database_replica_url:
        db.replica = Replica(app_settings.database_replica_url,
                             max_lag_seconds=app_settings.replica_max_lag_seconds,
                             session_info={"gxp_db": db})
        app.after_request(replica_routing.read_source_headers)
    app.extensions["gxpbridge.db"] = db
    app.session_interface = ConsoleSessionInterface()
    app.url_map.converters["id"] = IdConverter
    if app_settings.base_url.startswith("https://"):
        app.config["SESSION_COOKIE_SECURE"] = True
    if app_settings.trusted_proxies:
        hops = app_settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops,  # type: ignore[method-assign]
                                x_host=hops, x_port=hops, x_prefix=hops)
    app.after_request(_touch_session)
    register_sweep(app, "core.console_sessions_purge", _purge_sessions, 3600)
    # Sign the audit chain's head regularly, so a quiet site's last rows are anchored too.
    register_sweep(app, "core.audit_checkpoint", audit.write_checkpoint,
                   app_settings.audit_checkpoint_seconds)
    app.register_error_handler(DomainError, _domain_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)
    app.register_blueprint(bp)
    headers.init_app(app)

    @app.context_processor
    def _template_globals() -> dict[str, Any]:
        try:
            actor = current_actor(optional=True)
        except DomainError:
            actor = None
        return {"site_name": app_settings.site_name, "csrf_token": csrf_token, "actor": actor}


def create_core_app(settings: Settings | None = None, *, clock: Clock | None = None,
                    **overrides: Any) -> Flask:
    """A Flask app with the core only: settings, clock, database, sessions, headers, core routes.

    :func:`bridge.app.create_app` adds every package to it. The command line builds this one
    alone for the commands that touch nothing but core records (``user token`` and the like):
    importing and wiring every package costs seconds a one-line command should not pay.
    """
    if settings is None:
        settings = Settings(**overrides)
    elif overrides:
        # Validate the overrides like environment values (paths, URLs), not as raw attributes.
        settings = Settings.model_validate({**settings.model_dump(), **overrides})
    settings.instance_path.mkdir(parents=True, exist_ok=True)
    app = Flask("bridge", instance_path=str(settings.instance_path.resolve()))
    app.config.update(
        SECRET_KEY=settings.resolved_secret_key(),
        TESTING=settings.testing,
        JSON_SORT_KEYS=False,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        MAX_CONTENT_LENGTH=256 * 1024 * 1024,
        LTI_MAX_TOKEN_AGE=settings.lti_max_token_age,
    )
    logging.getLogger("bridge").setLevel(settings.log_level)
    init_app(app, settings, clock or SystemClock())
    return app
