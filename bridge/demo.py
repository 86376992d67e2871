"""``gxpbridge demo load``: a small demo plant so a newcomer sees the product working.

Each package adds its part of the plant with ``bridge.core.demo.register_loader``; loaders run
in one transaction, in registration order, and are skipped when the demo was already loaded.
"""

from __future__ import annotations

import logging
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from bridge.core import accounts
from bridge.core.cli import transactional_command
from bridge.core.demo import loaders_of
from bridge.core.uow import UnitOfWork

logger = logging.getLogger(__name__)

DEMO_PASSWORD = "Demo-Password-2026"  # noqa: S105 - published demo credential
DEMO_USERS = (
    ("admin", "Alex Admin", ["administrator"], "alex.admin@demo.example"),
    ("qa.author", "Quinn Author", ["qa_author"], "quinn.author@demo.example"),
    ("qa.approver", "Robin Approver", ["qa_approver"], "robin.approver@demo.example"),
    ("trainer", "Terry Trainer", ["trainer"], "terry.trainer@demo.example"),
    ("supervisor", "Sam Supervisor", ["supervisor"], "sam.supervisor@demo.example"),
    ("operator1", "Olivia Operator", ["learner"], "olivia.operator@demo.example"),
    ("operator2", "Omar Operator", ["learner"], "omar.operator@demo.example"),
    ("auditor", "Ada Auditor", ["auditor"], "ada.auditor@demo.example"),
)

def load_users(uow: UnitOfWork) -> None:
    """Create the demo accounts."""
    for username, name, roles, email in DEMO_USERS:
        accounts.create_user(uow, username, roles=roles, password=DEMO_PASSWORD,
                             display_name=name, email=email)


@click.group("demo")
def demo_group() -> None:
    """The demo plant."""


@demo_group.command("load")
@with_appcontext
@transactional_command
def demo_load(uow: UnitOfWork) -> Any:
    """Load the demo plant (once; a second run changes nothing)."""
    if uow.session.scalar(select(accounts.UserAccount.id).where(accounts.UserAccount.username == "admin")):
        return lambda: click.echo("demo plant already loaded")
    load_users(uow)
    for loader in loaders_of(current_app):
        loader(uow)

    def report() -> None:
        click.echo("demo plant loaded")
        click.echo(f"users: {', '.join(u[0] for u in DEMO_USERS)}; password for each: {DEMO_PASSWORD}")

    return report
