"""The quality console's shell at ``/console/``: layout, navigation registry, dashboard composed of
the cards packages register, the page decorator (sign-in, roles, CSRF, the request's unit of work,
refusals shown as flash messages), tables and the e-signature dialog.

Packages own their pages; they import from here and register their entries in ``init_app``::

    from bridge.core.console import console_page, register_card, register_menu

The API is described in docs/console.md.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar

from flask import (
    Blueprint,
    Flask,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from markupsafe import Markup

from bridge.core import signatures
from bridge.core.actor import Actor
from bridge.core.console import tables
from bridge.core.console.registry import (
    Card,
    MenuEntry,
    cards_for,
    menu_for,
    register_card,
    register_menu,
    register_section,
)
from bridge.core.errors import DomainError, Forbidden, ValidationFailed
from bridge.core.uow import UnitOfWork
from bridge.core.web import (
    SAFE_METHODS,
    check_csrf,
    csrf_token,
    current_actor,
    in_unit_of_work,
    safe_next,
    settings,
)

__all__ = [
    "Card", "MenuEntry", "SignatureInput", "as_of_or_now", "bp", "console_as_of", "console_page",
    "init_app", "read_only_actor", "register_card", "register_menu", "register_section",
    "signature_input", "tables",
]

logger = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates",
               static_folder="static", static_url_path="/static")


def _error_page(exc: DomainError) -> Any:
    title = exc.code.replace("_", " ").capitalize()
    return render_template("console/error.html", title=title, message=exc.message), exc.status


def _back() -> str:
    """Where a refused form post returns: the page it came from (same site only)."""
    referrer = request.referrer or ""
    root = request.host_url.rstrip("/")
    if referrer.startswith(root + "/"):
        return safe_next(referrer[len(root):], request.path)
    return request.path


AS_OF_KEY = "console_as_of"
# Roles that read everything and change nothing (Part 11 inspection): every console write refused.
READ_ONLY_ROLES = frozenset({"auditor"})


def read_only_actor(actor: Actor | None) -> bool:
    """Whether ``actor`` holds only read-only roles (an auditor): no console write is allowed."""
    return actor is not None and actor.kind == "user" and bool(actor.roles) \
        and actor.roles <= READ_ONLY_ROLES


def console_as_of() -> dt.datetime | None:
    """The console-wide inspection moment kept in the console session (UTC), or ``None`` (now).

    Every compliance page answers as of this moment and prints it (docs/console.md).
    """
    raw = session.get(AS_OF_KEY)
    if not raw:
        return None
    try:
        return dt.datetime.fromisoformat(raw).astimezone(dt.UTC)
    except (TypeError, ValueError):
        return None


def as_of_or_now(uow: UnitOfWork) -> dt.datetime:
    """The inspection moment, or the unit of work's clock when inspection mode is off.

    A moment in the future is clamped to now: the records cannot answer for it.
    """
    now = uow.clock.now()
    moment = console_as_of()
    return min(moment, now) if moment is not None else now


def console_page(*roles: str, session_only: bool = False) -> Callable[[F], F]:
    """View decorator for a console page.

    - Not signed in: a redirect to ``/login?next=<this page>``.
    - Signed in without one of ``roles`` (none given: any signed-in user): a 403 page.
    - A POST (any unsafe method) must carry the session's CSRF token (form field ``csrf_token``
      or header ``X-CSRF-Token``), else 400; it runs in a read-write unit of work committed once.
      A :class:`DomainError` (a refused transition, a wrong signing password) rolls it back,
      flashes the message and redirects to the page the form was on (303).
    - A GET runs in a read-only unit of work; a :class:`DomainError` renders the console's error
      page with its status.

    - A write by a read-only actor (an auditor) is refused with 403 unless ``session_only`` (the
      post changes only the user's console session, e.g. the inspection moment).

    The view receives ``uow`` as a keyword argument.
    """

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                actor = current_actor(optional=True)
            except DomainError:
                actor = None
            if actor is None:
                return redirect(url_for("core.login", next=request.full_path.rstrip("?")))
            if roles and not actor.has_role(*roles):
                return render_template(
                    "console/error.html", title="Not allowed",
                    message=f"This page needs one of the roles {', '.join(sorted(roles))}."), 403
            write = request.method not in SAFE_METHODS
            if write:
                check_csrf()
                if read_only_actor(actor) and not session_only:
                    logger.info("console refused a write by read-only %s: %s %s",
                                actor.username, request.method, request.path)
                    return _error_page(Forbidden(
                        "the auditor role reads everything and changes nothing",
                        code="read_only_role"))
            try:
                return in_unit_of_work(
                    lambda uow: current_app.make_response(view(*args, uow=uow, **kwargs)),
                    readonly=not write)
            except DomainError as exc:
                if not write:
                    return _error_page(exc)
                logger.info("console refused %s %s: %s", request.method, request.path, exc.message)
                flash(exc.message, "error")
                response = redirect(_back(), code=303)
                if request.headers.get("HX-Request"):
                    response.headers["HX-Redirect"] = _back()
                return response

        return wrapper  # type: ignore[return-value]

    return decorate


@dataclass(frozen=True)
class SignatureInput:
    """The re-entered credentials of the e-signature dialog (``console/esign.html``)."""

    username: str
    password: str
    comment: str

    def credentials(self) -> dict[str, Any]:
        """Keyword arguments every signing service takes: username, password, lockout threshold."""
        return {"username": self.username, "password": self.password,
                "lockout_threshold": settings().lockout_threshold}


def signature_input(*, comment_required: bool = False) -> SignatureInput:
    """Read the e-signature dialog's fields from the posted form.

    Raises:
        ValidationFailed: The password (or a required comment/reason) is missing.
    """
    username = request.form.get("signer_username", "").strip().lower()
    password = request.form.get("signer_password", "")
    comment = request.form.get("signer_comment", "").strip()
    if not username or not password:
        raise ValidationFailed("re-enter your user name and password to sign", field="password")
    if comment_required and not comment:
        raise ValidationFailed("give the reason for this signature", field="comment")
    return SignatureInput(username, password, comment)


def _menu() -> list[tuple[str, list[tuple[MenuEntry, str, bool]]]]:
    """The signed-in user's navigation with each link's URL and whether it is the current page."""
    actor = current_actor(optional=True)
    sections = menu_for(current_app, actor)
    links: list[tuple[str, list[tuple[MenuEntry, str, bool]]]] = []
    best = ""
    for section, entries in sections:
        row = []
        for entry in entries:
            url = url_for(entry.endpoint, **dict(entry.values))
            row.append((entry, url))
            path = url.split("?")[0]
            if (request.path == path or request.path.startswith(path.rstrip("/") + "/")) \
                    and len(path) > len(best):
                best = path
        links.append((section, row))
    return [(section, [(e, u, u.split("?")[0] == best) for e, u in row]) for section, row in links]


@bp.get("/")
@console_page()
def dashboard(uow: UnitOfWork) -> Any:
    """The dashboard: the cards the signed-in user's roles see, each from its package's loader."""
    rendered = []
    for card in cards_for(current_app, uow.actor):
        try:
            data = _card_data(card, uow)
        except DomainError as exc:
            data = {"unavailable": exc.message}
        except Exception:  # one broken card must not take the whole dashboard down
            logger.exception("dashboard card %s failed", card.key)
            data = {"unavailable": "this card could not be loaded; the error was logged"}
        rendered.append((card, data))
    return render_template("console/dashboard.html", cards=rendered)


def _parse_moment(raw: str) -> dt.datetime:
    """A moment typed in the inspection form (``YYYY-MM-DDTHH:MM``, a date, ISO 8601), as UTC."""
    raw = raw.strip()
    try:
        moment = dt.datetime.fromisoformat(raw)
    except ValueError as exc:
        raise ValidationFailed("give the inspection moment as YYYY-MM-DD HH:MM (UTC)",
                               field="as_of") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


@bp.post("/as-of")
@console_page(session_only=True)
def set_as_of(uow: UnitOfWork) -> Any:
    """Enter, change or leave inspection mode: the console-wide "as of" moment."""
    if request.form.get("clear"):
        session.pop(AS_OF_KEY, None)
        flash("Inspection mode off: pages answer as of now.")
    else:
        moment = _parse_moment(request.form.get("as_of", ""))
        if moment > uow.clock.now():
            raise ValidationFailed("the inspection moment must be in the past", field="as_of")
        session[AS_OF_KEY] = moment.isoformat()
        flash(f"Inspection mode: pages answer as of {moment:%Y-%m-%d %H:%M} UTC.")
    return redirect(_back(), code=303)


def _console_user() -> Actor | None:
    """The signed-in user, for macros imported without the page's context."""
    try:
        return current_actor(optional=True)
    except DomainError:
        return None


CARD_CACHE_KEY = "gxpbridge.console.card_cache"


def _card_data(card: Card, uow: UnitOfWork) -> dict[str, Any]:
    """The card's figures: from its loader, or from the process's cache while still fresh."""
    cache: dict[str, tuple[Any, dict[str, Any]]] = current_app.extensions.setdefault(CARD_CACHE_KEY, {})
    now = uow.clock.now()
    if card.cache_seconds:
        hit = cache.get(card.key)
        if hit is not None and 0 <= (now - hit[0]).total_seconds() < card.cache_seconds:
            return hit[1]
    with uow.savepoint():
        data = card.load(uow)
    if card.cache_seconds:
        cache[card.key] = (now, data)
    return data


def _load_me(uow: UnitOfWork) -> dict[str, Any]:
    return {"actor": uow.actor}


def init_app(app: Flask) -> None:
    """Serve the console shell and give templates its helpers."""
    app.register_blueprint(bp)
    register_menu(app, "Overview", "Dashboard", "console.dashboard", order=0)
    register_card(app, "core.me", "Signed in", "console/cards/me.html", _load_me, order=999)
    app.jinja_env.globals.update(
        console_menu=_menu, url_with=tables.url_with, sort_link=tables.sort_link,
        signature_meanings=signatures.MEANINGS, csrf_token=csrf_token, console_user=_console_user,
        console_as_of=console_as_of,
    )
    app.jinja_env.filters["utc"] = _utc


def _utc(value: Any, fmt: str = "%Y-%m-%d %H:%M UTC") -> Markup | str:
    """Format a datetime in UTC (``{{ v|utc }}``); empty for ``None``; a date as ISO."""
    if value is None:
        return ""
    if hasattr(value, "hour"):
        return value.strftime(fmt)
    return value.isoformat() if hasattr(value, "isoformat") else str(value)
