"""``gxpbridge demo load``: a small demo plant so a newcomer sees the product working.

Each package adds its part of the plant through ``app.extensions["gxpbridge.demo_loaders"]``;
loaders run in one transaction, in registration order, and are skipped when the demo was
already loaded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from bridge.core import accounts
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

DemoLoader = Callable[[UnitOfWork], None]


def load_users(uow: UnitOfWork) -> None:
    """Create the demo accounts."""
    for username, name, roles, email in DEMO_USERS:
        accounts.create_user(uow, username, roles=roles, password=DEMO_PASSWORD,
                             display_name=name, email=email)


def register_loader(app: object, loader: DemoLoader) -> None:
    """Add ``loader`` to the demo plant (called from a package's ``init_app``)."""
    app.extensions.setdefault("gxpbridge.demo_loaders", []).append(loader)  # type: ignore[attr-defined]


@click.group("demo")
def demo_group() -> None:
    """The demo plant."""


@demo_group.command("load")
@with_appcontext
def demo_load() -> None:
    """Load the demo plant (once; a second run changes nothing)."""
    from bridge.cli import cli_uow, command_errors

    @command_errors
    def run() -> None:
        with cli_uow() as uow:
            if uow.session.scalar(select(accounts.UserAccount.id).where(
                    accounts.UserAccount.username == "admin")):
                click.echo("demo plant already loaded")
                return
            load_users(uow)
            for loader in current_app.extensions.get("gxpbridge.demo_loaders", []):
                loader(uow)
            uow.commit()
        click.echo("demo plant loaded")
        click.echo(f"users: {', '.join(u[0] for u in DEMO_USERS)}; password for each: {DEMO_PASSWORD}")

    run()
