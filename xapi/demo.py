"""The LRS part of the demo plant: a published demo credential and a few statements."""

from __future__ import annotations

import logging

from flask import current_app

from bridge.core.uow import UnitOfWork
from bridge.core.web import settings
from xapi import auth

logger = logging.getLogger(__name__)

# Published demo credential (documented in docs/xapi.md); never use it outside the demo.
DEMO_CREDENTIAL = "demo-lrs"
DEMO_KEY = "demo-lrs-key"
DEMO_SECRET = "demo-lrs-secret-2026"  # noqa: S105 - published demo credential


def load_demo(uow: UnitOfWork) -> None:
    """Create the ``demo-lrs`` credential (key ``demo-lrs-key``)."""
    auth.create_credential(uow, DEMO_CREDENTIAL, scopes=["all"], pepper=current_app.config["SECRET_KEY"],
                           home_page=settings().base_url, key=DEMO_KEY, secret=DEMO_SECRET)
