"""Timed ``gxpbridge db upgrade`` over a large record store on PostgreSQL (issue 20).

    .venv/bin/python bench/upgrade.py --postgres postgresql://postgres@127.0.0.1:5432/postgres
    .venv/bin/python bench/upgrade.py --postgres URL --statements 100000     # a quick run

A scratch database is brought to head, the record store's branch is taken back to the first
schema that held statements (``xapi_0002``), and the store is filled with ``--statements``
statements and their filter rows (8 a statement, as the record store writes them) directly in
SQL. Then ``gxpbridge db upgrade`` runs one record-store revision at a time, as the command line
would on a site upgrading from that schema, and each step is timed: the time from any earlier
schema to head is the sum of the steps after it. Last, an upgrade of a database already at head
(what every rolling restart runs) is timed too. The scratch database is dropped afterwards.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
GXPBRIDGE = str(ROOT / ".venv" / "bin" / "gxpbridge")
FIRST = "xapi_0002"  # the first schema with statements
STEPS = ("xapi_0003", "xapi_0004", "xapi_0005")  # the record store's revisions after it, in order

FILL_STATEMENTS = """
INSERT INTO xapi_statement (seq, statement_id, stored, voided, voids, credential_id, version, body)
SELECT g, md5(g::text)::uuid::text, now() - make_interval(secs => %(n)s - g), false, NULL, 1, '1.0.3',
       format('{"id":"%%s","actor":{"mbox":"mailto:user%%s@lms.example"},'
              '"verb":{"id":"http://adlnet.gov/expapi/verbs/v%%s"},'
              '"object":{"id":"https://lms.example/activity/%%s"},"stored":"%%s"}',
              md5(g::text)::uuid, g %% 5000, g %% 50, g %% 5000, now())
FROM generate_series(1, %(n)s) AS g
"""
# Eight filter rows a statement: actor, verb, activity, registration, parent course, category,
# authority (related) and the related-activities row of the course.
FILL_INDEX = """
INSERT INTO xapi_statement_index (key, seq, relation)
SELECT left(md5(k.kind || '|' || (g %% k.modulo)::text), 32), g, k.relation
FROM generate_series(1, %(n)s) AS g
CROSS JOIN (VALUES ('agent', 5000, 0), ('verb', 50, 0), ('activity', 5000, 0),
                   ('registration', 20000, 0), ('course', 50, 1), ('category', 1, 1),
                   ('authority', 1, 1), ('parent', 50, 1)) AS k(kind, modulo, relation)
"""


def gxpbridge(env: dict[str, str], *args: str) -> float:
    """Run a command; return its wall time in seconds (exit on failure)."""
    started = time.perf_counter()
    result = subprocess.run([GXPBRIDGE, *args], env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode:
        raise SystemExit(f"gxpbridge {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--postgres", metavar="URL", required=True, help="PostgreSQL server URL")
    parser.add_argument("--statements", type=int, default=1_000_000)
    args = parser.parse_args()
    server = args.postgres.replace("postgresql+psycopg://", "postgresql://", 1)
    name = f"gxp_bench_upgrade_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = server.rsplit("/", 1)[0] + f"/{name}"
    folder = tempfile.mkdtemp(prefix="gxp-bench-upgrade-")
    env = {**os.environ, "GXPBRIDGE_DATABASE_URL": url, "GXPBRIDGE_INSTANCE_PATH": folder,
           "GXPBRIDGE_LOG_LEVEL": "WARNING"}
    try:
        fresh = gxpbridge(env, "db", "upgrade")
        gxpbridge(env, "db", "downgrade", FIRST)
        print(f"empty database to head: {fresh:.1f} s; record store taken back to {FIRST}", flush=True)
        started = time.perf_counter()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(FILL_STATEMENTS, {"n": args.statements})
            conn.execute(FILL_INDEX, {"n": args.statements})
            conn.execute(f"SELECT setval('xapi_statement_seq_seq', {args.statements})")
            conn.execute("VACUUM ANALYZE xapi_statement, xapi_statement_index")
            size = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()[0]
        print(f"filled {args.statements:,} statements and {8 * args.statements:,} filter rows in "
              f"{time.perf_counter() - started:.0f} s (database {size})", flush=True)
        steps = []
        for revision in STEPS:
            seconds = gxpbridge(env, "db", "upgrade", "--revision", revision)
            steps.append((revision, seconds))
            print(f"  db upgrade to {revision}: {seconds:.1f} s", flush=True)
        noop = gxpbridge(env, "db", "upgrade")
        print(f"  db upgrade at head (nothing to do, as at every restart): {noop:.1f} s", flush=True)
        print(f"summary at {args.statements:,} statements: wall time of the commands as run, and net of "
              f"the command's start-up (the no-op upgrade's {noop:.1f} s a command):")
        previous = [FIRST, *STEPS[:-1]]
        for i, start in enumerate(previous):
            total = sum(seconds for _, seconds in steps[i:])
            net = sum(max(0.0, seconds - noop) for _, seconds in steps[i:])
            print(f"  from {start} to head: {total:.1f} s ({len(steps) - i} commands), "
                  f"migrations {net:.1f} s")
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
