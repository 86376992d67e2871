"""The quality system's console pages: each feature's blueprint, its menu entries and dashboard
cards with the roles that see them (see docs/console.md).
"""

from __future__ import annotations

from flask import Flask

from bridge.core.console import register_card, register_menu
from qms.changes import console as changes_console
from qms.documents import console as documents_console
from qms.onboarding import console as onboarding_console
from qms.org import console as people_console
from qms.roles import APPROVERS, READERS
from qms.training import cards
from qms.training import console as training_console


def init_app(app: Flask) -> None:
    """Register the quality system's console pages, menus and cards on ``app``."""
    for module in (documents_console, changes_console, people_console, training_console):
        app.register_blueprint(module.pages)
    register_menu(app, "Documents", "Document register", "documents_console.register",
                  roles=READERS, order=10)
    register_menu(app, "Change control", "Change controls", "changes_console.index", roles=READERS, order=10)
    register_menu(app, "Training", "Assignments", "training_console.assignments", roles=READERS, order=10)
    register_menu(app, "Training", "My training", "training_console.mine", order=90)
    register_menu(app, "People", "People", "people_console.index", roles=READERS, order=10)
    onboarding_console.init_app(app)

    register_card(app, "qms.compliance", "Compliance by department and job function",
                  "console/cards/compliance.html", cards.load_compliance, roles=READERS, order=10, wide=True,
                  cache_seconds=60)
    register_card(app, "qms.due", "Overdue and due soon", "console/cards/due.html", cards.load_due,
                  roles=READERS, order=20)
    register_card(app, "qms.approvals", "My approvals waiting", "console/cards/approvals.html",
                  cards.load_approvals, roles=APPROVERS, order=5)
    register_card(app, "qms.approaching", "Versions approaching their effective date",
                  "console/cards/approaching.html", cards.load_approaching, roles=READERS, order=30)
    register_card(app, "qms.capa_training", "Open CAPAs waiting on training", "console/cards/capa.html",
                  cards.load_capa_training, roles=READERS, order=40)
    register_card(app, "qms.mine", "My training", "console/cards/mine.html", cards.load_mine, order=50)
