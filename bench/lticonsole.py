"""Benchmark of the LTI console pages and the policy page (issue 18), and of what reading the
console's policy overrides adds to a request.

Builds platforms with deployments and launches, courses with rosters, and an outbox of AGS scores
and roster syncs (most sent, some failed or dead), then signs an administrator in and fetches each
page N times through the Flask test client on the real database. Prints p50/p95 (ms) and the HTML
size of each page, then the time of one request whose settings come from the environment alone
against one that reads the (set) overrides.

Usage::

    .venv/bin/python bench/lticonsole.py                                # SQLite
    .venv/bin/python bench/lticonsole.py --deliveries 20000 --repeat 10
    .venv/bin/python bench/lticonsole.py --database-url postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import re
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bridge import migrate
from bridge.core.db import make_engine

PASSWORD = "Bench-Password-2026"


def p95(figures: list[float]) -> float:
    ordered = sorted(figures)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def build(app: Any, args: argparse.Namespace) -> int:
    """The LMS side of a site; returns the id of the busiest platform."""
    from bridge.core import accounts, outbox, people
    from bridge.core.actor import SYSTEM
    from bridge.core.uow import UnitOfWork
    from lti import services
    from lti.models import LtiContext, LtiContextMember, LtiLaunch

    db = app.extensions["gxpbridge.db"]
    now = dt.datetime.now(dt.UTC)
    with UnitOfWork(db, SYSTEM) as uow:
        accounts.create_user(uow, "bench.admin", roles=["administrator"], password=PASSWORD,
                             display_name="Bench Admin")
        person_ids = [people.create_person(uow.session, f"Learner {i}").id
                      for i in range(args.members)]
        platform_ids = []
        for p in range(args.platforms):
            platform = services.add_platform(
                uow, issuer=f"https://lms{p}.example", client_id=f"c{p}",
                deployment_ids=[f"d{p}-{d}" for d in range(args.deployments)],
                auth_login_url=f"https://lms{p}.example/auth",
                auth_token_url=f"https://lms{p}.example/token",
                keyset_url=f"https://lms{p}.example/certs",
                registered_by="dynamic" if p % 2 else "manual")
            platform_ids.append(platform.id)
        uow.session.flush()
        user_id = accounts.get_user(uow.session, "bench.admin").id
        launches = [{"handle_hash": uuid.uuid4().hex + uuid.uuid4().hex, "platform_id": pid,
                     "deployment_id": f"d{p}-{i % args.deployments}",
                     "message_type": "LtiResourceLinkRequest", "subject": str(i),
                     "person_id": person_ids[i % len(person_ids)], "user_id": user_id,
                     "lti_roles": [], "claims": {}, "created_at": now - dt.timedelta(minutes=i),
                     "expires_at": now}
                    for p, pid in enumerate(platform_ids) for i in range(args.launches)]
        uow.session.execute(insert(LtiLaunch), launches)
        contexts = []
        for c in range(args.courses):
            context = LtiContext(platform_id=platform_ids[0], context_id=f"course-{c}",
                                 title=f"Course {c}", deployment_id="d0-0",
                                 memberships_url="https://lms0.example/members",
                                 roster_synced_at=now)
            uow.session.add(context)
            contexts.append(context)
        uow.session.flush()
        uow.session.execute(insert(LtiContextMember), [
            {"context_pk": ctx.id, "person_id": pid, "subject": str(pid), "lti_roles": [],
             "status": "Active" if pid % 10 else "Deleted", "source": "nrps", "updated_at": now}
            for ctx in contexts for pid in person_ids])
        rows = []
        for i in range(args.deliveries):
            ags = i % 5 != 0
            state = "sent" if i % 50 else ("dead" if i % 100 == 0 else "pending")
            rows.append({
                "topic": services.AGS_TOPIC if ags else services.NRPS_TOPIC,
                "payload": ({"platform_id": platform_ids[i % len(platform_ids)], "completion_id": i,
                             "user_id": str(i)} if ags else {"context_pk": contexts[i % len(contexts)].id}),
                "created_at": now, "available_at": now, "attempts": 1,
                "status": state, "sent_at": now if state == "sent" else None,
                "last_error": None if state == "sent" else "ConnectionError: refused"})
        uow.session.execute(insert(outbox.OutboxMessage), rows)
        uow.commit()
    return platform_ids[0]


def run(url: str, args: argparse.Namespace, workdir: Path) -> None:
    from bridge.app import create_app

    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    app = create_app(database_url=url, instance_path=workdir / "instance", secret_key="bench",
                     log_level="WARNING")
    started = time.perf_counter()
    platform_id = build(app, args)
    print(f"built in {time.perf_counter() - started:.1f} s: {args.platforms} platforms, "
          f"{args.platforms * args.launches} launches, {args.courses} courses x {args.members} "
          f"members, {args.deliveries} deliveries")
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post("/login", data={"csrf_token": token, "username": "bench.admin",
                                       "password": PASSWORD}).status_code == 302
    pages = [
        ("/healthz (baseline)", "/healthz"),
        ("platforms", "/console/lti/"),
        ("platform (deployments, rosters)", f"/console/lti/platforms/{platform_id}"),
        ("deliveries (all)", "/console/lti/deliveries"),
        ("deliveries (failed)", "/console/lti/deliveries?state=failed"),
        ("registration links", "/console/lti/registration-links"),
        ("policy settings", "/console/admin/policy"),
    ]
    print(f"{'page':36} {'p50 ms':>8} {'p95 ms':>8} {'KB':>6}")
    for label, path in pages:
        times = []
        size = 0
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            response = client.get(path)
            times.append((time.perf_counter() - t0) * 1000)
            assert response.status_code == 200, (path, response.status_code)
            size = len(response.data)
        print(f"{label:36} {statistics.median(times):8.1f} {p95(times):8.1f} {size / 1024:6.1f}")
    # What the override read adds to a request: the cheapest console page, before and after an
    # override is stored (the read runs in both cases; the second also applies the values).
    mine = "/console/training/mine"
    for label in ("no override stored", "idle timeout overridden"):
        if label != "no override stored":
            page = client.get("/console/admin/policy").get_data(as_text=True)
            token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
            assert client.post("/console/admin/policy", data={
                "csrf_token": token, "GXPBRIDGE_SESSION_IDLE_MINUTES": "30",
                "reason": "bench"}).status_code == 303
        times = []
        for _ in range(args.repeat * 5):
            t0 = time.perf_counter()
            assert client.get(mine).status_code == 200
            times.append((time.perf_counter() - t0) * 1000)
        print(f"{'my training, ' + label:36} {statistics.median(times):8.1f} {p95(times):8.1f}")
    # The read itself, alone: one SELECT of the (tiny) override table in a read session.
    from bridge.core import policy_store

    db = app.extensions["gxpbridge.db"]
    times = []
    for _ in range(args.repeat * 50):
        t0 = time.perf_counter()
        with db.read_sessions() as session:
            policy_store.overrides(session)
        times.append((time.perf_counter() - t0) * 1000)
    print(f"{'override read alone':36} {statistics.median(times):8.2f} {p95(times):8.2f}")
    db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="PostgreSQL server URL (a scratch database is created on it)")
    parser.add_argument("--platforms", type=int, default=20)
    parser.add_argument("--deployments", type=int, default=5)
    parser.add_argument("--launches", type=int, default=5_000, help="launches per platform")
    parser.add_argument("--courses", type=int, default=50)
    parser.add_argument("--members", type=int, default=500, help="members per course")
    parser.add_argument("--deliveries", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        if not args.database_url:
            run(f"sqlite:///{workdir / 'bench.sqlite3'}", args, workdir)
            return
        server = make_url(args.database_url.replace("postgresql://", "postgresql+psycopg://", 1))
        name = f"bench_lticonsole_{uuid.uuid4().hex[:8]}"
        admin = create_engine(server, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            run(server.set(database=name).render_as_string(hide_password=False), args, workdir)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


if __name__ == "__main__":
    main()
