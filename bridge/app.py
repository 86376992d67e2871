"""The application factory: wires every package's ``init_app`` into one Flask app."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, request
from sqlalchemy import select

from bridge.core import console as core_console
from bridge.core import headers
from bridge.core import pages as core_pages
from bridge.core import web as core_web
from bridge.core.clock import Clock
from bridge.core.settings import Settings

# Model modules must be imported so the shared metadata (and Alembic) know every table.
from bridge.core import accounts, audit, outbox, people, signatures  # noqa: F401  isort: skip

import lti
import qms
import xapi
from bridge import cli, metrics, rules
from lti.models import LtiPlatform

logger = logging.getLogger(__name__)


def _lti_page_policy() -> dict[str, str]:
    """What the LTI pages need from the Content-Security-Policy (see bridge.core.headers).

    Transitional wiring, to move into ``lti.init_app``: launch pages open inside the LMS page, so
    the active platforms' origins may frame them and receive their forms (deep-linking return);
    the Dynamic Registration page is framed by the platform registering. ``'unsafe-inline'``
    keeps the two inline scripts of the LTI templates running until they carry
    ``nonce="{{ csp_nonce() }}"`` (browsers ignore it as soon as a nonce is present).
    """
    if request.path.startswith("/lti/admin/"):
        return {}
    with core_web.database().read_sessions() as session:
        rows = session.execute(
            select(LtiPlatform.issuer, LtiPlatform.auth_login_url).where(LtiPlatform.active)
        ).all()
    origins = [url for row in rows for url in row]
    if request.path.startswith("/lti/register"):
        origins.append(request.values.get("openid_configuration", ""))
    return {**headers.frame_and_post_to(origins), "script-src": "'self' 'unsafe-inline'"}


def create_app(settings: Settings | None = None, *, clock: Clock | None = None, **overrides: Any) -> Flask:
    """Build the GxP Bridge application.

    Args:
        settings: Settings to use; read from ``GXPBRIDGE_*`` environment variables if omitted.
        clock: The clock every unit of work reads (``app.clock``); the system's UTC clock if
            omitted. Tests and the demo pass a :class:`~bridge.core.clock.MovableClock`.
        **overrides: Individual settings to override (tests).

    Returns:
        The configured Flask application.
    """
    app = core_web.create_core_app(settings, clock=clock, **overrides)
    core_console.init_app(app)  # the console shell (/console/); packages register their pages
    core_pages.init_app(app)  # the core's pages: audit trail viewer, administration
    xapi.init_app(app)
    qms.init_app(app)
    lti.init_app(app)
    rules.init_app(app)
    cli.init_app(app)
    metrics.init_app(app)  # /metrics (Prometheus)
    headers.register_csp(app, "/lti/", _lti_page_policy)
    return app
