"""``gxpbridge course ...`` commands."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from bridge.content import packages, services
from bridge.content.packages import ContentLimits
from bridge.core.cli import transactional_command
from bridge.core.uow import UnitOfWork

logger = logging.getLogger(__name__)


@click.group("course")
def course_group() -> None:
    """Content packages (SCORM 1.2 / 2004, cmi5)."""


@course_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--code", required=True, help="The course's training item code (created if new).")
@click.option("--label", required=True, help="The new version's label, e.g. 1.0.")
@click.option(
    "--revision",
    type=click.Choice(["major", "minor"]),
    default="major",
    show_default=True,
    help="major: people retrain; minor: no retraining.",
)
@click.option("--title", help="Title of a new course (the manifest's by default).")
@click.option(
    "--requires-signature/--no-signature",
    default=True,
    show_default=True,
    help="New course: the learner signs after the content is complete.",
)
@click.option("--pass-score", type=float, help="New course: scaled pass mark 0..1.")
@with_appcontext
@transactional_command
def import_command(
    file: Path,
    code: str,
    label: str,
    revision: str,
    title: str | None,
    requires_signature: bool,
    pass_score: float | None,
    uow: UnitOfWork,
) -> Callable[[], None]:
    """Import a package FILE (zip) as a new draft version of course CODE."""
    limits = current_app.extensions["gxpbridge.policies"].get(ContentLimits) or ContentLimits()
    folder = packages.package_folder(uow.settings.instance_path)
    with file.open("rb") as source:
        upload = packages.stream_to_disk(source, folder, file.name, limits.max_package_bytes)
    try:
        package = services.import_package(
            uow,
            upload,
            services.ImportRequest(
                code=code,
                label=label,
                revision=revision,
                title=title,
                requires_signature=requires_signature,
                pass_score=pass_score,
            ),
        )
        result = services.package_dict(package)
    finally:
        upload.path.unlink(missing_ok=True)

    def report() -> None:  # printed once the import is committed
        click.echo(json.dumps(result, indent=2))

    return report
