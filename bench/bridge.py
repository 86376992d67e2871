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

    from sqlalchemy import create_engine, insert, text

    from bridge.core.people import Person, PersonIdentity
    from qms.documents.models import TrainingItem, TrainingItemVersion
    from qms.training.evidence_models import ActivityIri, iri_key
    from qms.training.models import Assignment

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
        if conn.dialect.name == "postgresql":
            # What autovacuum does after a bulk load (some test servers run without it): without
            # statistics the identity look-up filters a namespace's rows instead of using the key.
            conn.execute(
                text(
                    "ANALYZE person, person_identity, qms_training_item, qms_training_item_version, "
                    "qms_activity_iri, qms_assignment"
                )
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
        deadline = time.time() + 180  # a loaded machine starts slowly
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


def _headers(key: str, secret: str) -> dict[str, str]:
    import base64

    return {
        "Authorization": "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode(),
        "X-Experience-API-Version": "1.0.3",
        "Content-Type": "application/json",
    }


def compare(label: str, servers: dict[str, BridgeServer], args: argparse.Namespace) -> dict[str, dict]:
    """Both servers run side by side and are measured in turns (each round in the other order),
    so load from elsewhere on the machine falls on both alike."""
    headers: dict[str, dict[str, str]] = {}
    try:
        for mode, server in servers.items():
            headers[mode] = _headers(*server.start())
    except BaseException:
        for server in servers.values():
            server.stop()
        raise
    totals = {
        mode: dict.fromkeys(("batch_n", "batch_s", "batch_cpu", "single_n", "single_s", "single_cpu"), 0.0)
        for mode in servers
    }
    errors: list[str] = []
    try:
        batches = max(args.clients, args.statements // 100 // args.rounds)
        singles = max(args.clients, args.single // args.rounds)
        for kind, per_round in (("batch", batches), ("single", singles)):
            for round_no in range(args.rounds):

                def requests_of(
                    i: int, kind: str = kind, per_round: int = per_round, round_no: int = round_no
                ) -> list[tuple[str, str, bytes | None]]:
                    rng = random.Random(100_000 * round_no + 1000 * (kind == "batch") + i)
                    if kind == "batch":
                        return [
                            (
                                "POST",
                                "/xapi/statements",
                                orjson.dumps([lrs.make_statement(rng) for _ in range(100)]),
                            )
                            for _ in range(per_round // args.clients)
                        ]
                    return [
                        ("POST", "/xapi/statements", orjson.dumps(lrs.make_statement(rng)))
                        for _ in range(per_round // args.clients)
                    ]

                order = list(servers) if round_no % 2 == 0 else list(reversed(servers))
                for mode in order:
                    rate, cpu_ms, _client = lrs.measure_requests(
                        servers[mode], headers[mode], args.clients, requests_of, errors
                    )
                    count = per_round // args.clients * args.clients
                    totals[mode][f"{kind}_n"] += count * (100 if kind == "batch" else 1)
                    totals[mode][f"{kind}_s"] += count / rate
                    totals[mode][f"{kind}_cpu"] += cpu_ms * count / 1000
        figures = {}
        for mode, server in servers.items():
            t = totals[mode]
            figures[mode] = {
                "batch": t["batch_n"] / t["batch_s"],
                "batch_cpu_ms": t["batch_cpu"] / t["batch_n"] * 1000,
                "single": t["single_n"] / t["single_s"],
                "single_cpu_ms": t["single_cpu"] / t["single_n"] * 1000,
            }
            f = figures[mode]
            counts = {
                name: server.count(f"SELECT COUNT(*) FROM {table}")
                for name, table in (
                    ("stored", "xapi_statement"),
                    ("evidence", "qms_evidence"),
                    ("inbox", "qms_evidence_inbox"),
                    ("completions", "qms_completion"),
                )
            }
            print(
                f"[{label}, rules {mode}] batch POST {f['batch']:.0f} statements/s "
                f"(server CPU {f['batch_cpu_ms']:.3f} ms a statement); single POST {f['single']:.0f}/s "
                f"(server CPU {f['single_cpu_ms']:.3f} ms a request); {counts['stored']:,} statements "
                f"stored, {counts['evidence']:,} evidence rows, {counts['inbox']:,} waiting in the inbox, "
                f"{counts['completions']:,} completions",
                flush=True,
            )
        if errors:
            print(f"[{label}] {len(errors)} requests failed; first: {errors[0][:300]}", flush=True)
    finally:
        for server in servers.values():
            server.stop()
    return figures


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
    parser.add_argument("--rounds", type=int, default=6, help="turns each server gets, alternating")
    parser.add_argument("--workers", type=int)
    parser.add_argument("--port", type=int, default=8160)
    parser.add_argument("--postgres", metavar="URL", help="also run on PostgreSQL (server URL)")
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()
    results = {}
    if not args.skip_sqlite:
        results["sqlite"] = compare(
            "sqlite",
            {
                "off": BridgeServer(None, args.port, args.workers, rules=False),
                "on": BridgeServer(None, args.port + 1, args.workers, rules=True),
            },
            args,
        )
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
            results["postgresql"] = compare(
                "postgresql",
                {
                    "off": BridgeServer(off_url, args.port + 2, args.workers, rules=False),
                    "on": BridgeServer(on_url, args.port + 3, args.workers, rules=True),
                },
                args,
            )
        finally:
            with admin.connect() as conn:
                for name in names:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    print("\nsummary (target: rules on >= 80 % of rules off)")
    for label, pair in results.items():
        off, on = pair["off"], pair["on"]
        print(
            f"  {label:10s} batch {off['batch']:6.0f}/s off, {on['batch']:6.0f}/s on "
            f"({100 * on['batch'] / off['batch']:.0f} %) | single {off['single']:5.0f}/s off, "
            f"{on['single']:5.0f}/s on ({100 * on['single'] / off['single']:.0f} %)"
        )


if __name__ == "__main__":
    main()
