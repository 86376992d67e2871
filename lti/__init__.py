"""Package `lti` of GxP Bridge: the LTI 1.3 Advantage tool.

Learners launch their training from the LMS (Moodle, Canvas, Open edX), sign
read-and-understood with an e-signature, and the LMS gradebook receives the score.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask

logger = logging.getLogger(__name__)


def tool_base_url() -> str:
    """The public base URL of this tool (``LTI_BASE_URL`` in the app config, else the site's)."""
    from flask import current_app

    return (current_app.config.get("LTI_BASE_URL")
            or current_app.extensions["gxpbridge.settings"].base_url).rstrip("/")


def _purge_expired_state(uow: Any) -> int:
    from sqlalchemy import delete

    from lti.models import LtiStateEntry

    removed = uow.session.execute(delete(LtiStateEntry).where(LtiStateEntry.expires_at <= uow.clock.now()))
    if removed.rowcount:
        logger.info("purged %d expired LTI state entries", removed.rowcount)
    return int(removed.rowcount or 0)


def _demo(uow: Any) -> None:
    from lti import keys

    if keys.active_key(uow.session) is None:
        with uow.because("demo: the LTI tool's first signing key"):
            keys.create_key(uow)


def init_app(app: Flask) -> None:
    """Register the package's routes, commands and event handlers on ``app``."""
    from bridge.core import outbox
    from bridge.core.demo import register_loader
    from bridge.core.jobs import register_sweep
    from lti import (
        models,  # noqa: F401 - tables for the shared metadata
        services,
    )
    from lti.cli import lti_group
    from lti.views import bp

    app.register_blueprint(bp)
    if "lti" not in app.cli.commands:
        app.cli.add_command(lti_group)
    outbox.register_sender(services.AGS_TOPIC, services.send_score)
    outbox.register_sender(services.NRPS_TOPIC, services.send_roster_sync)
    register_sweep(app, "lti-purge-expired-state", _purge_expired_state, 900)
    register_loader(app, _demo)
