"""The xAPI Learning Record Store (xAPI 1.0.3 and 2.0.0), mounted at ``/xapi``."""

from __future__ import annotations

import importlib
import importlib.util
import logging

from flask import Flask

# Models on the shared metadata at import time, so Alembic sees them without an app.
from xapi import auth, store  # noqa: F401  isort: skip

logger = logging.getLogger(__name__)

# Modules registering routes on ``xapi.blueprint.bp``; a module not written yet is skipped.
VIEW_MODULES = ("xapi.views", "xapi.views_statements", "xapi.views_documents")


def init_app(app: Flask) -> None:
    """Register the ``/xapi`` blueprint, the ``lrs`` commands and the demo loader on ``app``."""
    from bridge import demo
    from xapi.blueprint import bp
    from xapi.cli import lrs_group

    for name in VIEW_MODULES:
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name)
    if "xapi" not in app.blueprints:
        from xapi.alternate import AlternateRequestSyntax

        app.register_blueprint(bp)
        app.wsgi_app = AlternateRequestSyntax(app.wsgi_app)  # type: ignore[method-assign]
    if "lrs" not in app.cli.commands:
        app.cli.add_command(lrs_group)
    from xapi.demo import load_demo

    demo.register_loader(app, load_demo)
