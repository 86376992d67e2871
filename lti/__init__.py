"""Package `lti` of GxP Bridge."""

from __future__ import annotations

import logging

from flask import Flask

logger = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    """Register the package's routes, commands and event handlers on ``app``."""
