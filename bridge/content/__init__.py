"""Content packages: SCORM 1.2, SCORM 2004 (2nd, 3rd, 4th editions) and cmi5 — import, a player,
and their results as xAPI statements the bridge turns into evidence (see docs/content.md).

Imports qms (training item versions) and xapi (the record store's functions); nothing imports it
but the app. The LTI learner page links to ``/content/start/...`` by URL only.
"""

from __future__ import annotations

import logging

from flask import Flask

from bridge.content import (
    cmi5_views,  # noqa: F401  (routes on bp)
    models,  # noqa: F401  (tables on the shared metadata)
)
from bridge.content.cli import course_group
from bridge.content.packages import ContentLimits
from bridge.content.views import bp
from bridge.core.web import register_policy

logger = logging.getLogger(__name__)

PLAY_PREFIX = "/play/"


def init_app(app: Flask) -> None:
    """Register the player and start routes, the ``course`` commands and the limits; keep the
    console session away from ``/play/`` (the REST import route is on qms's registry, declared
    when this package is imported).
    """
    if "content" not in app.blueprints:
        app.register_blueprint(bp)
    if "course" not in app.cli.commands:
        app.cli.add_command(course_group)
    register_policy(app, ContentLimits())
    interface = app.session_interface
    prefixes = getattr(interface, "stateless_prefixes", None)
    if prefixes is not None and PLAY_PREFIX not in prefixes:
        interface.stateless_prefixes = (*prefixes, PLAY_PREFIX)  # type: ignore[attr-defined]
