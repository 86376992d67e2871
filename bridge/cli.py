"""The ``gxpbridge`` command: database, users, audit trail, worker, server and demo."""

from __future__ import annotations

import functools
import gc
import hashlib
import logging
import os
import re
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext
from sqlalchemy import select
from sqlalchemy.orm import configure_mappers

from bridge.core import accounts, audit, outbox
from bridge.core.cli import command_errors, transactional_command
from bridge.core.jobs import sweeps_of
from bridge.core.settings import Settings
from bridge.core.uow import UnitOfWork
from bridge.core.web import create_core_app, database, settings

logger = logging.getLogger(__name__)


# Commands that read and write core records only: they run on the core app alone
# (bridge.core.web.create_core_app). Building the whole app first (importing qms, lti, xapi and
# their libraries, configuring ~60 mappers) made `gxpbridge user token` take seconds.
CORE_ONLY_COMMANDS = frozenset({
    ("user", "token"), ("user", "revoke-token"), ("user", "list"), ("user", "unlock"),
    ("user", "set-password"), ("audit", "verify"), ("audit", "checkpoint"), ("db", "current"),
})


def _create_app(*_args: Any, **_kwargs: Any) -> Flask:
    ctx = click.get_current_context(silent=True)
    if ctx is not None and ctx.parent is not None and (
            (ctx.parent.info_name, ctx.info_name) in CORE_ONLY_COMMANDS):
        app = create_core_app()
        init_app(app)
        return app
    from bridge.app import create_app

    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=False,
             add_version_option=False, load_dotenv=False)
