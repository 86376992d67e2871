"""The rules that make one system of the others: quality events and stored statements
become training obligations and evidence, in the same transaction.
"""

from __future__ import annotations

import logging

from flask import Flask

logger = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    """Subscribe the rules' handlers to the domain events they listen to."""
