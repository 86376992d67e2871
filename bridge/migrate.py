"""Alembic, driven from the application: every package keeps its own migration branch."""

from __future__ import annotations

import importlib
import logging
import pkgutil
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine

if TYPE_CHECKING:
    from alembic.config import Config

logger = logging.getLogger(__name__)

_ROOT = Path(__file__).resolve().parent.parent
# Each package's migrations form a branch labelled with the package name.
MIGRATION_PACKAGES = ("bridge", "qms", "xapi", "lti")


def import_all_models() -> None:
    """Import every module of every package so each model is on the shared metadata.

    Packages import some model modules only inside ``init_app``; walking them all keeps
    autogenerate (and the schema comparison test) from missing a table.
    """
    for package_name in MIGRATION_PACKAGES:
        package = importlib.import_module(package_name)
        for info in pkgutil.walk_packages(package.__path__, prefix=f"{package_name}."):
            if ".migrations" not in info.name:
                importlib.import_module(info.name)


def version_locations() -> list[str]:
    """Directories holding migration scripts, core first."""
    found = []
    for package in MIGRATION_PACKAGES:
        folder = _ROOT / package / "migrations" / "versions"
        if folder.is_dir():
            found.append(str(folder))
    return found


def alembic_config(engine: Engine) -> Config:
    """An Alembic configuration bound to ``engine``."""
    from alembic.config import Config  # Alembic (~10 MB) only where migrations run, not in `serve`

    config = Config()
    config.set_main_option("script_location", str(_ROOT / "bridge" / "migrations"))
    config.set_main_option("version_locations", " ".join(version_locations()))
    config.set_main_option("path_separator", "space")
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "heads") -> None:
    """Create or upgrade the schema to ``revision`` (all branch heads by default)."""
    from alembic import command

    command.upgrade(alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Downgrade the schema to ``revision`` (``base`` removes every table)."""
    from alembic import command

    command.downgrade(alembic_config(engine), revision)


def current(engine: Engine) -> set[str]:
    """The revisions the database is at."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads())