def main() -> None:
    """GxP Bridge: training compliance beside your LMS."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    logging.getLogger("alembic").setLevel(logging.WARNING)


# -- db --------------------------------------------------------------------------------

@click.group("db")
def db_group() -> None:
    """Create, upgrade or downgrade the database schema."""


@db_group.command("upgrade")
@click.option("--revision", default="heads", show_default=True)
@with_appcontext
@command_errors
def db_upgrade(revision: str) -> None:
    """Create or upgrade the schema (Alembic)."""
    from bridge import migrate

    migrate.upgrade(database().engine, revision)
    click.echo(f"database at {', '.join(sorted(migrate.current(database().engine)))}")


@db_group.command("downgrade")
@click.argument("revision")
@with_appcontext
@command_errors
def db_downgrade(revision: str) -> None:
    """Downgrade the schema to REVISION (``base`` drops every table)."""
    from bridge import migrate

    migrate.downgrade(database().engine, revision)
    click.echo(f"database at {', '.join(sorted(migrate.current(database().engine))) or 'base'}")


@db_group.command("current")
@with_appcontext
@command_errors
def db_current() -> None:
    """Print the revisions the database is at."""
    from bridge import migrate

    click.echo(", ".join(sorted(migrate.current(database().engine))) or "base (empty)")


# -- users ---------------------------------------------------------------------------------

@click.group("user")
def user_group() -> None:
    """Manage user accounts, roles and API tokens."""


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise click.UsageError("no terminal to prompt on: pipe the password with --password-stdin")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


@user_group.command("create")
@click.argument("username")
@click.option("--role", "roles", multiple=True, required=True,
              help=f"one of: {', '.join(accounts.ROLES)} (repeatable)")
@click.option("--name", "display_name", help="printed name (defaults to the username)")
@click.option("--email")
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
@with_appcontext
@transactional_command
def user_create(username: str, roles: tuple[str, ...], display_name: str | None,
                email: str | None, password_stdin: bool, uow: UnitOfWork) -> Any:
    """Create the account USERNAME."""
    for role in roles:
        if role not in accounts.ROLES:
            raise click.BadParameter(f"unknown role {role!r}; one of {', '.join(accounts.ROLES)}",
                                     param_hint="--role")
    password = _read_password(password_stdin)
    user = accounts.create_user(uow, username, roles=list(roles), password=password,
                                display_name=display_name, email=email,
                                min_password_length=uow.settings.password_min_length)
    done = f"created user {user.username} (roles: {', '.join(sorted(user.roles))})"
    return lambda: click.echo(done)


@user_group.command("list")
@with_appcontext
@command_errors
def user_list() -> None:
    """List accounts with their roles and lock state."""
    with database().read_sessions() as session:
        for user in session.scalars(select(accounts.UserAccount).order_by(accounts.UserAccount.username)):
            state = "locked" if user.locked_at else ("inactive" if not user.active else "active")
            click.echo(f"{user.username}\t{user.person.display_name}\t{','.join(sorted(user.roles))}\t{state}")


@user_group.command("token")
@click.argument("username")
@click.option("--label", default="", help="what the token is for")
@with_appcontext
@transactional_command
def user_token(username: str, label: str, uow: UnitOfWork) -> Any:
    """Print a new API token for USERNAME (shown once)."""
    user = accounts.get_user(uow.session, username)
    issued = accounts.issue_token(uow, user, label)

    def show() -> None:
        click.echo(issued.token)
        click.echo(f"token id {issued.id}; revoke with: gxpbridge user revoke-token {issued.id}", err=True)

    return show


@user_group.command("revoke-token")
@click.argument("token_id", type=int)
@click.option("--reason", default="revoked from the command line")
@with_appcontext
@transactional_command
def user_revoke_token(token_id: int, reason: str, uow: UnitOfWork) -> Any:
    """Revoke API token TOKEN_ID at once."""
    accounts.revoke_token(uow, token_id, reason)
    return lambda: click.echo(f"token {token_id} revoked")


@user_group.command("unlock")
@click.argument("username")
@click.option("--reason", required=True, help="why the lock is lifted (audited)")
@with_appcontext
@transactional_command
def user_unlock(username: str, reason: str, uow: UnitOfWork) -> Any:
    """Lift the lockout of USERNAME."""
    accounts.unlock(uow, accounts.get_user(uow.session, username), reason)
    return lambda: click.echo(f"{username} unlocked")


@user_group.command("set-password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True)
@with_appcontext
@transactional_command
def user_set_password(username: str, password_stdin: bool, uow: UnitOfWork) -> Any:
    """Set a new password for USERNAME."""
    password = _read_password(password_stdin)
    user = accounts.get_user(uow.session, username)
    accounts.set_password(uow, user, password, min_length=uow.settings.password_min_length)
    return lambda: click.echo(f"password of {username} changed")


# -- audit -----------------------------------------------------------------------------------

@click.group("audit")
def audit_group() -> None:
    """Check the audit trail."""


@audit_group.command("verify")
@with_appcontext
@command_errors
def audit_verify() -> None:
    """Recompute the keyed hash chain and check its signed checkpoints; exit 1 naming the first
    bad row if any.
    """
    with database().read_sessions() as session:
        report = audit.verify_chain(session)
    if report.ok:
        click.echo(f"audit trail intact: {report.count} rows verified, "
                   f"{report.checkpoints} signed checkpoint(s)")
        if report.last_checkpoint_seq is None:
            click.echo("no signed checkpoint yet: run `gxpbridge audit checkpoint` (the worker "
                       "writes them periodically)", err=True)
        elif report.unanchored:
            click.echo(f"{report.unanchored} row(s) after the last checkpoint (row "
                       f"{report.last_checkpoint_seq}) are not yet anchored by a signed checkpoint",
                       err=True)
        return
    click.echo(f"audit trail BROKEN at row {report.first_bad_seq}: {report.problem} "
               f"({report.count} rows verified before it)", err=True)
    sys.exit(1)


@audit_group.command("checkpoint")
@with_appcontext
@transactional_command
def audit_checkpoint(uow: UnitOfWork) -> Any:
    """Sign the chain's head now (the worker also does it periodically)."""
    seq = audit.write_checkpoint(uow)
    return lambda: click.echo(f"checkpoint written at row {seq}" if seq is not None
                              else "the last checkpoint already signs the head")


