"""``gxpbridge qms ...`` commands."""

from __future__ import annotations

import logging
from collections.abc import Callable

import click
from flask.cli import with_appcontext

from bridge.core.cli import transactional_command
from bridge.core.uow import UnitOfWork
from qms import sweeps

logger = logging.getLogger(__name__)


@click.group("qms")
def qms_group() -> None:
    """The quality system."""


@qms_group.command("sweep")
@click.argument("name", type=click.Choice(["effective", "overdue", "periodic"]))
@with_appcontext
@transactional_command
def sweep(name: str, uow: UnitOfWork) -> Callable[[], None]:
    """Run one sweep now (the worker runs them on a schedule)."""
    outcome = sweeps.SWEEPS[name](uow)

    def report() -> None:  # printed once the sweep's work is committed
        click.echo(f"{name}: {outcome}")

    return report
