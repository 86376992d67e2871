"""A real SMTP server (aiosmtpd) receiving the notices, and the app configured to send to it."""

from __future__ import annotations

import datetime as dt
import email
import socket
import threading
from collections.abc import Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import update

from bridge.core import mail, outbox
from bridge.core.clock import MovableClock
from bridge.core.jobs import sweeps_of
from bridge.core.people import Person
from tests.qms.conftest import _app_clock, cheap_password_hashing, plant  # noqa: F401  (fixtures)


class Inbox:
    """What the SMTP server received, in order."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.messages.append(email.message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[Message]:
        return [m for m in self.messages if address in m["To"]]

    def message_ids(self) -> list[str]:
        return [m["Message-ID"] for m in self.messages]

    def clear(self) -> None:
        self.messages.clear()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    """A real SMTP server on a free local port."""
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    mail.close_transports()
    controller.stop()


@pytest.fixture
def inbox(smtp_server: tuple[Inbox, int]) -> Inbox:
    return smtp_server[0]


@pytest.fixture
def app(database_url: str, tmp_path: Path, clock: MovableClock, smtp_server: tuple[Inbox, int]):
    """The application sending its e-mail to the test SMTP server; the site is in Zurich."""
    from bridge.app import create_app

    app = create_app(testing=True, database_url=database_url, instance_path=tmp_path / "instance",
                     secret_key="test-secret-key", password_min_length=12, lockout_threshold=3,
                     clock=clock, smtp_host="127.0.0.1", smtp_port=smtp_server[1],
                     smtp_from="Training <training@plant.example>", site_timezone="Europe/Zurich",
                     base_url="https://gxp.plant.example")
    yield app
    mail.close_transports()
    app.extensions["gxpbridge.db"].dispose()


def run_sweeps(app: Any, *names: str) -> dict[str, Any]:
    """Run the worker's sweeps (all, or the named ones) once, as the worker would."""
    db = app.extensions["gxpbridge.db"]
    return {s.name: s.run(db) for s in sweeps_of(app) if not names or s.name in names}


def relay(app: Any) -> tuple[int, int]:
    """Relay the outbox until nothing is due."""
    db = app.extensions["gxpbridge.db"]
    total = (0, 0)
    while True:
        sent, failed = outbox.relay_once(db, batch=500)
        total = (total[0] + sent, total[1] + failed)
        if sent + failed == 0:
            return total


def set_email(uow_factory: Any, person_id: int, address: str) -> None:
    with uow_factory() as uow:
        uow.session.execute(update(Person).where(Person.id == person_id).values(email=address))
        uow.commit()


def local(clock: MovableClock, day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    """Move the clock to ``hour`` on ``day`` in Zurich."""
    from zoneinfo import ZoneInfo

    moment = dt.datetime.combine(day, dt.time(hour, minute), ZoneInfo("Europe/Zurich"))
    clock.set(moment)
    return moment
