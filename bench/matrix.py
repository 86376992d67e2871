"""Benchmark of the quality system at plant scale.

Builds a plant of 10,000 people, 300 job functions, 2,000 documents (two versions each),
about 50 required documents per person (500,000 person-requirement pairs with their
maintained compliance state) and 1,000,000 completions by bulk inserts (not through the
API), then measures through the real REST API (Flask test client, real database):

* approving a change control whose document 2,000 people need (e-signature, assignments
  created and older ones superseded, audit rows, commit): end to end;
* the full matrix compliance report by department and job function;
* one person's transcript.

Usage::

    .venv/bin/python bench/matrix.py                       # SQLite in a temporary folder
    .venv/bin/python bench/matrix.py --database-url postgresql://postgres@127.0.0.1:5432/postgres
    .venv/bin/python bench/matrix.py --people 1000 --completions 100000   # a smaller plant

On PostgreSQL a database of its own is created and dropped.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bridge import migrate
from bridge.core.db import make_engine

PASSWORD = "Bench-Password-2026"
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def pg_url(url: str) -> str:
    if url.startswith(("postgres://", "postgresql://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


class BulkLoader:
    """Set-based inserts: COPY on PostgreSQL, executemany on SQLite."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name

    def load(self, table: str, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
        raw = self.engine.raw_connection()
        try:
            cursor = raw.cursor()
            if self.dialect == "postgresql":
                with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                raw.commit()
            else:

                def value(v: Any) -> Any:
                    if isinstance(v, dt.datetime):  # the format SQLAlchemy stores (UTC, naive)
                        return v.astimezone(dt.UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
                    return v

                marks = ", ".join("?" for _ in columns)
                cursor.execute("BEGIN")
                cursor.executemany(
                    f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
                    ([value(v) for v in row] for row in rows),
                )
                cursor.execute("COMMIT")
        finally:
            raw.close()

    def finish(self, tables: list[str]) -> None:
        with self.engine.begin() as conn:
            if self.dialect == "postgresql":
                for table in tables:
                    conn.execute(
                        text(
                            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                            f"(SELECT max(id) FROM {table}))"
                        )
                    )
        if self.dialect == "postgresql":
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE"))
        else:
            with self.engine.begin() as conn:
                conn.execute(text("ANALYZE"))


def build_plant(engine: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Bulk-load the plant; returns ids the measurements need."""
    rng = random.Random(2026)
    loader = BulkLoader(engine)
    people, functions, n_docs = args.people, args.functions, args.documents
    departments = 10
    hired = NOW - dt.timedelta(days=800)
    long_ago = NOW - dt.timedelta(days=700)
    recent = NOW - dt.timedelta(days=100)
    t0 = time.perf_counter()
    loader.load(
        "qms_department",
        ["id", "code", "name", "active", "created_at"],
        [(d, f"D{d:02d}", f"Department {d}", True, hired) for d in range(1, departments + 1)],
    )
    loader.load(
        "qms_job_function",
        ["id", "code", "name", "active", "created_at"],
        [(j, f"JF{j:03d}", f"Job function {j}", True, hired) for j in range(1, functions + 1)],
    )
    loader.load(
        "person",
        ["id", "display_name", "active", "created_at", "employee_no"],
        [(p, f"Person {p}", True, hired, f"E{p:06d}") for p in range(1, people + 1)],
    )
    loader.load(
        "qms_employment", ["id", "person_id", "hired_at"], [(p, p, hired) for p in range(1, people + 1)]
    )
    person_jf = {p: (p - 1) % functions + 1 for p in range(1, people + 1)}
    person_dept = {p: (p - 1) % departments + 1 for p in range(1, people + 1)}
    loader.load(
        "qms_person_job_function",
        ["id", "person_id", "job_function_id", "valid_from"],
        [(p, p, person_jf[p], hired) for p in range(1, people + 1)],
    )
    loader.load(
        "qms_person_department",
        ["id", "person_id", "department_id", "valid_from"],
        [(p, p, person_dept[p], hired) for p in range(1, people + 1)],
    )
    # Documents, each with its read-and-understand item and two versions (1.0 superseded, 2.0 effective).
    docs, items, dvs, ivs = [], [], [], []
    for d in range(1, n_docs + 1):
        docs.append((d, f"SOP-{d:04d}", f"Procedure {d}", "SOP", hired))
        items.append((d, f"SOP-{d:04d}", "read_and_understand", f"Procedure {d}", d, True, False, hired))
        for seq in (1, 2):
            vid = 2 * (d - 1) + seq
            status = "superseded" if seq == 1 else "effective"
            since = hired if seq == 1 else long_ago
            ended = long_ago if seq == 1 else None
            ivs.append((vid, d, seq, f"{seq}.0", True, seq, status, since, since, ended, "[]", hired))
            dvs.append((vid, d, seq, f"{seq}.0", "major", True, status, since, hired, vid))
    loader.load("qms_document", ["id", "code", "title", "doc_type", "created_at"], docs)
    loader.load(
        "qms_training_item",
        [
            "id",
            "code",
            "kind",
            "title",
            "document_id",
            "requires_signature",
            "requires_trainer",
            "created_at",
        ],
        items,
    )
    loader.load(
        "qms_training_item_version",
        [
            "id",
            "training_item_id",
            "seq",
            "label",
            "retrain",
            "baseline_seq",
            "status",
            "effective_at",
            "effective_since",
            "ended_at",
            "activity_iris",
            "created_at",
        ],
        ivs,
    )
    loader.load(
        "qms_document_version",
        [
            "id",
            "document_id",
            "seq",
            "label",
            "revision",
            "retrain",
            "status",
            "effective_at",
            "created_at",
            "item_version_id",
        ],
        dvs,
    )
    # The matrix: each job function requires ~50 documents; the first documents (the change
    # control targets) are required by enough job functions to reach --affected people.
    per_person = args.per_person
    target_docs = [1, 2, 3]
    people_per_jf = people / functions
    jf_per_target = max(1, round(args.affected / people_per_jf))
    requirements = []
    jf_docs: dict[int, list[int]] = {}
    rid = 0
    for j in range(1, functions + 1):
        chosen: list[int] = []
        for t, doc in enumerate(target_docs):
            if t * jf_per_target < j <= (t + 1) * jf_per_target:
                chosen.append(doc)
        pool = rng.sample(range(len(target_docs) + 1, n_docs + 1), per_person - len(chosen))
        chosen.extend(pool)
        jf_docs[j] = chosen
        for doc in chosen:
            rid += 1
            requirements.append((rid, "job_function", j, doc, 0, hired))
    loader.load(
        "qms_requirement",
        ["id", "scope", "job_function_id", "training_item_id", "grace_days", "valid_from"],
        requirements,
    )
    req_of = {(r[2], r[3]): r[0] for r in requirements}
    # Completions: each pair completed on 1.0 long ago and on 2.0 recently (up to --completions).
    completions, states = [], []
    cid = 0
    budget = args.completions
    for p in range(1, people + 1):
        j = person_jf[p]
        for doc in jf_docs[j]:
            last = None
            for seq, when in ((1, long_ago), (2, recent)):
                if cid >= budget:
                    break
                cid += 1
                last = (cid, 2 * (doc - 1) + seq, when)
                completions.append((cid, p, doc, last[1], "read_and_understood", when, when, "{}"))
            ok = last is not None and last[1] == 2 * (doc - 1) + 2
            states.append(
                (
                    len(states) + 1,
                    p,
                    req_of[(j, doc)],
                    doc,
                    person_dept[p],
                    j,
                    "compliant" if ok else "due",
                    last[1] if ok else None,
                    last[0] if ok else None,
                    last[2] if ok else None,
                    NOW,
                )
            )
    loader.load(
        "qms_completion",
        [
            "id",
            "person_id",
            "training_item_id",
            "item_version_id",
            "method",
            "completed_at",
            "recorded_at",
            "evidence",
        ],
        completions,
    )
    loader.load(
        "qms_compliance_state",
        [
            "id",
            "person_id",
            "requirement_id",
            "training_item_id",
            "department_id",
            "job_function_id",
            "status",
            "trained_version_id",
            "last_completion_id",
            "last_completed_at",
            "updated_at",
        ],
        states,
    )
    loader.finish(
        [
            "person",
            "qms_department",
            "qms_job_function",
            "qms_employment",
            "qms_person_job_function",
            "qms_person_department",
            "qms_document",
            "qms_training_item",
            "qms_training_item_version",
            "qms_document_version",
            "qms_requirement",
            "qms_completion",
            "qms_compliance_state",
        ]
    )
    built = time.perf_counter() - t0
    return {
        "targets": target_docs,
        "build_seconds": built,
        "completions": len(completions),
        "pairs": len(states),
        "requirements": len(requirements),
        "affected_per_target": round(jf_per_target * people_per_jf),
    }


# The matrix report recomputed from the records at each request, as the maintained state avoids.
NAIVE_MATRIX = """
SELECT pd.department_id, pjf.job_function_id, count(*) AS pairs,
       sum(CASE WHEN EXISTS (
             SELECT 1 FROM qms_completion c
             JOIN qms_training_item_version v ON v.id = c.item_version_id
             JOIN qms_training_item_version e
               ON e.training_item_id = r.training_item_id AND e.status = 'effective'
             WHERE c.person_id = pjf.person_id AND c.training_item_id = r.training_item_id
               AND v.seq BETWEEN e.baseline_seq AND e.seq) THEN 1 ELSE 0 END) AS trained
FROM qms_person_job_function pjf
JOIN qms_requirement r ON r.job_function_id = pjf.job_function_id AND r.valid_to IS NULL
JOIN qms_person_department pd ON pd.person_id = pjf.person_id AND pd.valid_to IS NULL
WHERE pjf.valid_to IS NULL
GROUP BY pd.department_id, pjf.job_function_id
"""


def timed(func: Any, repeat: int) -> list[float]:
    figures = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        figures.append((time.perf_counter() - start) * 1000)
    return figures


def describe(figures: list[float]) -> str:
    return (
        f"median {statistics.median(figures):8.1f} ms   min {min(figures):8.1f} ms   "
        f"max {max(figures):8.1f} ms   (n={len(figures)})"
    )


def run(url: str, args: argparse.Namespace, workdir: Path) -> None:
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    engine = make_engine(url)
    print(
        f"\n=== {engine.dialect.name}: building the plant ({args.people} people, "
        f"{args.functions} job functions, "
        f"{args.documents} documents, {args.per_person} per person, {args.completions} completions)"
    )
    facts = build_plant(engine, args)
    engine.dispose()
    print(
        f"built in {facts['build_seconds']:.1f} s: {facts['pairs']} person-requirement pairs, "
        f"{facts['completions']} completions, {facts['requirements']} requirements"
    )

    from bridge.app import create_app
    from bridge.core import accounts
    from bridge.core.actor import SYSTEM
    from bridge.core.uow import UnitOfWork
    from qms.changes import services as changes
    from qms.documents import services as documents
    from qms.documents.models import TrainingItemVersion

    logging.getLogger("bridge").setLevel(logging.WARNING)
    logging.getLogger("qms").setLevel(logging.WARNING)
    app = create_app(
        database_url=url, instance_path=workdir / "instance", secret_key="bench", log_level="WARNING"
    )
    db = app.extensions["gxpbridge.db"]
    with UnitOfWork(db, SYSTEM) as uow:
        for name, role in (
            ("bench.author", "qa_author"),
            ("bench.approver", "qa_approver"),
            ("bench.auditor", "auditor"),
        ):
            accounts.create_user(uow, name, roles=[role], password=PASSWORD, display_name=name)
        uow.commit()
    tokens = {}
    with UnitOfWork(db, SYSTEM) as uow:
        for name in ("bench.author", "bench.approver", "bench.auditor"):
            tokens[name] = {
                "Authorization": "Bearer "
                + accounts.issue_token(uow, accounts.get_user(uow.session, name)).token
            }
        uow.commit()
    # One change control per target document, each with a new major version in review.
    change_ids = []
    effective = (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).isoformat()
    with UnitOfWork(db, SYSTEM) as uow:
        author = accounts.get_user(uow.session, "bench.author").actor()
    for doc in facts["targets"]:
        with UnitOfWork(db, author) as uow:
            version = documents.create_version(
                uow, doc, label="3.0", revision="major", change_summary="bench"
            )
            documents.attach_file(
                uow,
                version.id,
                content=f"bench {doc}".encode(),
                file_name="x.pdf",
                media_type="application/pdf",
            )
            change = changes.create_change_control(
                uow,
                title=f"bench {doc}",
                description=None,
                impact="retrain",
                effective_at=dt.datetime.fromisoformat(effective),
                document_version_ids=[version.id],
            )
            changes.submit_change_control(uow, change.id)
            change_ids.append(change.id)
            uow.commit()
    client = app.test_client()

    approvals = []
    created = []
    for change_id in change_ids:
        profiler = None
        if args.profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        start = time.perf_counter()
        response = client.post(
            f"/api/v1/change-controls/{change_id}/approve",
            headers=tokens["bench.approver"],
            json={"username": "bench.approver", "password": PASSWORD},
        )
        approvals.append((time.perf_counter() - start) * 1000)
        if profiler is not None:
            import pstats

            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
        assert response.status_code == 200, response.get_data(as_text=True)
        created.append(response.json["assignments_created"])
    with db.read_sessions() as session:
        approved = session.query(TrainingItemVersion).filter(TrainingItemVersion.status == "approved").count()
    assert approved == len(change_ids)

    def report() -> None:
        response = client.get("/api/v1/matrix/compliance", headers=tokens["bench.auditor"])
        assert response.status_code == 200 and response.json["totals"]["pairs"] == facts["pairs"], (
            response.json
        )

    person = args.people // 2

    def transcript() -> None:
        response = client.get(f"/api/v1/people/{person}/transcript", headers=tokens["bench.auditor"])
        assert response.status_code == 200 and len(response.json["requirements"]) == args.per_person

    report()
    transcript()
    report_figures = timed(report, args.repeat)
    transcript_figures = timed(transcript, args.repeat * 4)
    print(
        f"change-control approval ({', '.join(map(str, created))} assignments created, "
        "end to end via the API, "
        f"incl. e-signature password check):"
    )
    print(f"    {describe(approvals)}")
    print(f"matrix compliance report ({facts['pairs']} pairs, by department × job function):")
    print(f"    {describe(report_figures)}")
    print("one person's transcript:")
    print(f"    {describe(transcript_figures)}")
    if args.naive:
        start = time.perf_counter()
        with db.engine.connect() as conn:
            groups = conn.execute(text(NAIVE_MATRIX)).all()
        seconds = time.perf_counter() - start
        print(
            f"for comparison, the naive SQL scan of the matrix ({sum(g[2] for g in groups)} pairs "
            f"recomputed from memberships, requirements and completions): {seconds:.1f} s"
        )
    db.dispose()


def run_on_scratch_database(
    database_url: str | None, run: Callable[[str, Any, Path], None], args: Any, prefix: str = "gxp-bench-"
) -> None:
    """``run(url, args, workdir)`` on a fresh database: a SQLite file in a temporary folder, or
    (``database_url`` given) a scratch PostgreSQL database created on that server and dropped after.
    """
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        workdir = Path(tmp)
        if not database_url:
            run(f"sqlite:///{workdir / 'bench.sqlite3'}", args, workdir)
            return
        server = make_url(pg_url(database_url))
        name = f"gxp_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(server, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            run(server.set(database=name).render_as_string(hide_password=False), args, workdir)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


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
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="print a profile of each approval")
    parser.add_argument(
        "--naive", action="store_true", help="also time a naive SQL recomputation of the matrix"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    run_on_scratch_database(args.database_url, run, args, prefix="gxp-bench-")


if __name__ == "__main__":
    main()
