"""Benchmark of the quality console at plant scale: every page of the navigation (as an administrator
who sees them all: console1's and the quality-event, matrix and report pages) plus record, filtered and
report pages.

Builds the 10,000-person plant of ``bench/matrix.py`` (same bulk loader and sizes), adds a CAPA
whose training action assigns a job function, and a deviation with people and documents, signs
in through ``/login`` as an administrator (who sees every page) and fetches every console page —
each link of the navigation, the dashboard and the matrix grid included, plus record pages,
filtered pages and reports — ``--repeat`` times through the real app (Flask test client, real
database). Prints p50/p95 server time and the HTML size of each page; flags pages over
150 ms p95 or 200 KB.

Usage::

    .venv/bin/python bench/console_quality.py                       # SQLite in a temporary folder
    .venv/bin/python bench/console_quality.py --database-url postgresql://postgres@127.0.0.1:5432/postgres
    .venv/bin/python bench/console_quality.py --people 1000 --completions 100000 --repeat 5   # smaller
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from matrix import PASSWORD, build_plant, run_on_scratch_database

from bridge import migrate
from bridge.core.db import make_engine

P95_BUDGET_MS, SIZE_BUDGET = 150.0, 200_000


def _records(app) -> dict[str, int]:
    """A CAPA with a training action on job function 1 and a deviation; their ids."""
    from bridge.core import accounts
    from bridge.core.actor import SYSTEM
    from bridge.core.uow import UnitOfWork
    from qms.capa import actions as capa_actions
    from qms.capa import services as capas
    from qms.deviations import services as deviations

    db = app.extensions["gxpbridge.db"]
    with UnitOfWork(db, SYSTEM) as uow:
        accounts.create_user(
            uow, "bench.admin", roles=["administrator"], password=PASSWORD, display_name="Bench Admin"
        )
        accounts.create_user(
            uow, "bench.author", roles=["qa_author"], password=PASSWORD, display_name="Bench Author"
        )
        uow.commit()
    with UnitOfWork(db, SYSTEM) as uow:
        author = accounts.get_user(uow.session, "bench.author").actor()
    with UnitOfWork(db, author) as uow:
        now = uow.clock.now()
        deviation = deviations.create_deviation(
            uow,
            title="Bench deviation",
            description=None,
            classification="major",
            occurred_at=now - dt.timedelta(days=3),
            discovered_at=None,
            person_ids=list(range(1, 11)),
            document_ids=[1, 2, 3],
        )
        capa = capas.create_capa(
            uow,
            title="Bench CAPA",
            description=None,
            source="deviation",
            source_reference=None,
            owner_person_id=1,
            due_at=now + dt.timedelta(days=60),
            deviation_id=deviation.id,
        )
        capa_actions.add_action(
            uow,
            capa.id,
            kind="training",
            description="Retrain job function 1",
            due_at=now + dt.timedelta(days=30),
            training_item_ids=[5],
            job_function_ids=[1],
        )
        uow.commit()
        return {"capa": capa.id, "deviation": deviation.id}


def _sign_in(client, username: str) -> None:
    html = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    response = client.post("/login", data={"csrf_token": token, "username": username, "password": PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)[:300]


def pages(client, ids: dict[str, int]) -> list[str]:
    """Every link of the navigation, then record, filtered and report pages."""
    html = client.get("/console/").get_data(as_text=True)
    nav = html.split('<nav class="sidenav"', 1)[1].split("</nav>", 1)[0]
    links = list(dict.fromkeys(re.findall(r'<a href="([^"]+)"', nav)))
    more = [
        f"/console/capa/{ids['capa']}",
        "/console/capa/?status=open",
        f"/console/deviations/{ids['deviation']}",
        "/console/matrix/?department=1",
        "/console/matrix/?page=8&cols=2",
        "/console/matrix/?q=JF1&item=SOP-00",
        "/console/matrix/cell/1/5",
        "/console/matrix/job-functions/1/add",
        "/console/reports/matrix-compliance?run=1",
        "/console/reports/matrix-compliance?run=1&department=1",
        "/console/reports/overdue?run=1&department=1",
        "/console/reports/transcript?person=E000001",
        "/console/reports/document-training?document=SOP-0005",
        f"/console/reports/capa-training?capa_id={ids['capa']}",
        f"/console/reports/deviation-adequacy?deviation_id={ids['deviation']}",
        "/console/reports/audit-trail?run=1&entity_type=qms_capa",
        "/console/reports/overdue?run=1&department=1&format=csv",
        "/console/reports/transcript?person=E000001&format=pdf",
    ]
    return links + [m for m in more if m not in links]


def measure(client, url: str, repeat: int) -> tuple[list[float], int, int]:
    """Server times (ms), the page's size and status."""
    times, size, status = [], 0, 0
    for _ in range(repeat):
        start = time.perf_counter()
        response = client.get(url)
        body = response.get_data()
        times.append((time.perf_counter() - start) * 1000)
        size, status = len(body), response.status_code
    return times, size, status


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered) + 0.5) - 1))]


def run(url: str, args: argparse.Namespace, workdir: Path) -> None:
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    engine = make_engine(url)
    print(
        f"\n=== {engine.dialect.name}: building the plant ({args.people} people, {args.functions} job "
        f"functions, {args.documents} documents, {args.per_person} per person, "
        f"{args.completions} completions)"
    )
    facts = build_plant(engine, args)
    engine.dispose()
    print(f"built in {facts['build_seconds']:.1f} s")

    from bridge.app import create_app

    logging.getLogger("bridge").setLevel(logging.WARNING)
    logging.getLogger("qms").setLevel(logging.WARNING)
    app = create_app(
        database_url=url, instance_path=workdir / "instance", secret_key="bench", log_level="WARNING"
    )
    ids = _records(app)
    client = app.test_client()
    _sign_in(client, "bench.admin")
    over = []
    print(f"{'page':<72} {'p50 ms':>8} {'p95 ms':>8} {'KB':>7} status")
    for page in pages(client, ids):
        measure(client, page, 1)  # warm caches (templates, statements)
        times, size, status = measure(client, page, args.repeat)
        high, median = p95(times), statistics.median(times)
        html = "format=" not in page
        flag = ""
        if high > P95_BUDGET_MS or (html and size > SIZE_BUDGET) or status != 200:
            flag = "  <-- over budget" if status == 200 else "  <-- error"
            over.append(page)
        print(f"{page:<72} {median:8.1f} {high:8.1f} {size / 1000:7.1f} {status}{flag}")
    print(
        f"{len(over)} page(s) over {P95_BUDGET_MS:.0f} ms p95 or {SIZE_BUDGET // 1000} KB: {over}"
        if over
        else f"every page under {P95_BUDGET_MS:.0f} ms p95 and {SIZE_BUDGET // 1000} KB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", help="PostgreSQL server URL (a scratch database is created on it)")
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--functions", type=int, default=300)
    parser.add_argument("--documents", type=int, default=2_000)
    parser.add_argument("--per-person", type=int, default=50)
    parser.add_argument("--completions", type=int, default=1_000_000)
    parser.add_argument("--affected", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    run_on_scratch_database(args.database_url, run, args, prefix="gxp-console-bench-")


if __name__ == "__main__":
    main()
