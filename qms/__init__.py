"""The quality domain, one subpackage per feature: organisation, documents and versions, change
control, training (matrix, assignments, completions, compliance and as-of), CAPA, deviations and
reports (REST API under ``/api/v1``).
"""

from __future__ import annotations

import logging

from flask import Flask

from bridge.core.console import register_menu
from bridge.core.demo import register_loader
from bridge.core.jobs import register_sweep
from bridge.core.outbox import register_sender
from bridge.core.pages.exports_jobs import register_export
from bridge.core.web import register_policy
from qms import cli, demo_year, sweeps
from qms import console as qms_console

# Every feature's models register their tables; every views module declares its routes on
# ``qms.api.api`` (the blueprint is built from the declarations once they are all imported).
from qms import views as _meta_views  # noqa: F401
from qms.api import api
from qms.capa import console as capa_console
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
from qms.notifications import delivery as notification_delivery
from qms.notifications import models as _notification_models  # noqa: F401
from qms.notifications import services as notification_services
from qms.notifications import sweeps as notification_sweeps
from qms.notifications import views as _notification_views  # noqa: F401
from qms.notifications import webhooks as notification_webhooks
from qms.notifications.policy import NotifyPolicy
from qms.onboarding import cli as onboarding_cli
from qms.onboarding import models as _onboarding_models  # noqa: F401
from qms.onboarding import views as _onboarding_views  # noqa: F401
from qms.org import models as _org_models  # noqa: F401
from qms.org import supervisors as _org_supervisors  # noqa: F401
from qms.org import views as _org_views  # noqa: F401
from qms.policy import QmsPolicy
from qms.provisioning import cli as provisioning_cli
from qms.provisioning import models as _provisioning_models  # noqa: F401
from qms.provisioning import views as provisioning_views
from qms.reports import console as reports_console
from qms.reports import console_views as report_pages
from qms.reports import views as _report_views  # noqa: F401
from qms.roles import READERS
from qms.sessions import models as _session_models  # noqa: F401
from qms.sessions import views as _session_views  # noqa: F401
from qms.training import evidence_models as _evidence_models  # noqa: F401
from qms.training import evidence_views as _evidence_views  # noqa: F401
from qms.training import mapping_pages as evidence_pages
from qms.training import matrix_console
from qms.training import matrix_views as _matrix_views  # noqa: F401
from qms.training import models as _training_models  # noqa: F401
from qms.training import views as _training_views  # noqa: F401

logger = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    """Register the package's routes, sweeps, commands and demo loaders on ``app``."""
    app.register_blueprint(api.blueprint())
    app.register_blueprint(provisioning_views.bp)
    qms_console.init_app(app)
    register_policy(app, QmsPolicy())
    for name, seconds in sweeps.INTERVALS.items():
        register_sweep(app, f"qms.{name}", sweeps.SWEEPS[name], seconds)
    notify_policy = NotifyPolicy()
    register_policy(app, notify_policy)
    register_sweep(app, "qms.notify", notification_sweeps.notify, notify_policy.sweep_seconds)
    register_sender(notification_services.EMAIL_TOPIC, notification_delivery.send_email)
    register_sender(notification_webhooks.WEBHOOK_TOPIC, notification_webhooks.send_webhook)
    if "qms" not in app.cli.commands:
        cli.qms_group.add_command(provisioning_cli.scim_client_group)
        cli.qms_group.add_command(onboarding_cli.import_documents)
        cli.qms_group.add_command(onboarding_cli.import_training)
        app.cli.add_command(cli.qms_group)
    register_loader(app, demo_year.load)
    app.register_blueprint(report_pages.pages)
    register_export(app, "inspection-pdf", report_pages.export_pdf)
    register_menu(app, "Reports", "Inspection questions", "inspection_console.index",
                  roles=READERS, order=5)
    app.register_blueprint(evidence_pages.pages)
    register_menu(app, "Records", "Unmapped xAPI actors and activities", "evidence_console.inbox",
                  roles=READERS, order=30)
    for console in (capa_console, deviations_console, matrix_console, reports_console):
        console.init_app(app)  # each feature's console pages and menu entries
