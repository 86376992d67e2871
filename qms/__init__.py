"""The quality domain: organisation, documents and versions, change control, the training
matrix, assignments, completions and the maintained compliance state (REST API under
``/api/v1``).
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from collections.abc import Callable
from pathlib import Path

from flask import Flask

logger = logging.getLogger(__name__)


def _import_views() -> None:
    """Import every ``qms`` module whose name ends in ``views`` (they declare routes on ``qms.api.api``)."""
    for module in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if module.name.endswith("views"):
            importlib.import_module(f"qms.{module.name}")


def _sweep_runner(app: Flask, name: str) -> Callable[[], None]:
    def run() -> None:
        from bridge.core.actor import SYSTEM
        from bridge.core.uow import UnitOfWork
        from bridge.core.web import database
        from qms import sweeps

        with UnitOfWork(database(), SYSTEM) as uow:
            outcome = sweeps.SWEEPS[name](uow)
            uow.commit()
        logger.info("qms sweep %s: %s", name, outcome)

    run.__name__ = f"qms_{name}_sweep"
    return run


def init_app(app: Flask) -> None:
    """Register the package's routes, sweeps, commands and demo loader on ``app``."""
    from bridge import demo
    from qms import cli, demo_plant, models, sweeps  # noqa: F401 - models register their tables
    from qms.api import api

    _import_views()
    app.register_blueprint(api.blueprint())
    registered = app.extensions.setdefault("gxpbridge.sweeps", [])
    for name, seconds in sweeps.INTERVALS.items():
        registered.append((f"qms.{name}", _sweep_runner(app, name), seconds))
    if "qms" not in app.cli.commands:
        app.cli.add_command(cli.qms_group)
    demo.register_loader(app, demo_plant.load)
    from qms import capa

    demo.register_loader(app, capa.load_demo)
