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
    from bridge.core.demo import register_loader
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
    _tune_sqlite(app)
    from xapi.demo import load_demo

    register_loader(app, load_demo)


def _tune_sqlite(app: Flask) -> None:
    """Give each SQLite connection a page cache and memory map fit for the statement indexes.

    The filter rows are keyed by digests, so inserts land on random pages of a large B-tree:
    with SQLite's default 2 MB cache nearly each one is a read from the operating system.
    """
    from sqlalchemy import event

    db = app.extensions["gxpbridge.db"]
    if db.dialect != "sqlite" or getattr(db, "_xapi_tuned", False):
        return

    @event.listens_for(db.engine, "connect")
    def _pragmas(dbapi_conn: object, _record: object) -> None:
        cursor = dbapi_conn.cursor()  # type: ignore[attr-defined]
        cursor.execute("PRAGMA cache_size=-131072")  # 128 MiB
        cursor.execute("PRAGMA mmap_size=1073741824")  # 1 GiB of address space, not memory
        cursor.execute("PRAGMA temp_store=MEMORY")
        # The WAL checkpoint interval is the core's (bridge.core.db): it depends on whether a
        # background checkpointer runs, which this hook cannot know.
        cursor.close()

    db._xapi_tuned = True
