"""The core's console pages: the audit trail viewer and administration (users, roles, lockouts,
API tokens, policy). Registered under the console's "Records" and "Administration" sections.
"""

from __future__ import annotations

from flask import Flask

from bridge.core.console import register_menu
from bridge.core.pages import admin_views, audit_views, exports_jobs


def init_app(app: Flask) -> None:
    """Serve the audit trail and administration pages and add them to the navigation."""
    app.register_blueprint(audit_views.pages)
    app.register_blueprint(admin_views.pages)
    exports_jobs.init_app(app)
    register_menu(app, "Records", "Audit trail", "audit_console.trail",
                  roles=audit_views.AUDIT_READERS, order=10)
    register_menu(app, "Records", "Verify the audit chain", "audit_console.verify",
                  roles=audit_views.AUDIT_READERS, order=11)
    register_menu(app, "Administration", "Users and roles", "admin_console.users",
                  roles=admin_views.ADMINS, order=10)
    register_menu(app, "Administration", "Policy settings", "admin_console.policy",
                  roles=(*admin_views.ADMINS, "auditor"), order=50)
