"""``gxpbridge demo load``: a demo plant with a year of history, so a newcomer sees the product
working as it would at a site that has used it for a year.

Each package adds its part of the plant with ``bridge.core.demo.register_loader``; loaders run
in one transaction, in registration order, on a movable clock that starts
``bridge.core.demo.HISTORY_DAYS`` before the app's present and that the loaders walk forward to
it. They are skipped when the demo was already loaded.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import func, select

from bridge.core import accounts
from bridge.core.cli import command_errors, in_command_unit_of_work
from bridge.core.clock import MovableClock
from bridge.core.db import Base
from bridge.core.demo import HISTORY_DAYS, loaders_of
from bridge.core.uow import UnitOfWork
from bridge.core.web import database

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


def load_plant(uow: UnitOfWork) -> None:
    """Load the demo users and every package's part of the plant (on ``uow``'s clock, which
    stands :data:`~bridge.core.demo.HISTORY_DAYS` before the present).
    """
    with uow.because("demo plant"):
        load_users(uow)
        for loader in loaders_of(current_app):
            loader(uow)


def summary(session: Any, present: dt.datetime) -> list[str]:
    """What the demo plant holds, one line per kind of record (read by table name: this command
    module is imported by core-only commands too, which must not load the packages).
    """
    tables = Base.metadata.tables

    def count(name: str, *where: Any) -> int:
        return session.scalar(select(func.count()).select_from(tables[name]).where(*where)) or 0

    assignment = tables["qms_assignment"]
    by_status = dict(
        session.execute(select(assignment.c.status, func.count()).group_by(assignment.c.status)).all()
    )
    soon = present + dt.timedelta(days=30)
    due_soon = count("qms_assignment", assignment.c.status == "open", assignment.c.due_at <= soon)
    return [
        f"history: {HISTORY_DAYS} days, up to {present:%Y-%m-%d %H:%M} UTC",
        f"people: {count('person')}; document versions: {count('qms_document_version')}; "
        f"change controls: {count('qms_change_control')}",
        "assignments: " + ", ".join(f"{n} {status}" for status, n in sorted(by_status.items()))
        + f" ({due_soon} open due within 30 days)",
        f"completions: {count('qms_completion')}; e-signatures: {count('electronic_signature')}",
        f"deviations: {count('qms_deviation')}; CAPAs: {count('qms_capa')}; "
        f"xAPI statements: {count('xapi_statement')}",
        f"audit events: {count('audit_event')}",
    ]


@demo_group.command("load")
@with_appcontext
@command_errors
def demo_load() -> None:
    """Load the demo plant with a year of history (once; a second run changes nothing)."""
    db = database()
    with db.read_sessions() as session:
        if session.scalar(select(accounts.UserAccount.id).where(accounts.UserAccount.username == "admin")):
            click.echo("demo plant already loaded")
            return
    started = time.perf_counter()
    present = db.clock.now()
    in_command_unit_of_work(load_plant, clock=MovableClock(present - dt.timedelta(days=HISTORY_DAYS)))
    click.echo(f"demo plant loaded in {time.perf_counter() - started:.1f} s")
    with db.read_sessions() as session:
        for line in summary(session, present):
            click.echo(f"  {line}")
    click.echo(f"users: {', '.join(u[0] for u in DEMO_USERS)}; password for each: {DEMO_PASSWORD}")
