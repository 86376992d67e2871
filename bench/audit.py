"""Benchmark of the audit trail and password hashing.

    .venv/bin/python bench/audit.py                      # SQLite in a temporary folder
    .venv/bin/python bench/audit.py --postgres postgresql://postgres@127.0.0.1:5432/postgres

Appends ``--rows`` audit rows through units of work (sealed into the hash chain at commit, in
batches of ``--batch``), then times ``verify_chain`` over all of them, and the argon2id
password check every login and e-signature pays. With ``--postgres`` a scratch database is
created on that server and dropped afterwards.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bridge import migrate
from bridge.core import audit
from bridge.core.accounts import hash_password, password_matches
from bridge.core.actor import SYSTEM
from bridge.core.db import Database
from bridge.core.uow import UnitOfWork


def run(url: str, rows: int, batch: int) -> None:
    db = Database(url)
    migrate.upgrade(db.engine)
    started = time.perf_counter()
    for first in range(0, rows, batch):
        with UnitOfWork(db, SYSTEM) as uow:
            for i in range(first, min(first + batch, rows)):
                audit.record(uow, "bench.event", "bench_record", i, new={"i": i, "name": "x" * 20})
            uow.commit()
    append = time.perf_counter() - started
    with db.read_sessions() as session:
        started = time.perf_counter()
        report = audit.verify_chain(session)
        verify = time.perf_counter() - started
    db.dispose()
    print(f"[{db.dialect}] append {rows:,} rows: {rows / append:,.0f} rows/s; "
          f"verify {report.count:,} rows: {report.count / verify:,.0f} rows/s ({verify:.2f} s); "
          f"intact={report.ok}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=10_000, help="audit rows per transaction")
    parser.add_argument("--postgres", metavar="URL", help="also run on PostgreSQL (server URL)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        run(f"sqlite:///{folder}/audit.sqlite3", args.rows, args.batch)
    if args.postgres:
        server = make_url(args.postgres.replace("postgresql://", "postgresql+psycopg://", 1))
        name = f"gxp_bench_audit_{uuid.uuid4().hex[:8]}"
        admin = create_engine(server, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            run(server.set(database=name).render_as_string(hide_password=False), args.rows, args.batch)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    stored = hash_password("Correct-Horse-42")
    started = time.perf_counter()
    for _ in range(20):
        password_matches(stored, "Correct-Horse-42")
    print(f"argon2id password check: {(time.perf_counter() - started) / 20 * 1000:.1f} ms each")


if __name__ == "__main__":
    main()
