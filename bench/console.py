"""Benchmark of the console's pages at plant scale (issue 17: < 150 ms server time at p95, pages
under 200 KB of HTML).

Builds the plant of ``bench/matrix.py`` (10,000 people, 300 job functions, 2,000 documents,
500,000 person-requirement pairs, 1,000,000 completions by default), approves one change control
(thousands of assignments) and leaves another waiting (its preview names thousands of people),
then signs a QA approver in through ``/login`` and fetches every console page N times through the
Flask test client on the real database.

Usage::

    .venv/bin/python bench/console.py                                  # SQLite, full plant
    .venv/bin/python bench/console.py --people 2000 --completions 200000 --repeat 10
    .venv/bin/python bench/console.py --database-url postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import re
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.matrix import PASSWORD, build_plant, run_on_scratch_database
from bridge import migrate
from bridge.core.db import make_engine

BUDGET_MS = 150
BUDGET_BYTES = 200 * 1024


def p95(figures: list[float]) -> float:
    ordered = sorted(figures)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def prepare(app: Any, facts: dict[str, Any]) -> dict[str, int]:
    """Users, one approved and one submitted change control; returns ids the pages need."""
    from bridge.core import accounts
    from bridge.core.actor import SYSTEM
    from bridge.core.uow import UnitOfWork
    from qms.changes import services as changes
    from qms.documents import services as documents
    from qms.documents.models import DocumentVersion

    db = app.extensions["gxpbridge.db"]
    with UnitOfWork(db, SYSTEM) as uow:
        for name, role in (("bench.author", "qa_author"), ("bench.approver", "qa_approver")):
            accounts.create_user(uow, name, roles=[role], password=PASSWORD, display_name=name)
        uow.commit()
    with db.read_sessions() as session:
        author = accounts.get_user(session, "bench.author").actor()
        approver = accounts.get_user(session, "bench.approver").actor()
    ids = []
    for doc in facts["targets"][:2]:
        with UnitOfWork(db, author) as uow:
            version = documents.create_version(uow, doc, label="3.0", revision="major",
                                               change_summary="bench")
            documents.attach_file(uow, version.id, content=f"bench {doc}".encode(), file_name="x.pdf",
                                  media_type="application/pdf")
            change = changes.create_change_control(
                uow, title=f"bench {doc}", description=None, impact="retrain",
                effective_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=10),
                document_version_ids=[version.id])
            changes.submit_change_control(uow, change.id)
            ids.append((change.id, doc, version.id))
            uow.commit()
    with UnitOfWork(db, approver) as uow:
        _change, created = changes.approve_change_control(
            uow, ids[0][0], username="bench.approver", password=PASSWORD, lockout_threshold=5)
        uow.commit()
    with db.read_sessions() as session:
        effective = session.scalar(select(DocumentVersion.id).where(DocumentVersion.status == "effective")
                                   .order_by(DocumentVersion.id))
    return {"approved_change": ids[0][0], "waiting_change": ids[1][0], "document": ids[0][1],
            "new_version": ids[0][2], "effective_version": effective, "created": created}


def run(url: str, args: argparse.Namespace, workdir: Path) -> None:
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    engine = make_engine(url)
    print(f"\n=== {engine.dialect.name}: building the plant ({args.people} people, "
          f"{args.documents} documents, {args.completions} completions)")
    facts = build_plant(engine, args)
    engine.dispose()
    print(f"built in {facts['build_seconds']:.1f} s: {facts['pairs']} person-requirement pairs")

    from bridge.app import create_app

    logging.getLogger("bridge").setLevel(logging.WARNING)
    logging.getLogger("qms").setLevel(logging.WARNING)
    app = create_app(database_url=url, instance_path=workdir / "instance", secret_key="bench",
                     log_level="WARNING")
    ids = prepare(app, facts)
    print(f"change control approved: {ids['created']} assignments created")
    client = app.test_client()
    login = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', login).group(1)
    response = client.post("/login", data={"csrf_token": token, "username": "bench.approver",
                                           "password": PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)
    person = args.people // 2
    pages = [
        ("baseline: /healthz (machine load)", "/healthz"),
        ("baseline: /login page", "/login"),
        ("dashboard", "/console/"),
        ("documents register", "/console/documents/"),
        ("documents search", "/console/documents/?q=DOC-01&sort=title"),
        ("document (versions, who is trained)", f"/console/documents/{ids['document']}"),
        ("document version", f"/console/documents/versions/{ids['new_version']}"),
        ("change controls", "/console/changes/"),
        ("change control: preview", f"/console/changes/{ids['waiting_change']}"),
        ("change control: created", f"/console/changes/{ids['approved_change']}"),
        ("people", "/console/people/"),
        ("people by department", "/console/people/?department=3&sort=name"),
        ("person", f"/console/people/{person}"),
        ("person qualified as of", f"/console/people/{person}?at=2025-06-01"),
        ("assignments", "/console/training/assignments"),
        ("assignments of a change",
         f"/console/training/assignments?source=change_control:{ids['approved_change']}"),
        ("assignments due soon", "/console/training/assignments?status=due_soon&sort=person"),
    ]
    print(f"{'page':42} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'KB':>6}  verdict")
    failures = 0
    for name, path in pages:
        figures = []
        size = 0
        for _ in range(args.repeat):
            start = time.perf_counter()
            response = client.get(path)
            figures.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200, (path, response.status_code,
                                                 response.get_data(as_text=True)[:500])
            size = len(response.data)
        figures.sort()
        ok = p95(figures) < BUDGET_MS and size < BUDGET_BYTES
        failures += not ok
        print(f"{name:42} {figures[len(figures) // 2]:8.1f} {p95(figures):8.1f} {figures[-1]:8.1f} "
              f"{size / 1024:6.1f}  {'ok' if ok else 'OVER BUDGET'}")
    print(f"{len(pages) - failures} of {len(pages)} pages within {BUDGET_MS} ms p95 "
          f"and {BUDGET_BYTES // 1024} KB")
    app.extensions["gxpbridge.db"].dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="PostgreSQL server URL (a scratch database is created on it)")
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--functions", type=int, default=300)
    parser.add_argument("--documents", type=int, default=2_000)
    parser.add_argument("--per-person", type=int, default=50)
    parser.add_argument("--completions", type=int, default=1_000_000)
    parser.add_argument("--affected", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    args.naive = args.profile = False
    logging.basicConfig(level=logging.WARNING)
    run_on_scratch_database(args.database_url, run, args, prefix="gxp-bench-console-")


if __name__ == "__main__":
    main()
