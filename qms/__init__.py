"""The quality domain: organisation, documents and versions, change control, the training
matrix, assignments, completions and the maintained compliance state (REST API under
``/api/v1``).
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from pathlib import Path

from flask import Flask

logger = logging.getLogger(__name__)


def _import_views() -> None:
    """Import every ``qms`` module whose name ends in ``views`` (they declare routes on ``qms.api.api``)."""
    for module in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if module.name.endswith("views"):
            importlib.import_module(f"qms.{module.name}")


def init_app(app: Flask) -> None:
    """Register the package's routes, sweeps, commands and demo loader on ``app``."""
    from bridge.core.demo import register_loader
    from bridge.core.jobs import register_sweep
    from bridge.core.web import register_policy
    from qms import capa, cli, demo_plant, models, sweeps  # noqa: F401 - models register their tables
    from qms.api import api
    from qms.policy import QmsPolicy

    _import_views()
    app.register_blueprint(api.blueprint())
    register_policy(app, QmsPolicy())
    for name, seconds in sweeps.INTERVALS.items():
        register_sweep(app, f"qms.{name}", sweeps.SWEEPS[name], seconds)
    if "qms" not in app.cli.commands:
        app.cli.add_command(cli.qms_group)
    register_loader(app, demo_plant.load)
    register_loader(app, capa.load_demo)
