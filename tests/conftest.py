"""Shared fixtures: the app built by the factory on SQLite and, when ``TEST_DATABASE_URL``
is set, on PostgreSQL too. Every test that touches storage runs on each backend.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bridge import migrate
from bridge.core.actor import SYSTEM, Actor
from bridge.core.clock import MovableClock
from bridge.core.db import Base, Database, make_engine
from bridge.core.uow import UnitOfWork

# The project's shared design and data, beside the repository (absent from a clone elsewhere).
SHARED = Path(__file__).resolve().parents[2] / "shared"
# Real Moodle 4.5 captures, copied from SHARED / "data" / "moodle-4.5" (tests/data/README.md).
MOODLE_CAPTURES = Path(__file__).resolve().parent / "data" / "moodle-4.5"
PG_URL = os.environ.get("TEST_DATABASE_URL", "")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])
TEST_PASSWORD = "Correct-Horse-42"


def _pg_url(url: str) -> str:
    if url.startswith(("postgres://", "postgresql://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once; each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    engine.dispose()  # the last connection closing checkpoints the WAL into the file
    return path


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A PostgreSQL database of this test session's own, migrated once, dropped at the end."""
    if not PG_URL:
        pytest.fail("TEST_DATABASE_URL is not set")  # only requested when it is
    server = make_url(_pg_url(PG_URL))
    name = f"gxp_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = server.set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def terminate_other_backends(url: str) -> int:
    """Drop every other connection to the PostgreSQL database at ``url`` (as a server restart
    would); returns how many there were."""
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        killed = conn.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalar_one()
    admin.dispose()
    return killed


def _truncate_pg(url: str) -> None:
    engine = create_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        # Test isolation only: replica mode skips the append-only triggers of the audit table.
        conn.execute(text("SET session_replication_role = replica"))
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, migrated, empty database on each backend."""
    if request.param == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        target = tmp_path / "test.sqlite3"
        shutil.copy(template, target)
        return f"sqlite:///{target}"
    url = request.getfixturevalue("pg_database")
    _truncate_pg(url)
    return url


@pytest.fixture
def clock() -> MovableClock:
    """The app's clock: runs with the system's until a test moves it (no test sleeps)."""
    return MovableClock()


@pytest.fixture
def app(database_url: str, tmp_path: Path, clock: MovableClock):
    """The application, built through the factory like in production."""
    from bridge.app import create_app

    app = create_app(testing=True, database_url=database_url, instance_path=tmp_path / "instance",
                     secret_key="test-secret-key", password_min_length=12, lockout_threshold=3,
                     clock=clock)
    yield app
    app.extensions["gxpbridge.db"].dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def db(app) -> Database:
    return app.extensions["gxpbridge.db"]


@pytest.fixture
def uow_factory(db: Database):
    """Open units of work as a given actor (the system by default)."""

    def make(actor: Actor = SYSTEM, readonly: bool = False) -> UnitOfWork:
        return UnitOfWork(db, actor, readonly=readonly)

    return make


@pytest.fixture
def make_user(uow_factory):
    """Create an account with roles and the test password; returns its actor."""
    from bridge.core import accounts

    def make(username: str, *roles: str, name: str | None = None, email: str | None = None) -> Actor:
        with uow_factory() as uow:
            user = accounts.create_user(uow, username, roles=list(roles or ("learner",)),
                                        password=TEST_PASSWORD, display_name=name or username.title(),
                                        email=email)
            uow.commit()
            return user.actor()

    return make


@pytest.fixture
def api_token(uow_factory):
    """Issue an API token for a username; returns the ``Authorization`` header dict."""
    from bridge.core import accounts

    def issue(username: str) -> dict[str, str]:
        with uow_factory() as uow:
            issued = accounts.issue_token(uow, accounts.get_user(uow.session, username))
            uow.commit()
        return {"Authorization": f"Bearer {issued.token}"}

    return issue
