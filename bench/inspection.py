"""Benchmark of the inspector's canned questions on the 10,000-person plant of ``bench/matrix.py``.

Builds that plant (bulk inserts), then through the services: a change control approved (its new
version assigned to the people who need it), a deviation involving 50 people and a CAPA whose
training action assigns a job function; time passes (a movable clock) so assignments fall
overdue. A signed-in auditor then sets the console's inspection moment to a past moment and
answers each question through the real console pages (Flask test client, real database), HTML
and PDF, printing the timings. The target: each question under 1 s.

Usage::

    .venv/bin/python bench/inspection.py                   # SQLite in a temporary folder
    .venv/bin/python bench/inspection.py --database-url postgresql://postgres@127.0.0.1:5432/postgres
    .venv/bin/python bench/inspection.py --people 1000 --completions 100000   # a smaller plant
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import re
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.matrix import PASSWORD, build_plant, describe, run_on_scratch_database, timed
from bridge import migrate
from bridge.core.db import make_engine


def _setup(app: Any, facts: dict[str, Any], clock: Any) -> dict[str, Any]:
    """Users, an approved change control, a deviation and a CAPA; returns the ids asked about."""
    from bridge.core import accounts
    from bridge.core.actor import SYSTEM
    from bridge.core.uow import UnitOfWork
    from qms.capa import actions as capa_actions
    from qms.capa import lifecycle as capa_lifecycle
    from qms.capa import services as capas
    from qms.changes import services as changes
    from qms.deviations import services as deviations
    from qms.documents import services as documents
    from qms.documents.models import DocumentVersion
    from qms.org.models import Department, JobFunction, PersonJobFunction

    db = app.extensions["gxpbridge.db"]
    with UnitOfWork(db, SYSTEM) as uow:
        for name, role in (("bench.author", "qa_author"), ("bench.approver", "qa_approver"),
                           ("bench.auditor", "auditor")):
            accounts.create_user(uow, name, roles=[role], password=PASSWORD, display_name=name)
        uow.commit()
    with UnitOfWork(db, SYSTEM) as uow:
        author = accounts.get_user(uow.session, "bench.author").actor()
        approver = accounts.get_user(uow.session, "bench.approver").actor()
    doc = facts["targets"][0]
    with UnitOfWork(db, author) as uow:
        version = documents.create_version(uow, doc, label="3.0", revision="major", change_summary="bench")
        documents.attach_file(uow, version.id, content=b"bench", file_name="x.pdf",
                              media_type="application/pdf")
        change = changes.create_change_control(
            uow, title="bench change", description=None, impact="retrain",
            effective_at=clock.now() + dt.timedelta(days=20), document_version_ids=[version.id])
        changes.submit_change_control(uow, change.id)
        change_id, version_id = change.id, version.id
        uow.commit()
    with UnitOfWork(db, approver) as uow:
        changes.approve_change_control(uow, change_id, username="bench.approver", password=PASSWORD,
                                       lockout_threshold=5)
        uow.commit()
    clock.set(clock.now() + dt.timedelta(days=2))
    with UnitOfWork(db, author) as uow:
        session = uow.session
        function = session.scalar(select(JobFunction).order_by(JobFunction.id))
        people = list(session.scalars(select(PersonJobFunction.person_id)
                                      .where(PersonJobFunction.job_function_id == function.id).limit(50)))
        deviation = deviations.create_deviation(
            uow, title="bench deviation", description=None, classification="major",
            occurred_at=clock.now() - dt.timedelta(hours=1), discovered_at=None,
            person_ids=people, document_ids=[doc])
        capa = capas.create_capa(uow, title="bench capa", description=None, source="deviation",
                                 source_reference=None, owner_person_id=people[0],
                                 due_at=clock.now() + dt.timedelta(days=45), deviation_id=deviation.id)
        capas.start_investigation(uow, capa.id)
        capas.record_root_cause(uow, capa.id, root_cause="bench")
        capa_actions.add_action(uow, capa.id, kind="training", description="retrain",
                                due_at=clock.now() + dt.timedelta(days=21),
                                training_item_ids=[documents.item_of_document(session, doc).id],
                                job_function_ids=[function.id])
        ids = {"deviation_id": deviation.id, "capa_id": capa.id, "change_id": change_id,
               "department_id": session.scalar(select(Department.id).order_by(Department.id)),
               "version_id": session.scalar(select(DocumentVersion.id).where(
                   DocumentVersion.document_id == doc, DocumentVersion.label != "3.0")
                   .order_by(DocumentVersion.seq.desc()).limit(1)),
               "new_version_id": version_id, "person_id": people[0]}
        uow.commit()
    with UnitOfWork(db, approver) as uow:
        capa_lifecycle.approve_plan(uow, ids["capa_id"], username="bench.approver", password=PASSWORD,
                                    lockout_threshold=5)
        uow.commit()
    return ids


def run(url: str, args: argparse.Namespace, workdir: Path) -> None:
    """Build the plant, set up the quality records, time every question as of a past moment."""
    from bridge.app import create_app
    from bridge.core.clock import MovableClock

    kept = Path(args.keep).with_suffix(".json") if args.keep else None
    if kept is not None and kept.exists():  # a plant built by an earlier run
        saved = json.loads(kept.read_text())
        ids, start = saved["ids"], dt.datetime.fromisoformat(saved["start"])
        clock = MovableClock()
        engine = make_engine(url)
        migrate.upgrade(engine)  # tables added since it was built
        engine.dispose()
        print(f"\n=== reusing the plant in {args.keep}", flush=True)
    else:
        engine = make_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
        engine = make_engine(url)
        print(f"\n=== {engine.dialect.name}: building the plant ({args.people} people, "
              f"{args.completions} completions)", flush=True)
        facts = build_plant(engine, args)
        engine.dispose()
        print(f"built in {facts['build_seconds']:.1f} s: {facts['pairs']} person-requirement pairs",
              flush=True)
        clock = MovableClock()
        app = create_app(database_url=url, instance_path=workdir / "instance", secret_key="bench",
                         log_level="WARNING", clock=clock)
        start = clock.now()
        ids = _setup(app, facts, clock)
        app.extensions["gxpbridge.db"].dispose()
        if kept is not None:
            kept.write_text(json.dumps({"ids": ids, "start": start.isoformat()}))
    logging.getLogger("bridge").setLevel(logging.WARNING)
    logging.getLogger("qms").setLevel(logging.WARNING)
    app = create_app(database_url=url, instance_path=workdir / "instance", secret_key="bench",
                     log_level="WARNING", clock=clock)
    clock.set(start + dt.timedelta(days=60))
    moment = start + dt.timedelta(days=40)  # assignments due at 30 days are overdue then
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post("/login", data={"csrf_token": token, "username": "bench.auditor",
                                       "password": PASSWORD}).status_code == 302
    token = re.search(r'name="csrf_token" value="([^"]+)"',
                      client.get("/console/inspection/").get_data(as_text=True)).group(1)
    assert client.post("/console/as-of", data={"csrf_token": token,
                                              "as_of": moment.strftime("%Y-%m-%dT%H:%M")}).status_code == 303
    print(f"as of {moment:%Y-%m-%d %H:%M} UTC (a past moment; now is {clock.now():%Y-%m-%d %H:%M} UTC)")
    questions = [
        ("trained before effective (document version 3.0)",
         f"trained-before-effective?version_id={ids['new_version_id']}"),
        ("qualified at T (one person)", f"qualified-at?person_id={ids['person_id']}"),
        (f"qualified at T (department of {args.people // 10} people)",
         f"qualified-at?department_id={ids['department_id']}"),
        ("training adequacy of a deviation (50 people)",
         f"deviation-adequacy?deviation_id={ids['deviation_id']}"),
        ("assignments of a change control", f"change-control-assignments?change_id={ids['change_id']}"),
        ("open CAPA training", "open-capa-training"),
        ("overdue by department", "overdue-by-department"),
    ]
    for label, path in questions:
        for fmt in ("html", "pdf"):
            url_ = f"/console/inspection/{path}{'&' if '?' in path else '?'}format={fmt}"

            def ask(url_: str = url_) -> None:
                response = client.get(url_)
                assert response.status_code == 200, response.get_data(as_text=True)[:500]

            ask()
            if args.profile and fmt == "html":
                import cProfile
                import pstats

                profiler = cProfile.Profile()
                profiler.enable()
                ask()
                profiler.disable()
                pstats.Stats(profiler).sort_stats("cumulative").print_stats(18)
            figures = timed(ask, args.repeat)
            summary = ""
            if fmt == "html":
                html = client.get(url_).get_data(as_text=True)
                found = re.search(r'id="answer-summary">(.*?)</dl>', html, re.S)
                summary = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found.group(1)))[:160] if found else ""
            print(f"{label:55s} {fmt:4s} {describe(figures)}  {summary}", flush=True)
    app.extensions["gxpbridge.db"].dispose()


def main() -> None:
    """Parse the arguments; run on SQLite or on a scratch PostgreSQL database."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="PostgreSQL server URL (a scratch database is created)")
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--functions", type=int, default=300)
    parser.add_argument("--documents", type=int, default=2_000)
    parser.add_argument("--per-person", type=int, default=50)
    parser.add_argument("--completions", type=int, default=1_000_000)
    parser.add_argument("--affected", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", help="SQLite file to build the plant in once and reuse after")
    parser.add_argument("--profile", action="store_true", help="print a profile of each question")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.keep:
        path = Path(args.keep).resolve()
        run(f"sqlite:///{path}", args, path.parent)
        return
    run_on_scratch_database(args.database_url, run, args, prefix="gxp-bench-")


if __name__ == "__main__":
    main()
