"""Helpers every package's commands use: the command-line actor, refusals as exit code 1, and
the unit of work a command owns (opened, handed over, committed once).
"""

from __future__ import annotations

import functools
import getpass
import logging
from collections.abc import Callable
from typing import Any

import click
from sqlalchemy.exc import OperationalError

from bridge.core.actor import Actor
from bridge.core.clock import Clock
from bridge.core.errors import DomainError
from bridge.core.uow import UnitOfWork
from bridge.core.web import database

logger = logging.getLogger(__name__)


def cli_actor() -> Actor:
    """The actor of a CLI command: the operating-system user who ran it."""
    try:
        who = getpass.getuser()
    except Exception:  # no passwd entry in some containers
        who = "unknown"
    return Actor(kind="system", username=f"cli:{who}", display_name=f"command line ({who})")


def command_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn refusals and an unreachable database into a clear message and exit code 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except DomainError as exc:
            raise click.ClickException(f"{exc.message} [{exc.code}]") from exc
        except OperationalError as exc:
            first = str(exc.orig or exc).strip().splitlines()[0]
            url = database().engine.url.render_as_string(hide_password=True)
            raise click.ClickException(f"cannot reach the database {url}: {first}") from exc

    return wrapper


def cli_uow(*, readonly: bool = False, clock: Clock | None = None) -> UnitOfWork:
    """A unit of work acting as the command-line user (owned by :func:`transactional_command`),
    on the app's clock unless ``clock`` is given.
    """
    return UnitOfWork(database(), cli_actor(), readonly=readonly, clock=clock)


def in_command_unit_of_work(call: Callable[[UnitOfWork], Any], *, clock: Clock | None = None) -> Any:
    """Run ``call(uow)`` in a unit of work of the command-line user and commit it once when it
    returns (for a command that does work outside its transaction before and after this step);
    ``clock`` replaces the app's (the demo tells its history on a clock of its own).
    """
    with cli_uow(clock=clock) as uow:
        result = call(uow)
        uow.commit()
    return result


def transactional_command(func: Callable[..., Any] | None = None, *, readonly: bool = False) -> Any:
    """Command decorator: the command receives ``uow``, which is committed once when it returns.

    Refusals become exit code 1 with their message (:func:`command_errors`) and commit
    nothing. A command whose output must only appear once its work is stored (a new token's
    secret) returns a callable that prints it: it runs after the commit.
    """

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(command)
        @command_errors
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with cli_uow(readonly=readonly) as uow:
                result = command(*args, uow=uow, **kwargs)
                if not readonly:
                    uow.commit()
            if callable(result):
                return result()
            return result

        return wrapper

    return decorate(func) if func is not None else decorate
