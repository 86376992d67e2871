"""The application factory: wires every package's ``init_app`` into one Flask app."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask

from bridge.core import console as core_console
from bridge.core import pages as core_pages
from bridge.core import web as core_web
from bridge.core.clock import Clock
from bridge.core.settings import Settings

# Model modules must be imported so the shared metadata (and Alembic) know every table.
from bridge.core import accounts, audit, outbox, people, signatures  # noqa: F401  isort: skip

import lti
import qms
import xapi
from bridge import cli, content, metrics, rules

logger = logging.getLogger(__name__)


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
    content.init_app(app)  # content packages: import, /play/ player, runtime -> statements
    rules.init_app(app)
    cli.init_app(app)
    metrics.init_app(app)  # /metrics (Prometheus)
    return app
