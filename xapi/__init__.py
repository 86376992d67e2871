"""The xAPI Learning Record Store (xAPI 1.0.3 and 2.0.0), mounted at ``/xapi``."""

from __future__ import annotations

import logging

from flask import Flask
from sqlalchemy import event

from bridge.core.console import register_menu
from bridge.core.demo import register_loader
from bridge.core.web import register_policy

# Models on the shared metadata at import time, so Alembic sees them without an app.
from xapi import auth, store  # noqa: F401  isort: skip
from xapi import views, views_state_profiles, views_statements  # noqa: F401  (routes on bp)
from xapi.alternate import AlternateRequestSyntax
from xapi.blueprint import bp
from xapi.cli import lrs_group
from xapi.console_views import ADMINS, STATEMENT_READERS
from xapi.console_views import pages as console_pages
from xapi.demo import load_demo
from xapi.limits import LrsLimits

logger = logging.getLogger(__name__)

# SQLite, per connection. The page cache holds the B-tree pages a write dirties; the memory map
# lets reads use the operating system's page cache without copying. Both count in a process's
# resident memory (the map as file-mapped pages, shared with every process mapping the file):
# with a 1 GiB map and a 128 MiB cache a served instance grew to 554 MB. 4 MiB of cache
# (1,024 pages of 4 KiB) still holds every page one batch of 100 statements dirties (about 530),
# and the map covers the statement indexes' upper levels that every query walks; past it,
# SQLite reads through the operating system's cache, which it shares with every process.
# Each server process keeps a write and a read connection, and each fills its cache on a large
# store: at 200,000 statements 16 MiB made the instance 213 MB of PSS, 4 MiB 182 MB, with the
# same batch rate (bench/lrs.py, docs/xapi.md). A process's cache is also dropped whenever
# another process wrote, so a larger one buys little.
SQLITE_CACHE_KIB = 4 * 1024
SQLITE_MMAP_BYTES = 64 * 1024 * 1024


def init_app(app: Flask) -> None:
    """Register the ``/xapi`` blueprint, the ``lrs`` commands and the demo loader on ``app``."""
    if "xapi" not in app.blueprints:
        app.register_blueprint(bp)
        app.wsgi_app = AlternateRequestSyntax(app.wsgi_app)  # type: ignore[method-assign]
    if "records_console" not in app.blueprints:
        app.register_blueprint(console_pages)
        register_menu(app, "Records", "Statements (xAPI)", "records_console.statements",
                      roles=STATEMENT_READERS, order=20)
        register_menu(app, "Administration", "LRS credentials", "records_console.credentials",
                      roles=ADMINS, order=20)
    if "lrs" not in app.cli.commands:
        app.cli.add_command(lrs_group)
    register_policy(app, LrsLimits())
    _tune_sqlite(app)
    register_loader(app, load_demo)


def _tune_sqlite(app: Flask) -> None:
    """Give each SQLite connection the page cache and memory map sized above.

    The filter rows are keyed by digests, so inserts land on random pages of a large B-tree:
    with SQLite's default 2 MB cache nearly each one is a read from the operating system.
    """
    db = app.extensions["gxpbridge.db"]
    if db.dialect != "sqlite" or getattr(db, "_xapi_tuned", False):
        return

    @event.listens_for(db.engine, "connect")
    def _pragmas(dbapi_conn: object, _record: object) -> None:
        cursor = dbapi_conn.cursor()  # type: ignore[attr-defined]
        cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
        cursor.execute("PRAGMA temp_store=MEMORY")
        # The WAL checkpoint interval is the core's (bridge.core.db): it depends on whether a
        # background checkpointer runs, which this hook cannot know.
        cursor.close()

    db._xapi_tuned = True
