"""The demo plant's registry: each package adds its part with :func:`register_loader`.

``gxpbridge demo load`` (``bridge/demo.py``) runs the loaders in one unit of work, in
registration order, on a :class:`~bridge.core.clock.MovableClock` of its own that starts
:data:`HISTORY_DAYS` before the present: a loader tells its history by moving that clock forward
through the services (never past the present) and leaves it where it stopped; the last loaders
run at the present. Once loaded, the app's own clock carries on from the present.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Flask

from bridge.core.uow import UnitOfWork

logger = logging.getLogger(__name__)

DemoLoader = Callable[[UnitOfWork], None]

# How far back the demo plant's history starts.
HISTORY_DAYS = 365


def register_loader(app: Flask, loader: DemoLoader) -> None:
    """Add ``loader`` to the demo plant (called from a package's ``init_app``)."""
    loaders: list[DemoLoader] = app.extensions.setdefault("gxpbridge.demo_loaders", [])
    if loader not in loaders:
        loaders.append(loader)


def loaders_of(app: Flask) -> list[DemoLoader]:
    """The registered loaders, in order."""
    return list(app.extensions.get("gxpbridge.demo_loaders", []))
