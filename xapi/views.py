"""xAPI resources other than statements and documents: About, Activities, Agents."""

from __future__ import annotations

import logging
from typing import Any

from flask import jsonify

from xapi.blueprint import SUPPORTED_VERSIONS, bp

logger = logging.getLogger(__name__)


@bp.get("/about")
def about() -> Any:
    """The versions this LRS speaks (no authentication needed)."""
    return jsonify({"version": list(SUPPORTED_VERSIONS), "extensions": {}})
