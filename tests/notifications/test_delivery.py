"""Delivery: a worker killed mid-send resumes without a duplicate (checked at the SMTP server by
Message-ID), two workers on PostgreSQL send each message once, one worker runs each sweep, no SMTP
server configured skips, an unreachable one retries.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import select, text

from bridge.core import mail, outbox
from bridge.core.actor import SYSTEM
from bridge.core.clock import MovableClock
from bridge.core.db import Database
from bridge.core.jobs import SKIPPED, lock_key, sweeps_of
from bridge.core.outbox import OutboxMessage
from bridge.core.uow import UnitOfWork
from qms.notifications import delivery, services
from qms.notifications.models import Notification
from tests.conftest import PG_URL
from tests.notifications.conftest import local, relay, set_email

ON_POSTGRESQL = [pytest.mark.skipif(not PG_URL, reason="TEST_DATABASE_URL (PostgreSQL) is not set"),
                 pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)]


@pytest.fixture(autouse=True)
def working_hours(clock: MovableClock) -> None:
    """Every test here starts at 10:00 in Zurich today: the site's quiet hours (20:00 to 07:00)
    hold the e-mail these tests send until the next morning, so a run after 19:00 UTC found
    nothing due."""
    local(clock, clock.now().date(), 10)


class KilledWorker(BaseException):
    """The worker process dies here (nothing after this point runs, nothing is committed)."""


def queue(db: Database, person_ids: list[int], batch: str = "1") -> list[str]:
    with UnitOfWork(db, SYSTEM) as uow:
        ids = services.queue_emails(uow, [
            {"kind": "overdue", "person_id": p, "subject": f"notice {p}", "key": f"test:{batch}:{p}",
             "context": {"person_id": p, "assignments": []}} for p in person_ids])
        uow.commit()
    return ids


def statuses(db: Database) -> tuple[list[str], list[str]]:
    with db.read_sessions() as session:
        return (list(session.scalars(select(Notification.status).order_by(Notification.id))),
                list(session.scalars(select(OutboxMessage.status).order_by(OutboxMessage.id))))


@pytest.fixture
def person(plant, uow_factory) -> int:
    set_email(uow_factory, plant.people["ann"], "ann@plant.example")
    return plant.people["ann"]


def test_a_worker_killed_between_send_and_mark_resumes_without_a_duplicate(app, db, clock, inbox, person,
                                                                             monkeypatch):
    [key] = queue(db, [person])

    def send_then_die(uow: UnitOfWork, payload: dict[str, Any]) -> None:
        delivery.send_email(uow, payload)  # the server accepted it; the outbox is not marked yet
        raise KilledWorker

    monkeypatch.setitem(outbox._senders, services.EMAIL_TOPIC, send_then_die)
    with pytest.raises(KilledWorker):
        outbox.relay_once(db)
    assert len(inbox.messages) == 1
    assert statuses(db) == (["sent"], ["sending"])
    monkeypatch.setitem(outbox._senders, services.EMAIL_TOPIC, delivery.send_email)
    # Another worker: the message stays claimed for the lease, then is resumed and found sent.
    assert outbox.relay_once(db) == (0, 0)
    clock.advance(seconds=db.settings.outbox_lease_seconds + 1)
    assert outbox.relay_once(db) == (1, 0)
    assert statuses(db) == (["sent"], ["sent"])
    assert len(inbox.messages) == 1
    with db.read_sessions() as session:
        notice = session.scalar(select(Notification).where(Notification.idempotency_key == key))
        assert notice.message_id == inbox.messages[0]["Message-ID"]


def test_a_crash_in_the_residual_window_resends_the_same_message_id(app, db, clock, inbox, person,
                                                                     monkeypatch):
    """The documented residual window: accepted by the server, dead before the mark commits."""
    queue(db, [person])
    real = mail.send_then_mark

    def die_before_mark(db_: Database, message: mail.Mail, mark: Any, **kwargs: Any) -> str:
        def killed(_uow: UnitOfWork, _message_id: str) -> None:
            raise KilledWorker
        return real(db_, message, killed, **kwargs)

    monkeypatch.setattr(delivery, "send_then_mark", die_before_mark)
    with pytest.raises(KilledWorker):
        outbox.relay_once(db)
    assert statuses(db) == (["queued"], ["sending"])
    monkeypatch.setattr(delivery, "send_then_mark", real)
    clock.advance(seconds=db.settings.outbox_lease_seconds + 1)
    assert outbox.relay_once(db) == (1, 0)
    first, second = inbox.messages
    assert first["Message-ID"] == second["Message-ID"]  # the receiver can tell it is the same
    assert statuses(db) == (["sent"], ["sent"])


def test_no_smtp_server_configured_skips_and_records(app, db, inbox, person, monkeypatch):
    monkeypatch.setattr(db.settings, "smtp_host", None)
    queue(db, [person])
    assert outbox.relay_once(db) == (1, 0)
    assert statuses(db) == (["skipped"], ["sent"])
    assert inbox.messages == []


def test_an_unreachable_server_is_retried_with_backoff(app, db, clock, inbox, person, monkeypatch):
    from tests.notifications.conftest import free_port

    monkeypatch.setattr(db.settings, "smtp_port", free_port())  # nobody listens there
    queue(db, [person])
    assert outbox.relay_once(db) == (0, 1)
    with db.read_sessions() as session:
        notice = session.scalar(select(Notification))
        message = session.scalar(select(OutboxMessage))
        assert notice.status == "queued" and "ConnectionRefusedError" in notice.last_error
        assert message.status == "pending" and message.attempts == 1 and message.available_at > clock.now()
    monkeypatch.undo()
    clock.advance(minutes=1)
    assert relay(app) == (1, 0)
    assert len(inbox.messages) == 1 and statuses(db) == (["sent"], ["sent"])


def _second_worker_db(app: Any) -> Database:
    """A database handle of its own, like a worker on another host."""
    db = app.extensions["gxpbridge.db"]
    other = Database(str(db.engine.url.render_as_string(hide_password=False)))
    other.configure(clock=db.clock, settings=db.settings, policies=db.policies)
    return other


@ON_POSTGRESQL[0]
@ON_POSTGRESQL[1]
def test_two_workers_on_postgresql_send_each_message_once(app, db, inbox, plant, uow_factory):
    people = [plant.people[name] for name in ("ann", "bob", "trainer", "auditor", "admin")]
    for person_id in people:
        set_email(uow_factory, person_id, f"p{person_id}@plant.example")
    batches = ("1", "2", "3", "4")
    for batch in batches:
        queue(db, people, batch)
    workers = [db, _second_worker_db(app)]
    results: list[tuple[int, int]] = []
    start = threading.Barrier(2)

    def work(handle: Database) -> None:
        start.wait()
        sent = 0
        while True:
            got, _ = outbox.relay_once(handle, batch=1)
            if not got:
                break
            sent += got
        results.append((sent, 0))
        mail.close_transports()

    threads = [threading.Thread(target=work, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    workers[1].dispose()
    total = len(people) * len(batches)
    assert sum(r[0] for r in results) == total
    assert len(inbox.messages) == total and len(set(inbox.message_ids())) == total
    assert statuses(db) == (["sent"] * total, ["sent"] * total)


@ON_POSTGRESQL[0]
@ON_POSTGRESQL[1]
def test_one_worker_runs_a_sweep_at_a_time_on_postgresql(app, db):
    sweep = next(s for s in sweeps_of(app) if s.name == "qms.notify")
    other = _second_worker_db(app)
    with other.engine.connect() as conn, conn.begin():  # another worker is running the sweep
        assert conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"),
                            {"k": lock_key(sweep.name)}).scalar()
        assert sweep.run(db) == SKIPPED
    other.dispose()
    assert sweep.run(db) not in (None, SKIPPED)


def test_the_worker_relay_drains_everything_due_in_one_run(app, db, inbox, person):
    """A morning's digests go out in one run of the worker's relay (threads on PostgreSQL), each
    once: not 50 per interval.
    """
    for batch in range(130):
        queue(db, [person], f"drain-{batch}")
    threads = outbox.relay_threads_for(db)
    assert threads == (4 if db.dialect == "postgresql" else 1)
    assert outbox.drain(db, threads=threads, batch=20) == (130, 0)
    assert len(inbox.messages) == 130 and len(set(inbox.message_ids())) == 130
    assert statuses(db) == (["sent"] * 130, ["sent"] * 130)
    assert outbox.drain(db, threads=threads) == (0, 0)
