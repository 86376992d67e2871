"""Benchmark of notifications at plant scale.

Builds the plant of bench/matrix.py (10,000 people, 300 job functions, 2,000 documents, 500,000
person-requirement obligations with their compliance state) with 500,000 assignments (50 per
person): ``--open`` of them open (default 10 %, assigned over the last 40 days, due 30 days after:
each is in one notice window or another), the rest completed; every person with an e-mail
address, a supervisor and a QA contact per department. Then it measures:

* the notification sweep (``qms.notify``, as the worker runs it): the morning digest, reminders
  7 and 1 days ahead, overdue notices and escalations queued in the outbox, in one transaction;
* the relay: mails rendered and sent to a local SMTP server (aiosmtpd), each with its claim,
  "sending" and "sent" marks committed (mails per second).

Usage::

    .venv/bin/python bench/notifications.py                     # SQLite in a temporary folder
    .venv/bin/python bench/notifications.py --database-url postgresql://postgres@127.0.0.1:5432/postgres
    .venv/bin/python bench/notifications.py --people 1000       # a smaller plant (dev runs)
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import random
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.matrix import BulkLoader, build_plant, run_on_scratch_database
from bridge import migrate
from bridge.core.clock import MovableClock
from bridge.core.db import make_engine

NOW = dt.datetime(2027, 3, 3, 8, 0, tzinfo=dt.UTC)  # a Wednesday morning, after the digest hour


def load_obligations(engine: Any, people: int, per_person: int, documents: int, open_share: float) -> int:
    """Assignments (open and completed), e-mail addresses, supervisors and QA contacts (bulk)."""
    rng = random.Random(19)
    loader = BulkLoader(engine)
    rows = []
    aid = 0
    for person in range(1, people + 1):
        for doc in rng.sample(range(1, documents + 1), per_person):
            aid += 1
            if rng.random() < open_share:
                assigned = NOW - dt.timedelta(minutes=rng.randrange(0, 40 * 24 * 60))
                status = "open"
            else:
                assigned = NOW - dt.timedelta(days=rng.randrange(60, 700))
                status = "completed"
            rows.append((aid, person, doc, 2 * (doc - 1) + 2, "matrix", status, assigned,
                         assigned + dt.timedelta(days=30)))
    loader.load("qms_assignment", ["id", "person_id", "training_item_id", "item_version_id", "reason",
                                   "status", "assigned_at", "due_at"], rows)
    loader.load("qms_person_supervisor", ["id", "person_id", "supervisor_person_id", "valid_from"],
                [(p, p, (p - 1) // 25 * 25 + 1, NOW - dt.timedelta(days=700))
                 for p in range(1, people + 1) if (p - 1) % 25])
    loader.load("qms_department_qa_contact", ["id", "department_id", "person_id", "valid_from"],
                [(d, d, d, NOW - dt.timedelta(days=700)) for d in range(1, 11)])
    with engine.begin() as conn:
        conn.execute(text("UPDATE person SET email = 'p' || id || '@plant.example'"))
    loader.finish(["qms_assignment", "qms_person_supervisor", "qms_department_qa_contact"])
    return len(rows)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


SMTP_SERVER = """
import sys, time
from aiosmtpd.controller import Controller
class Counter:
    received = 0
    async def handle_DATA(self, server, session, envelope):
        Counter.received += 1
        return "250 OK"
