"""Benchmark of the bridge: the record store's ingest with the evidence rule off and on.

    .venv/bin/python bench/bridge.py --statements 20000
    .venv/bin/python bench/bridge.py --statements 20000 --postgres postgresql://postgres@127.0.0.1:5432/postgres

For each database, two servers (``gxpbridge serve``) run one after the other on fresh databases
holding the same mapped population: 10,000 people whose xAPI accounts are the benchmark's learners
(``bench/lrs.py``'s 5,000 agents and 5,000 more people), 2,000 training items with one effective
version each, listing 2,000 of the benchmark's 5,000 activities, and 20,000 open assignments.
The first server runs without the ``StatementsStored`` rule (the rules-off figures), the second
with every rule. Each measures batch POSTs of 100 statements (``--statements`` in all) and then
single-statement POSTs (``--single``), with ``bench/lrs.py``'s statements: 50 verbs, of which
completed/passed/failed (outcomes) and experienced (presented) are evidence when their actor and
activity map; outcomes whose activity is not listed wait in the inbox.

The target: with the rule on, batched and single ingest stay at 80 % or more of the rules-off rate.
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import subprocess
import sys
import time
import uuid
from pathlib import Path

import orjson
import requests

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, this file's folder comes first on the path and its name would hide the
# ``bridge`` package: the repository comes first instead, and bench/lrs.py is loaded by path.
sys.path[:] = [str(ROOT)] + [
    p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent
]
_spec = importlib.util.spec_from_file_location("bench_lrs", ROOT / "bench" / "lrs.py")
assert _spec is not None and _spec.loader is not None
lrs = importlib.util.module_from_spec(_spec)  # the record store's benchmark: server, client, statements
_spec.loader.exec_module(lrs)

PYTHON = str(ROOT / ".venv" / "bin" / "python")
HOME = "https://lms.gxp.example"
PEOPLE, ITEMS, ASSIGNMENTS = 10_000, 2_000, 20_000


def serve_without_the_evidence_rule(argv: list[str]) -> None:
    """Run ``gxpbridge`` with the ``StatementsStored`` rule taken out of the table (rules off)."""
    import bridge.rules
    from bridge.cli import main
    from xapi.statements import StatementsStored

    bridge.rules.RULES = tuple(rule for rule in bridge.rules.RULES if rule[0] is not StatementsStored)
    sys.argv = ["gxpbridge", *argv]
    main()


def populate(database_url: str) -> None:
    """The mapped population, written in bulk (what years of hiring and authoring leave behind)."""
    import datetime as dt

    from sqlalchemy import create_engine, insert

    from bridge.core.people import Person, PersonIdentity
    from qms.evidence_models import ActivityIri, iri_key
    from qms.models import Assignment, TrainingItem, TrainingItemVersion

    url = database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    engine = create_engine(url)
    now = dt.datetime.now(dt.UTC)
    rng = random.Random(7)
    with engine.begin() as conn:
        conn.execute(
            insert(Person.__table__),
            [
                {"id": i + 1, "display_name": f"Learner {i}", "active": True, "created_at": now}
                for i in range(PEOPLE)
            ],
        )
        conn.execute(
            insert(PersonIdentity.__table__),
            [
                {
                    "person_id": i + 1,
                    "kind": "xapi_account",
                    "namespace": HOME,
                    "value": f"user{i}",
                    "created_at": now,
                }
                for i in range(PEOPLE)
            ],
        )
        conn.execute(
            insert(TrainingItem.__table__),
            [
                {
                    "id": i + 1,
                    "code": f"MOD-{i}",
                    "kind": "course",
                    "title": f"Module {i}",
                    "requires_signature": False,
                    "requires_trainer": False,
                    "pass_score": 0.5 if i % 2 else None,
                    "created_at": now,
                }
                for i in range(ITEMS)
            ],
        )
        iris = [f"{HOME}/mod/scorm/{i}" for i in range(ITEMS)]
        conn.execute(
            insert(TrainingItemVersion.__table__),
            [
                {
                    "id": i + 1,
                    "training_item_id": i + 1,
                    "seq": 1,
                    "label": "1",
                    "retrain": True,
                    "baseline_seq": 1,
                    "status": "effective",
                    "effective_at": now,
                    "effective_since": now,
                    "activity_iris": [iris[i]],
                    "created_at": now,
                }
                for i in range(ITEMS)
            ],
        )
        conn.execute(
            insert(ActivityIri.__table__),
            [{"iri_key": iri_key(iris[i]), "iri": iris[i], "item_version_id": i + 1} for i in range(ITEMS)],
        )
        pairs = set()
        while len(pairs) < ASSIGNMENTS:
            pairs.add((rng.randrange(lrs.N_AGENTS), rng.randrange(ITEMS)))
        conn.execute(
            insert(Assignment.__table__),
            [
                {
                    "person_id": p + 1,
                    "training_item_id": i + 1,
                    "item_version_id": i + 1,
                    "reason": "matrix",
                    "status": "open",
                    "assigned_at": now,
                    "due_at": now + dt.timedelta(days=30),
                }
                for p, i in sorted(pairs)
            ],
        )
    engine.dispose()


class BridgeServer(lrs.Server):
    """``gxpbridge serve`` on a fresh, populated database, with or without the evidence rule."""

    def __init__(self, database_url: str | None, port: int, workers: int | None, rules: bool) -> None:
        super().__init__(database_url, port, workers, 1)
        self.rules = rules

    def start(self) -> tuple[str, str]:
        import json

        self.cli("db", "upgrade")
        populate(self.database_url or f"sqlite:///{self.folder / 'gxpbridge.sqlite3'}")
        pair = json.loads(self.cli("lrs", "credentials", "create", "bench", "--json"))
        command = [PYTHON, __file__, "--serve-without-rules"] if not self.rules else [lrs.GXPBRIDGE]
        command += ["serve", "--port", str(self.port), "--threads", "1"]
        if self.workers:
            command += ["--workers", str(self.workers)]
        log = open(self.folder / "server.log", "w")
        self.process = subprocess.Popen(
            command,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.folder,
            start_new_session=True,
        )
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).ok:
                    return pair["key"], pair["secret"]
            except requests.ConnectionError:
                pass
            time.sleep(0.3)
        raise SystemExit(f"the server did not start; see {self.folder / 'server.log'}")

    def count(self, sql: str) -> int:
        from sqlalchemy import create_engine, text

        url = (self.database_url or f"sqlite:///{self.folder / 'gxpbridge.sqlite3'}").replace(
            "postgresql://", "postgresql+psycopg://", 1
        )
        engine = create_engine(url)
        with engine.connect() as conn:
            value = conn.execute(text(sql)).scalar_one()
        engine.dispose()
        return int(value)


def run(label: str, server: BridgeServer, args: argparse.Namespace) -> dict[str, float]:
    import base64

    key, secret = server.start()
    headers = {
        "Authorization": "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode(),
        "X-Experience-API-Version": "1.0.3",
        "Content-Type": "application/json",
    }
    errors: list[str] = []
    figures: dict[str, float] = {}
    try:
        batches = args.statements // 100

        def batch_requests(i: int) -> list[tuple[str, str, bytes | None]]:
            rng = random.Random(1000 + i)
            return [
                ("POST", "/xapi/statements", orjson.dumps([lrs.make_statement(rng) for _ in range(100)]))
                for _ in range(batches // args.clients)
            ]

        rate, cpu_ms, _client = lrs.measure_requests(server, headers, args.clients, batch_requests, errors)
        figures["batch"], figures["batch_cpu_ms"] = rate * 100, cpu_ms / 100

        def single_requests(i: int) -> list[tuple[str, str, bytes | None]]:
            rng = random.Random(i)
            return [
                ("POST", "/xapi/statements", orjson.dumps(lrs.make_statement(rng)))
                for _ in range(args.single // args.clients)
            ]

        rate, cpu_ms, _client = lrs.measure_requests(server, headers, args.clients, single_requests, errors)
        figures["single"], figures["single_cpu_ms"] = rate, cpu_ms
        figures["evidence"] = server.count("SELECT COUNT(*) FROM qms_evidence")
        figures["inbox"] = server.count("SELECT COUNT(*) FROM qms_evidence_inbox")
        figures["completions"] = server.count("SELECT COUNT(*) FROM qms_completion")
        stored = server.count("SELECT COUNT(*) FROM xapi_statement")
        print(
            f"[{label}] batch POST {figures['batch']:.0f} statements/s "
            f"(server CPU {figures['batch_cpu_ms']:.3f} ms a statement); "
            f"single POST {figures['single']:.0f}/s "
            f"(server CPU {figures['single_cpu_ms']:.3f} ms "
            f"a request); {stored:,} statements stored, {figures['evidence']:.0f} evidence rows, "
            f"{figures['inbox']:.0f} waiting in the inbox, {figures['completions']:.0f} completions",
            flush=True,
        )
        if errors:
            print(f"[{label}] {len(errors)} requests failed; first: {errors[0][:300]}", flush=True)
    finally:
        server.stop()
    return figures


def compare(label: str, database_url: str | None, args: argparse.Namespace) -> tuple[dict, dict]:
    off = run(f"{label}, rules off", BridgeServer(database_url, args.port, args.workers, rules=False), args)
    on = run(f"{label}, rules on", BridgeServer(database_url, args.port, args.workers, rules=True), args)
    return off, on


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve-without-rules":
        serve_without_the_evidence_rule(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--statements", type=int, default=20_000, help="statements sent in batches of 100")
    parser.add_argument("--single", type=int, default=2000, help="single-statement POSTs")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int)
    parser.add_argument("--port", type=int, default=8160)
    parser.add_argument("--postgres", metavar="URL", help="also run on PostgreSQL (server URL)")
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()
    results = {}
    if not args.skip_sqlite:
        results["sqlite"] = compare("sqlite", None, args)
    if args.postgres:
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        url = make_url(args.postgres.replace("postgresql://", "postgresql+psycopg://", 1))
        admin = create_engine(url, isolation_level="AUTOCOMMIT")
        names = [f"gxp_bench_bridge_{uuid.uuid4().hex[:8]}" for _ in range(2)]
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            off_url, on_url = (url.set(database=n).render_as_string(hide_password=False) for n in names)
            off = run(
                "postgresql, rules off", BridgeServer(off_url, args.port + 1, args.workers, rules=False), args
            )
            on = run(
                "postgresql, rules on", BridgeServer(on_url, args.port + 2, args.workers, rules=True), args
            )
            results["postgresql"] = (off, on)
        finally:
            with admin.connect() as conn:
                for name in names:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    print("\nsummary (target: rules on >= 80 % of rules off)")
    for label, (off, on) in results.items():
        print(
            f"  {label:10s} batch {off['batch']:6.0f}/s off, {on['batch']:6.0f}/s on "
            f"({100 * on['batch'] / off['batch']:.0f} %) | single {off['single']:5.0f}/s off, "
            f"{on['single']:5.0f}/s on ({100 * on['single'] / off['single']:.0f} %)"
        )


if __name__ == "__main__":
    main()
