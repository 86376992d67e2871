"""Content package figures on this machine.

- Import of a large package (100 MB by default: a SCORM 1.2 course with an incompressible video)
  over real HTTP (werkzeug, threaded, 127.0.0.1:8230-8239), the upload streamed from disk by
  curl (another process): wall time and the process's peak resident memory (the server parses the
  multipart body to a spooled file, the service copies it while hashing, checks the central
  directory and keeps the zip; nothing holds the package in memory).
- Runtime commits of a SCORM 1.2 attempt through the test client (the view, its unit of work, the
  State document, the attempt row; some commits add statements): p50 / p95 latency.

Usage: ``.venv/bin/python bench/content.py [--mb 100] [--commits 300] [--database-url …]``
(a temporary SQLite file by default).
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bridge import migrate
from bridge.app import create_app
from bridge.core import accounts
from bridge.core.actor import SYSTEM
from bridge.core.uow import UnitOfWork
from qms.documents import approval
from qms.training import assignments
from tests.content import builders
from tests.content.test_browser import _serve

PASSWORD = "Bench-Password-2026!"


def current_rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class RssSampler:
    """The highest resident memory seen while it runs (sampled every 5 ms)."""

    def __init__(self) -> None:
        self.peak = current_rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, current_rss_mb())

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def big_package(path: Path, megabytes: int) -> None:
    """A SCORM 1.2 package with ``megabytes`` of incompressible media, written in 1 MiB blocks."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("imsmanifest.xml", builders.scorm12_manifest())
        archive.writestr("sco/index.html", builders.SCORM12_PAGE)
        archive.writestr("sco/sco.js", builders.SCORM12_JS)
        with archive.open(zipfile.ZipInfo("sco/media/video.mp4"), "w") as member:
            for _ in range(megabytes):
                member.write(os.urandom(1024 * 1024))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--commits", type=int, default=300)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="gxp-content-bench-"))
    url = args.database_url or f"sqlite:///{workdir / 'bench.sqlite3'}"
    app = create_app(
        database_url=url, instance_path=workdir / "instance", secret_key="bench", log_level="WARNING"
    )
    db = app.extensions["gxpbridge.db"]
    migrate.upgrade(db.engine)
    with UnitOfWork(db, SYSTEM) as uow:
        accounts.create_user(uow, "author", roles=["qa_author"], password=PASSWORD, display_name="Author")
        approver = accounts.create_user(
            uow, "approver", roles=["qa_approver"], password=PASSWORD, display_name="Approver"
        ).actor()
        learner = accounts.create_user(
            uow, "learner", roles=["learner"], password=PASSWORD, display_name="Learner"
        )
        token = accounts.issue_token(uow, accounts.get_user(uow.session, "author")).token
        learner_token = accounts.issue_token(uow, learner).token
        person_id = learner.person_id
        uow.commit()
    print(f"database: {db.dialect}")

    # -- import -------------------------------------------------------------------------------
    package = workdir / "big.zip"
    big_package(package, args.mb)
    size_mb = package.stat().st_size / 1024 / 1024
    server, dispatch = _serve()
    dispatch.target = app
    with server:
        server.thread.start()
        base = f"http://127.0.0.1:{server.port}"
        before_rss = current_rss_mb()
        # The client is curl in its own process (a Python client in this process would share the GIL).
        command = [
            "curl",
            "-sS",
            "-o",
            "-",
            "-w",
            "\n%{http_code}",
            "-H",
            f"Authorization: Bearer {token}",
            "-F",
            "code=CRS-BIG",
            "-F",
            "label=1.0",
            "-F",
            f"file=@{package};type=application/zip",
            f"{base}/api/v1/courses/import",
        ]
        with RssSampler() as sampler:
            start = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
            took = time.perf_counter() - start
        body, _, status = done.stdout.rpartition("\n")
        if status != "201":
            raise SystemExit(f"import refused: {status} {body[:300]} {done.stderr[:300]}")
        sha = json.loads(body)["sha256"]
        peak = sampler.peak
        print(
            f"import of a {size_mb:.0f} MB package over HTTP (curl -F): {took:.2f} s; resident memory of the "
            f"server process {before_rss:.0f} MB before, peak {peak:.0f} MB during the import "
            f"(+{peak - before_rss:.0f} MB)"
        )
    (workdir / "instance" / "content" / "packages" / f"{sha}.zip").unlink()

    # -- runtime commits ----------------------------------------------------------------------
    small = app.test_client().post(
        "/api/v1/courses/import",
        headers={"Authorization": f"Bearer {token}"},
        content_type="multipart/form-data",
        data={"file": (io.BytesIO(builders.scorm12_package()), "c.zip"), "code": "CRS-RUN", "label": "1.0"},
    )
    version_id = small.get_json()["item_version_id"]
    with UnitOfWork(db, approver) as uow:
        approval.approve_course_version(
            uow,
            version_id,
            username="approver",
            password=PASSWORD,
            effective_at=uow.clock.now() + dt.timedelta(days=1),
            lockout_threshold=5,
        )
        uow.commit()
    with UnitOfWork(db, SYSTEM) as uow:
        assignments.assign(
            uow,
            person_ids=[person_id],
            item_version_id=version_id,
            due_at=uow.clock.now() + dt.timedelta(days=10),
        )
        uow.commit()
    client = app.test_client()
    play = client.get(f"/content/start/{version_id}", headers={"Authorization": f"Bearer {learner_token}"})
    play_url = play.headers["Location"].split("://", 1)[-1].split("/", 1)[1]
    plain, with_statements, cpu = [], [], []
    for n in range(args.commits):
        cmi = {
            "core": {
                "lesson_status": "incomplete",
                "lesson_location": f"page-{n}",
                "score": {"raw": str(n % 50) if n % 10 == 0 else "", "min": "0", "max": "100"},
            },
            "suspend_data": "x" * 2000 + str(n),
        }
        start, start_cpu = time.perf_counter(), time.process_time()
        answer = client.post(f"/{play_url}commit", json={"sequence": n, "terminate": False, "cmi": cmi})
        elapsed = (time.perf_counter() - start) * 1000
        cpu.append((time.process_time() - start_cpu) * 1000)
        if answer.status_code != 200:
            raise SystemExit(f"commit refused: {answer.status_code} {answer.get_data(as_text=True)[:300]}")
        (with_statements if answer.get_json()["statements"] else plain).append(elapsed)
    every = plain + with_statements
    print(
        f"runtime commits: n={len(every)} p50 {statistics.median(every):.1f} ms, "
        f"p95 {pct(every, 0.95):.1f} ms; "
        f"without statements p50 {statistics.median(plain):.1f} ms (n={len(plain)}), with statements p50 "
        f"{statistics.median(with_statements):.1f} ms (n={len(with_statements)}); CPU time p50 "
        f"{statistics.median(cpu):.1f} ms; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    db.dispose()


if __name__ == "__main__":
    main()
