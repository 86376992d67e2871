"""``gxpbridge qms import-documents`` and ``gxpbridge qms import-training``: the onboarding imports
from the console, with progress; the legacy import is signed by the user named with ``--as``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import click
from flask.cli import with_appcontext

from bridge.core.accounts import get_user
from bridge.core.cli import transactional_command
from bridge.core.uow import UnitOfWork
from qms.onboarding import document_register, training_history

logger = logging.getLogger(__name__)


def _format(path: Path, given: str | None) -> str:
    return given or ("xlsx" if path.suffix.lower() == ".xlsx" else "csv")


@click.command("import-documents")
@click.argument("register", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "file_format", type=click.Choice(["csv", "xlsx"]), default=None)
@click.option(
    "--files",
    "files_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="folder holding the controlled files the file_name column names",
)
@with_appcontext
@transactional_command
def import_documents(
    register: Path, file_format: str | None, files_dir: Path | None, uow: UnitOfWork
) -> Callable[[], None]:
    """Import the document register (all rows or none)."""
    uploaded = {p.name: p.read_bytes() for p in files_dir.iterdir() if p.is_file()} if files_dir else {}
    result = document_register.import_register(
        uow,
        register.read_bytes(),
        file_format=_format(register, file_format),
        file_name=register.name,
        uploaded=uploaded,
    )
    return lambda: click.echo(json.dumps(result, default=str))


@click.command("import-training")
@click.argument("history", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--as", "username", required=True, help="the importer, who signs the batch (a qa_author)")
@click.option("--format", "file_format", type=click.Choice(["csv", "xlsx"]), default=None)
@click.option("--preview", is_flag=True, help="check and simulate only: nothing is written")
@click.option("--skip-refused", is_flag=True, help="import the good rows, list the refused ones")
@click.option("--source-system", default=None, help="default source system of the rows")
@with_appcontext
@transactional_command
def import_training(
    history: Path,
    username: str,
    file_format: str | None,
    preview: bool,
    skip_refused: bool,
    source_system: str | None,
    uow: UnitOfWork,
) -> Callable[[], None]:
    """Import legacy training records (completions marked migrated), signed by the importer."""
    user = get_user(uow.session, username)
    uow.act_as(user.actor())
    password = None if preview else click.prompt(f"password of {username} (signature)", hide_input=True)

    def progress(done: int, total: int, what: str) -> None:
        click.echo(f"  {done:,} / {total:,} {what}", err=True)

    result = training_history.import_history(
        uow,
        history.read_bytes(),
        file_format=_format(history, file_format),
        file_name=history.name,
        source_system=source_system,
        preview=preview,
        skip_refused=skip_refused,
        username=username,
        password=password,
        progress=progress,
    )
    return lambda: click.echo(json.dumps(result, default=str, indent=2))
