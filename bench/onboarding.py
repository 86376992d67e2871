"""Benchmark of onboarding a site: the document register, the people and the legacy records.

Through the real HTTP surface (Flask test client, real database), as a site would do it:

1. ``POST /api/v1/documents/import``: a register of ``--documents`` documents with two versions
   each (2,000 versions by default), past effective dates;
2. the training matrix (each job function requires ``--per-function`` documents; site set-up, timed
   apart), then ``/scim/v2/Bulk``: ``--people`` users (1,000) created with their department, and
   ``--functions`` groups whose members are the people (job functions), obligations assigned;
3. ``POST /api/v1/training/legacy-import``: ``--completions`` legacy completions (500,000) from a
   CSV, checked, written set-based (COPY on PostgreSQL), assignments closed, the state refreshed,
   the batch signed (each step logged with its duration).

Progress is printed as it goes; the figures at the end. Target: everything in < 2 min.

Usage::

    .venv/bin/python bench/onboarding.py                       # SQLite in a temporary folder
    .venv/bin/python bench/onboarding.py --database-url postgresql://postgres@127.0.0.1:5432/postgres
    .venv/bin/python bench/onboarding.py --people 100 --completions 20000   # a small run
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import logging
import os
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bridge import migrate
from bridge.core.db import make_engine

PASSWORD = "Bench-Password-2026"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
V1 = dt.datetime(2018, 1, 1, tzinfo=dt.UTC)
V2 = dt.datetime(2022, 1, 1, tzinfo=dt.UTC)


def pg_url(url: str) -> str:
    if url.startswith(("postgres://", "postgresql://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def say(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def run(url: str, args: argparse.Namespace, workdir: Path) -> dict[str, float]:
    from bridge.app import create_app
    from bridge.core import accounts
    from bridge.core.actor import SYSTEM
    from bridge.core.uow import UnitOfWork
    from qms.documents.models import TrainingItem
    from qms.provisioning import clients
    from qms.training.models import Completion

    engine = make_engine(pg_url(url))
    migrate.upgrade(engine)
    engine.dispose()
    app = create_app(
        database_url=pg_url(url), instance_path=workdir / "instance", secret_key="bench-secret-key-0"
    )
    db = app.extensions["gxpbridge.db"]
    with UnitOfWork(db, SYSTEM) as uow:
        for username, role in (("author", "qa_author"), ("admin", "administrator")):
            accounts.create_user(
                uow, username, roles=[role], password=PASSWORD, display_name=username.title()
            )
        token = {
            u: accounts.issue_token(uow, accounts.get_user(uow.session, u)).token for u in ("author", "admin")
        }
        scim_token = clients.issue_client(uow, "bench-idp").token
        uow.commit()
    client = app.test_client()
    api = {u: {"Authorization": f"Bearer {t}"} for u, t in token.items()}
    scim = {"Authorization": f"Bearer {scim_token}"}
    figures: dict[str, float] = {}
    rng = random.Random(7)

    # 1. The document register.
    lines = ["document_code,title,version_label,revision,effective_from"]
    for n in range(args.documents):
        lines.append(f"SOP-{n:05d},Procedure {n},1.0,major,{V1:%Y-%m-%d}")
        lines.append(f"SOP-{n:05d},Procedure {n},2.0,{'major' if n % 3 else 'minor'},{V2:%Y-%m-%d}")
    register = ("\n".join(lines) + "\n").encode()
    started, cpu = time.perf_counter(), time.process_time()
    response = client.post(
        "/api/v1/documents/import", data=register, headers={**api["author"], "Content-Type": "text/csv"}
    )
    assert response.status_code == 201, response.get_data(as_text=True)[:500]
    figures["register"] = time.perf_counter() - started
    figures["register_cpu"] = time.process_time() - cpu
    say(
        f"register: {response.json['documents']} documents, {response.json['versions']} versions "
        f"in {figures['register']:.1f} s"
    )
    with db.read_sessions() as session:
        items = dict(session.execute(select(TrainingItem.code, TrainingItem.id)).all())
    codes = sorted(items)

    # 2. The matrix, then the people and their job functions through SCIM.
    started, cpu = time.perf_counter(), time.process_time()
    functions = []
    required: dict[int, list[str]] = {}
    for f in range(args.functions):
        jf = client.post(
            "/api/v1/job-functions", json={"code": f"JF-{f}", "name": f"Function {f}"}, headers=api["admin"]
        ).json["id"]
        functions.append(jf)
        required[f] = rng.sample(codes, args.per_function)
        for code in required[f]:
            r = client.post(
                "/api/v1/requirements",
                json={"scope": "job_function", "scope_id": jf, "training_item_id": items[code]},
                headers=api["author"],
            )
            assert r.status_code == 201, r.get_data(as_text=True)
    figures["matrix"] = time.perf_counter() - started
    figures["matrix_cpu"] = time.process_time() - cpu
    say(
        f"matrix: {args.functions} job functions × {args.per_function} documents in {figures['matrix']:.1f} s"
    )
    started, cpu = time.perf_counter(), time.process_time()
    user_ids = []
    bulk_schema = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
    for first in range(0, args.people, 1000):
        operations = []
        for p in range(first, min(first + 1000, args.people)):
            operations.append(
                {
                    "method": "POST",
                    "path": "/Users",
                    "bulkId": f"u{p}",
                    "data": {
                        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
                        "userName": f"p{p}",
                        "name": {"givenName": "Person", "familyName": str(p)},
                        "active": True,
                        "emails": [{"value": f"p{p}@plant.example", "primary": True}],
                        ENTERPRISE: {"department": f"DEPT-{p % 10}", "employeeNumber": f"E{p:06d}"},
                    },
                }
            )
        r = client.post(
            "/scim/v2/Bulk", json={"schemas": [bulk_schema], "Operations": operations}, headers=scim
        )
        assert r.status_code == 200, r.get_data(as_text=True)[:500]
        statuses = {o["status"] for o in r.json["Operations"]}
        assert statuses == {"201"}, statuses
        user_ids += [o["location"].rsplit("/", 1)[1] for o in r.json["Operations"]]
        say(
            f"  SCIM users (bulk): {len(user_ids):,} / {args.people:,} "
            f"in {time.perf_counter() - started:.1f} s",
        )
    groups = [
        {
            "method": "POST",
            "path": "/Groups",
            "data": {
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": f"JF-{f}",
                "members": [{"value": uid} for i, uid in enumerate(user_ids) if i % args.functions == f],
            },
        }
        for f in range(args.functions)
    ]
    r = client.post("/scim/v2/Bulk", json={"schemas": [bulk_schema], "Operations": groups}, headers=scim)
    assert r.status_code == 200 and {o["status"] for o in r.json["Operations"]} == {"201"}, r.get_data()[:500]
    figures["people"] = time.perf_counter() - started
    figures["people_cpu"] = time.process_time() - cpu
    say(f"people: {args.people} SCIM users and {args.functions} groups in {figures['people']:.1f} s")

    # 3. The legacy training records.
    rows = ["person,item_code,version_label,completed_at,source_system,trainer,evidence_ref"]
    per_person = max(1, args.completions // args.people)
    for p in range(args.people):
        # The documents of the person's job function first (most people end up qualified), then others;
        # one person in ten misses one required document.
        own = required[p % args.functions][: args.per_function - (1 if p % 10 == 0 else 0)]
        others = [
            c
            for c in rng.sample(codes, min(len(codes), per_person // 2 + 1))
            if c not in required[p % args.functions]
        ]
        chosen = own + others
        made = 0
        for code in chosen:
            for label, start in (("1.0", V1), ("2.0", V2)):
                if made >= per_person:
                    break
                at = start + dt.timedelta(days=rng.randrange(1, 1300), seconds=p)
                rows.append(
                    f"E{p:06d},{code},{label},{at:%Y-%m-%dT%H:%M:%SZ},OldLMS,Trainer {p % 7},REC-{p}-{made}"
                )
                made += 1
    history = ("\n".join(rows) + "\n").encode()
    say(f"legacy file: {len(rows) - 1:,} rows, {len(history) / 1e6:.1f} MB")
    started, cpu = time.perf_counter(), time.process_time()
    response = client.post(
        "/api/v1/training/legacy-import?source_system=OldLMS",
        headers=api["author"],
        data={"file": (io.BytesIO(history), "history.csv"), "username": "author", "password": PASSWORD},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200, response.get_data(as_text=True)[:1000]
    figures["legacy"] = time.perf_counter() - started
    figures["legacy_cpu"] = time.process_time() - cpu
    result = response.json
    say(
        f"legacy: {result['completions']:,} completions, {result['refused_count']} refused, "
        f"{result['assignments_closed']:,} assignments closed in {figures['legacy']:.1f} s; "
        f"qualified {result['compliance']['before']['qualified']} → "
        f"{result['compliance']['after']['qualified']} of {result['compliance']['after']['people']}"
    )
    with db.read_sessions() as session:
        figures["completions_stored"] = session.scalar(select(func.count()).select_from(Completion))
    figures["total"] = figures["register"] + figures["people"] + figures["legacy"]
    figures["total_cpu"] = figures["register_cpu"] + figures["people_cpu"] + figures["legacy_cpu"]
    db.dispose()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", help="PostgreSQL server URL (a scratch database is created on it)")
    parser.add_argument("--people", type=int, default=1_000)
    parser.add_argument("--documents", type=int, default=1_000, help="documents (two versions each)")
    parser.add_argument("--functions", type=int, default=20)
    parser.add_argument("--per-function", type=int, default=25)
    parser.add_argument("--completions", type=int, default=500_000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="  %(message)s")
    logging.getLogger("qms.onboarding").setLevel(logging.INFO)  # the legacy import's progress
    with tempfile.TemporaryDirectory(prefix="gxp-bench-") as tmp:
        workdir = Path(tmp)
        if not args.database_url:
            figures = run(f"sqlite:///{workdir / 'bench.sqlite3'}", args, workdir)
            database = "SQLite"
        else:
            server = make_url(pg_url(args.database_url))
            name = f"gxp_bench_{uuid.uuid4().hex[:8]}"
            admin = create_engine(server, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            try:
                figures = run(server.set(database=name).render_as_string(hide_password=False), args, workdir)
            finally:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                admin.dispose()
            database = "PostgreSQL"
    out = sys.stdout
    out.write(
        f"\nonboarding on {database}: {args.documents * 2:,} versions, {args.people:,} people, "
        f"{int(figures['completions_stored']):,} legacy completions\n"
    )
    out.write(f"  {'phase':<10} {'wall':>8}   {'CPU (this process)':>18}\n")
    for key in ("register", "people", "legacy", "total"):
        out.write(f"  {key:<10} {figures[key]:8.1f} s {figures[key + '_cpu']:12.1f} s\n")
    out.write(f"  load average at the end: {os.getloadavg()[0]:.1f} (2 cores shared)\n")
    out.write(f"  (matrix set-up through the REST API, not an import: {figures['matrix']:.1f} s)\n")
    out.write(f"  target: total < 120 s: {'met' if figures['total'] < 120 else 'NOT met'}\n")


if __name__ == "__main__":
    main()
