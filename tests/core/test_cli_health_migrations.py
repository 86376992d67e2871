"""CLI commands, health check, migrations up and down, events and the outbox."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import inspect, select

from bridge import migrate
from bridge.core import outbox, people
from bridge.core.db import Base
from bridge.core.events import DomainEvent, MessageBus
from bridge.core.uow import UnitOfWork
from tests.conftest import TEST_PASSWORD


def test_healthz_reports_database(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json["status"] == "ok" and response.json["database"] == db.dialect


def test_healthz_unreachable_database_is_503(tmp_path):
    from bridge.app import create_app

    app = create_app(testing=True, instance_path=tmp_path,
                     database_url="postgresql+psycopg://nobody@127.0.0.1:1/none")
    response = app.test_client().get("/healthz")
    assert response.status_code == 503 and response.json["database"] == "unreachable"


def test_cli_user_create_token_and_errors(runner):
    result = runner.invoke(args=["user", "create", "Robin", "--role", "qa_approver",
                                 "--name", "Robin Approver", "--password-stdin"],
                           input=TEST_PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert "created user robin" in result.output
    result = runner.invoke(args=["user", "create", "robin", "--role", "learner", "--password-stdin"],
                           input=TEST_PASSWORD + "\n")
    assert result.exit_code == 1 and "already taken" in result.output
    result = runner.invoke(args=["user", "create", "kim", "--role", "wizard", "--password-stdin"],
                           input=TEST_PASSWORD + "\n")
    assert result.exit_code == 2 and "unknown role 'wizard'" in result.output
    result = runner.invoke(args=["user", "create", "kim", "--role", "learner", "--password-stdin"],
                           input="weak\n")
    assert result.exit_code == 1 and "at least 12 characters" in result.output
    result = runner.invoke(args=["user", "token", "robin"])
    assert result.exit_code == 0 and result.output.startswith("gxp_")


def test_cli_unreachable_database_is_clear(tmp_path):
    from bridge.app import create_app

    app = create_app(testing=True, instance_path=tmp_path,
                     database_url="postgresql+psycopg://nobody@127.0.0.1:1/none")
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 1 and "cannot reach the database" in result.output


def test_migrations_downgrade_to_base_and_up_again(db):
    migrate.downgrade(db.engine, "base")
    assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
    migrate.upgrade(db.engine)
    tables = set(inspect(db.engine).get_table_names())
    assert {t.name for t in Base.metadata.sorted_tables} <= tables


def test_models_match_migrations(db):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    migrate.import_all_models()
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


@dataclass(frozen=True)
class PersonHired(DomainEvent):
    person_id: int


def test_events_dispatch_in_same_transaction_and_outbox_sends_after_commit(db):
    bus = MessageBus()
    seen: list[int] = []

    def on_hired(uow: UnitOfWork, event: PersonHired) -> None:
        seen.append(event.person_id)
        outbox.enqueue(uow, "test.welcome", {"person_id": event.person_id})

    bus.subscribe(PersonHired, on_hired)
    delivered: list[dict] = []
    outbox.register_sender("test.welcome", lambda _s, payload: delivered.append(payload))
    from bridge.core.actor import SYSTEM

    with UnitOfWork(db, SYSTEM, message_bus=bus) as uow:
        person = people.create_person(uow.session, "New Hire")
        uow.publish(PersonHired(person.id))
        assert delivered == []
        uow.commit()
    assert seen == [person.id]
    assert outbox.relay_once(db) == (1, 0)
    assert delivered == [{"person_id": person.id}]
    with db.read_sessions() as session:
        message = session.scalar(select(outbox.OutboxMessage))
        assert message.status == "sent" and message.sent_at is not None


def test_failing_handler_rolls_back_everything(db):
    bus = MessageBus()

    def explode(uow: UnitOfWork, event: PersonHired) -> None:
        outbox.enqueue(uow, "test.welcome", {"person_id": event.person_id})
        raise RuntimeError("handler failed")

    bus.subscribe(PersonHired, explode)
    from bridge.core.actor import SYSTEM

    with pytest.raises(RuntimeError), UnitOfWork(db, SYSTEM, message_bus=bus) as uow:
        person = people.create_person(uow.session, "New Hire")
        uow.publish(PersonHired(person.id))
        uow.commit()
    with db.read_sessions() as session:
        assert session.scalars(select(people.Person)).all() == []
        assert session.scalars(select(outbox.OutboxMessage)).all() == []


def test_outbox_retries_then_dead_letters(db):
    from bridge.core.actor import SYSTEM

    def flaky(_uow, _payload):
        raise ConnectionError("LMS unreachable")

    outbox.register_sender("test.flaky", flaky)
    with UnitOfWork(db, SYSTEM) as uow:
        outbox.enqueue(uow, "test.flaky", {"n": 1})
        uow.commit()
    assert outbox.relay_once(db, max_attempts=2) == (0, 1)
    with db.write_sessions() as session:
        message = session.scalar(select(outbox.OutboxMessage))
        assert message.status == "pending" and message.attempts == 1
        assert "LMS unreachable" in message.last_error
        message.available_at = message.created_at  # due again now
        session.commit()
    assert outbox.relay_once(db, max_attempts=2) == (0, 1)
    with db.read_sessions() as session:
        assert session.scalar(select(outbox.OutboxMessage)).status == "dead"


def test_demo_load_is_idempotent(runner):
    first = runner.invoke(args=["demo", "load"])
    assert first.exit_code == 0, first.output
    assert "demo plant loaded" in first.output
    second = runner.invoke(args=["demo", "load"])
    assert "already loaded" in second.output


def test_factory_validates_overrides_like_environment_values(tmp_path):
    from bridge.app import create_app
    from bridge.core.settings import Settings

    base = Settings(instance_path=tmp_path / "a", secret_key="k")
    app = create_app(base, instance_path=str(tmp_path / "b"), lockout_threshold="7")
    settings = app.extensions["gxpbridge.settings"]
    assert settings.instance_path == tmp_path / "b" and settings.lockout_threshold == 7
    assert (tmp_path / "b").is_dir()