# -- worker and server -----------------------------------------------------------------------------

@click.command("worker")
@click.option("--once", is_flag=True, help="relay the outbox and run the sweeps once, then exit")
@click.option("--interval", default=5, show_default=True, help="seconds between outbox relays")
@click.option("--relay-threads", type=click.IntRange(1, 32), default=None,
              help="threads sending outbox messages (default: 4 on PostgreSQL, 1 on SQLite)")
@with_appcontext
@command_errors
def worker(once: bool, interval: int, relay_threads: int | None) -> None:
    """Send outbox messages after commit and run scheduled sweeps (APScheduler)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    max_attempts = settings().outbox_max_attempts
    if relay_threads is None:
        relay_threads = outbox.relay_threads_for(database())
    elif relay_threads > 1 and database().dialect != "postgresql":
        raise click.UsageError("--relay-threads above 1 needs PostgreSQL (SQLite's claims would race)")

    def relay() -> None:
        # Until nothing is due: a morning's digests go out in one run, not 50 per interval.
        sent, failed = outbox.drain(database(), threads=relay_threads, max_attempts=max_attempts)
        if sent or failed:
            logger.info("outbox relay: %d sent, %d failed", sent, failed)

    sweeps = sweeps_of(app)
    if once:
        relay()
        for sweep in sweeps:
            logger.info("running sweep %s", sweep.name)
            sweep.run(database())
        return
    from apscheduler.schedulers.blocking import BlockingScheduler

    def in_context(func: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            with app.app_context():
                func()
        return run

    # APScheduler logs every run at INFO; our jobs log what they did themselves.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    scheduler = BlockingScheduler(timezone="UTC")
    scheduler.add_job(in_context(relay), "interval", seconds=interval, id="outbox", name="outbox relay",
                      max_instances=1, coalesce=True)
    for sweep in sweeps:
        scheduler.add_job(in_context(functools.partial(sweep.run, database())), "interval",
                          seconds=sweep.seconds, id=sweep.name, name=sweep.name,
                          max_instances=1, coalesce=True)
    logger.info("worker started: outbox every %ds, sweeps: %s", interval,
                ", ".join(s.name for s in sweeps) or "none")
    scheduler.start()


def default_workers(database_url: str, *, cpus: int | None) -> int:
    """The number of gunicorn sync workers ``serve`` starts for ``database_url``.

    Args:
        database_url: The configured database.
        cpus: CPU cores of the machine (``None`` when unknown).

    Returns:
        2 on SQLite (one writer at a time: more processes only compete for the CPU while one
        writes); cores + 1 on PostgreSQL.
    """
    if database_url.startswith("sqlite"):
        return 2
    return (cpus or 1) + 1


def advertised_base_url(host: str, port: int) -> str:
    """The base URL a server on ``host``:``port`` announces (LTI tool URLs, links in e-mails)
    when ``GXPBRIDGE_BASE_URL`` is not set: the port it really listens on.
    """
    if host in ("", "0.0.0.0", "::"):  # noqa: S104 - naming the wildcard, not binding to it
        host = "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


def control_socket_path(instance_path: Path, host: str, port: int) -> Path:
    """This server's own gunicorn control socket: in its instance folder, or, when that path is
    too long for a Unix socket, in the temporary folder under a name derived from it.
    """
    name = re.sub(r"[^A-Za-z0-9.-]", "_", f"gunicorn-{host}-{port}.ctl")
    folder = instance_path.resolve()
    path = folder / name
    if len(str(path).encode()) < 100:
        return path
    digest = hashlib.sha256(str(folder).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"gxpbridge-{digest}-{name}"


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--workers",
    default=None,
    type=click.IntRange(min=1),
    help="worker processes [default: 2 on SQLite, CPU cores + 1 on PostgreSQL]",
)
@click.option(
    "--threads",
    default=1,
    show_default=True,
    type=int,
    help="threads per worker (1: gunicorn's sync worker; more: gthread)",
)
@click.option("--control-socket/--no-control-socket", default=True, show_default=True,
              help="gunicorn's control socket (gunicornc), one per server in its instance folder")
def serve(host: str, port: int, workers: int | None, threads: int, control_socket: bool) -> None:
    """Serve GxP Bridge under gunicorn.

    Sync workers (one request at a time per process) are the default: measured on two cores,
    threads in a worker make requests queue behind each other on the GIL, worst while one
    holds the SQLite write lock. Put a buffering proxy (nginx, see deploy/) in front of them.
    SQLite takes one writer at a time, so more than two processes only compete for the CPU
    while one writes (bench/lrs.py: 4,500 batched statements/s with 2, 3,950/s with 3);
    PostgreSQL writes in parallel and gains from one process per core and one more. On SQLite
    each worker copies the write-ahead log into the database from a background thread, so no
    writer does it while holding the write lock.

    Without ``GXPBRIDGE_BASE_URL`` the site announces ``http://HOST:PORT`` (the port it listens
    on). Each server has its own gunicorn control socket in its instance folder (gunicorn's
    default is one path for every instance, so a second server took over the first's).
    """
    base = Settings()
    if workers is None:
        workers = default_workers(base.resolved_database_url(), cpus=os.cpu_count())
    overrides = {} if "GXPBRIDGE_BASE_URL" in os.environ else {
        "base_url": advertised_base_url(host, port)}
    socket_path = control_socket_path(base.instance_path, host, port) if control_socket else None
    from gunicorn.app.base import BaseApplication

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("threads", threads)
            self.cfg.set("worker_class", "gthread" if threads > 1 else "sync")
            self.cfg.set("accesslog", "-")
            self.cfg.set("timeout", 120)
            if "control_socket" in self.cfg.settings:  # gunicorn 25+
                if socket_path is None:
                    self.cfg.set("control_socket_disable", True)
                else:
                    socket_path.parent.mkdir(parents=True, exist_ok=True)
                    self.cfg.set("control_socket", str(socket_path))

        def load(self) -> Flask:
            # In the worker, after the fork: the app the master built for this command, whose
            # memory the workers share (a second app per worker cost each about 80 MB).
            start_forked_worker(app)
            return app

    from bridge.app import create_app  # the app layer: bridge.app imports this module

    app = create_app(**overrides)
    prepare_to_fork()
    Server().run()


def prepare_to_fork() -> None:
    """In a server's master, with the app built, before it forks workers that share it.

    Mapper configuration happens once, here, instead of in each worker's first request, so
    its objects are shared with the workers instead of built by each; ``gc.freeze()`` then keeps
    the collector from writing to the shared objects' pages in the workers.
    """
    configure_mappers()
    gc.collect()
    gc.freeze()


def start_forked_worker(app: Flask) -> None:
    """In a worker forked from a master that built ``app``: take the app over.

    The connections the master opened stay the master's (the pool is emptied without closing
    them); on SQLite the worker copies the write-ahead log into the database from a background
    thread, off the writers' path.
    """
    db = app.extensions["gxpbridge.db"]
    db.engine.dispose(close=False)
    if db.replica is not None:
        db.replica.engine.dispose(close=False)
    db.start_background_checkpoints()


def init_app(app: Flask) -> None:
    """Register the core commands on ``app.cli`` (packages add their own)."""
    for command in (db_group, user_group, audit_group, worker, serve):
        if command.name not in app.cli.commands:
            app.cli.add_command(command)
    from bridge import demo

    if "demo" not in app.cli.commands:
        app.cli.add_command(demo.demo_group)
    from bridge import validate  # imports the whole app (IQ), which imports this module

    app.cli.add_command(validate.validate_group)  # IQ/OQ evidence


# The core groups belong to the command itself, so that running one of them finds it without
# building an app first; each command then builds the app it needs (see _create_app).
for _command in (db_group, user_group, audit_group, worker, serve):
    main.add_command(_command)
