"""The quality console's shell at ``/console/``: layout, navigation registry, dashboard composed of
the cards packages register, the page decorator (sign-in, roles, CSRF, the request's unit of work,
refusals shown as flash messages), tables and the e-signature dialog.

Packages own their pages; they import from here and register their entries in ``init_app``::

    from bridge.core.console import console_page, register_card, register_menu

The API is described in docs/console.md.
"""

from __future__ import annotations

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
from bridge.core.errors import DomainError, ValidationFailed
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
    "Card", "MenuEntry", "SignatureInput", "bp", "console_page", "init_app", "register_card",
    "register_menu", "register_section", "signature_input", "tables",
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


def console_page(*roles: str) -> Callable[[F], F]:
    """View decorator for a console page.

    - Not signed in: a redirect to ``/login?next=<this page>``.
    - Signed in without one of ``roles`` (none given: any signed-in user): a 403 page.
    - A POST (any unsafe method) must carry the session's CSRF token (form field ``csrf_token``
      or header ``X-CSRF-Token``), else 400; it runs in a read-write unit of work committed once.
      A :class:`DomainError` (a refused transition, a wrong signing password) rolls it back,
      flashes the message and redirects to the page the form was on (303).
    - A GET runs in a read-only unit of work; a :class:`DomainError` renders the console's error
      page with its status.

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
    )
    app.jinja_env.filters["utc"] = _utc


def _utc(value: Any, fmt: str = "%Y-%m-%d %H:%M UTC") -> Markup | str:
    """Format a datetime in UTC (``{{ v|utc }}``); empty for ``None``; a date as ISO."""
    if value is None:
        return ""
    if hasattr(value, "hour"):
        return value.strftime(fmt)
    return value.isoformat() if hasattr(value, "isoformat") else str(value)
