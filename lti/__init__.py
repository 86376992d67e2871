"""Package `lti` of GxP Bridge: the LTI 1.3 Advantage tool.

Learners launch their training from the LMS (Moodle, Canvas, Open edX), sign
read-and-understood with an e-signature, and the LMS gradebook receives the score.
"""

from __future__ import annotations

import logging

from flask import Flask
from sqlalchemy import delete

from bridge.core import outbox
from bridge.core.demo import register_loader
from bridge.core.headers import register_csp
from bridge.core.jobs import register_sweep
from bridge.core.uow import UnitOfWork
from lti import console as lti_console
from lti import keys, services
from lti.cli import lti_group
from lti.models import LtiStateEntry
from lti.views import bp, page_policy, tool_base_url

__all__ = ["init_app", "tool_base_url"]

logger = logging.getLogger(__name__)


def _purge_expired_state(uow: UnitOfWork) -> int:
    removed = uow.session.execute(delete(LtiStateEntry).where(LtiStateEntry.expires_at <= uow.clock.now()))
    if removed.rowcount:  # type: ignore[attr-defined]
        logger.info("purged %d expired LTI state entries", removed.rowcount)  # type: ignore[attr-defined]
    return int(removed.rowcount or 0)  # type: ignore[attr-defined]


def _demo(uow: UnitOfWork) -> None:
    if keys.active_key(uow.session) is None:
        with uow.because("demo: the LTI tool's first signing key"):
            keys.create_key(uow)


def init_app(app: Flask) -> None:
    """Register the package's routes, commands and event handlers on ``app``."""
    app.register_blueprint(bp)
    register_csp(app, "/lti/", page_policy)
    # The LMS administration pages (platforms, registration links, deployments, rosters, the
    # deliveries to the LMS) and the account matches: console pages, in its navigation.
    lti_console.init_app(app)
    if "lti" not in app.cli.commands:
        app.cli.add_command(lti_group)
    outbox.register_sender(services.AGS_TOPIC, services.send_score)
    outbox.register_sender(services.NRPS_TOPIC, services.send_roster_sync)
    register_sweep(app, "lti-purge-expired-state", _purge_expired_state, 900)
    register_loader(app, _demo)