controller = Controller(Counter(), hostname="127.0.0.1", port=int(sys.argv[1]))
controller.start()
print("ready", flush=True)
sys.stdin.readline()
print(Counter.received, flush=True)
controller.stop()
"""


def start_smtp_server(port: int) -> subprocess.Popen[str]:
    """A local SMTP server (aiosmtpd) in a process of its own, as a relay host would be."""
    server = subprocess.Popen([sys.executable, "-c", SMTP_SERVER, str(port)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None and server.stdout.readline().strip() == "ready"
    return server


def stop_smtp_server(server: subprocess.Popen[str]) -> int:
    """Stop the server; returns how many messages it received."""
    received, _ = server.communicate("stop\n", timeout=60)
    return int(received.strip())


def raw_smtp_rate(port: int, count: int) -> float:
    """Mails per second the SMTP server takes from one smtplib connection (the ceiling)."""
    import smtplib
    from email.mime.text import MIMEText

    message = MIMEText("A line of a notice.\n" * 40)
    message["Subject"], message["From"], message["To"] = "x", "a@plant.example", "b@plant.example"
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        started = time.perf_counter()
        for _ in range(count):
            smtp.send_message(message)
        return count / (time.perf_counter() - started)


def run(url: str, args: argparse.Namespace, workdir: Path) -> None:
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    engine = make_engine(url)
    plant = argparse.Namespace(people=args.people, functions=300, documents=2_000, per_person=50,
                               completions=0, affected=min(2_000, args.people // 5))
    print(f"\n=== {engine.dialect.name}: {args.people} people, {args.people * 50} assignments")
    start = time.perf_counter()
    build_plant(engine, plant)
    obligations = load_obligations(engine, args.people, 50, 2_000, args.open)
    engine.dispose()
    print(f"built in {time.perf_counter() - start:.1f} s ({obligations} obligations and assignments, "
          f"{args.open:.0%} of the assignments open)")

    from bridge.app import create_app
    from bridge.core import outbox
    from bridge.core.jobs import sweeps_of
    from qms.notifications.models import Notification

    logging.getLogger("bridge").setLevel(logging.WARNING)
    logging.getLogger("qms").setLevel(logging.WARNING)
    port = free_port()
    smtp_server = start_smtp_server(port)
    clock = MovableClock(NOW)
    app = create_app(database_url=url, instance_path=workdir / "instance", secret_key="bench",
                     log_level="WARNING", clock=clock, smtp_host="127.0.0.1", smtp_port=port)
    db = app.extensions["gxpbridge.db"]
    sweep = next(s for s in sweeps_of(app) if s.name == "qms.notify")
    started = time.perf_counter()
    outcome = sweep.run(db)
    seconds = time.perf_counter() - started
    with db.read_sessions() as session:
        queued = session.scalar(select(func.count()).select_from(Notification))
    print(f"notification sweep over {obligations} obligations: {seconds:.2f} s, {queued} notices queued "
          f"({', '.join(f'{k} {v}' for k, v in outcome.items())})  [target < 5 s]")
    again = time.perf_counter()
    sweep.run(db)
    print(f"the same sweep again (nothing new to notice): {time.perf_counter() - again:.2f} s")

    # The worker's relay (outbox.drain) sends everything due; to time it on --relay mails, the
    # rest are made not yet due, and between runs the same mails are due (and unsent) again.
    relay_count = min(args.relay, queued)
    outbox_table, notices = outbox.OutboxMessage.__table__, Notification.__table__
    with db.engine.begin() as conn:
        chosen = list(conn.scalars(select(outbox_table.c.id).order_by(outbox_table.c.id).limit(relay_count)))
        keys = [row.payload["key"] for row in conn.execute(
            select(outbox_table.c.payload).where(outbox_table.c.id.in_(chosen)))]
        conn.execute(outbox_table.update().where(outbox_table.c.id.not_in(chosen))
                     .values(available_at=NOW + dt.timedelta(days=365)))
    sent_total = 0
    default_threads = outbox.relay_threads_for(db)
    for threads in args.threads:
        if threads > 1 and db.dialect != "postgresql":
            continue  # the worker runs one relay thread on SQLite
        with db.engine.begin() as conn:
            conn.execute(outbox_table.update().where(outbox_table.c.id.in_(chosen))
                         .values(status="pending", available_at=NOW, attempts=0))
            conn.execute(notices.update().where(notices.c.idempotency_key.in_(keys))
                         .values(status="queued", message_id=None, attempts=0))
        started = time.perf_counter()
        sent, failed = outbox.drain(db, threads=threads, max_attempts=3, budget_seconds=3600)
        seconds = time.perf_counter() - started
        assert failed == 0 and sent == relay_count, (sent, failed)
        sent_total += sent
        mark = " (the worker's default here)" if threads == default_threads else ""
        print(f"relay, {threads} thread{'s' if threads > 1 else ''}{mark}: {sent} mails rendered and sent to "
              f"a local SMTP server in {seconds:.2f} s = {sent / seconds:.0f} mails/s  [target >= 200/s]")
    ceiling = raw_smtp_rate(port, 500)
    print(f"for comparison, smtplib alone (one prebuilt message resent, no database): {ceiling:.0f} mails/s")
    received = stop_smtp_server(smtp_server)
    assert received == sent_total + 500, (received, sent_total)
    db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="PostgreSQL server URL (a scratch database is created on it)")
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--relay", type=int, default=3_000, help="mails to relay for the throughput figure")
    parser.add_argument("--open", type=float, default=0.1, help="share of the assignments still open")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 4],
                        help="relay threads (one run each)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    run_on_scratch_database(args.database_url, run, args, prefix="gxp-bench-")


if __name__ == "__main__":
    main()
