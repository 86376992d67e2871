"""The quality domain, one subpackage per feature: organisation, documents and versions, change
control, training (matrix, assignments, completions, compliance and as-of), CAPA, deviations and
reports (REST API under ``/api/v1``).
"""

from __future__ import annotations

import logging

from flask import Flask

from bridge.core.demo import register_loader
from bridge.core.jobs import register_sweep
from bridge.core.web import register_policy
from qms import cli, demo_plant, sweeps
from qms import console as qms_console

# Every feature's models register their tables; every views module declares its routes on
# ``qms.api.api`` (the blueprint is built from the declarations once they are all imported).
from qms import views as _meta_views  # noqa: F401
from qms.api import api
from qms.capa import console as capa_console
from qms.capa import demo as capa_demo
from qms.capa import models as _capa_models  # noqa: F401
from qms.capa import views as _capa_views  # noqa: F401
from qms.changes import models as _change_models  # noqa: F401
from qms.changes import views as _change_views  # noqa: F401
from qms.deviations import console as deviations_console
from qms.deviations import models as _deviation_models  # noqa: F401
from qms.deviations import views as _deviation_views  # noqa: F401
from qms.documents import item_views as _item_views  # noqa: F401
from qms.documents import models as _document_models  # noqa: F401
from qms.documents import views as _document_views  # noqa: F401
from qms.org import models as _org_models  # noqa: F401
from qms.org import views as _org_views  # noqa: F401
from qms.policy import QmsPolicy
from qms.reports import console as reports_console
from qms.reports import views as _report_views  # noqa: F401
from qms.training import evidence_models as _evidence_models  # noqa: F401
from qms.training import evidence_views as _evidence_views  # noqa: F401
from qms.training import matrix_console
from qms.training import matrix_views as _matrix_views  # noqa: F401
from qms.training import models as _training_models  # noqa: F401
from qms.training import views as _training_views  # noqa: F401

logger = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    """Register the package's routes, sweeps, commands and demo loaders on ``app``."""
    app.register_blueprint(api.blueprint())
    qms_console.init_app(app)
    register_policy(app, QmsPolicy())
    for name, seconds in sweeps.INTERVALS.items():
        register_sweep(app, f"qms.{name}", sweeps.SWEEPS[name], seconds)
    if "qms" not in app.cli.commands:
        app.cli.add_command(cli.qms_group)
    register_loader(app, demo_plant.load)
    register_loader(app, capa_demo.load_demo)
    for console in (capa_console, deviations_console, matrix_console, reports_console):
        console.init_app(app)  # each feature's console pages and menu entries
