"""The container's entrypoint script (deploy/entrypoint.sh), run on this host: base images
cannot be pulled here, so the test runs the script the image runs, against a scratch database:
it waits for the database, migrates, then serves under gunicorn with deploy/gunicorn.conf.py."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text

from bridge import migrate
from tests.ops.helpers import PG_URL, ROOT, clean_env, free_port, scratch_pg_database

ENTRYPOINT = ROOT / "deploy" / "entrypoint.sh"
pytestmark = pytest.mark.requirement("URS-OPS-01")


@contextlib.contextmanager
def database_for(backend: str, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'entry.sqlite3'}"
        return
    with scratch_pg_database("gxp_entry") as url:
        yield url


def _parent(proc: Path) -> int | None:
    try:
        return int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def wait_for_health(port: int, process: subprocess.Popen, seconds: float = 90) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"entrypoint exited with {process.returncode}: {process.stdout.read()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
                return {"http": answer.status, **json.loads(answer.read())}
        except OSError:
            time.sleep(0.5)
    raise AssertionError("no /healthz answer in time")


@pytest.mark.parametrize("backend", [
    "sqlite",
    pytest.param("postgresql", marks=pytest.mark.skipif(not PG_URL, reason="TEST_DATABASE_URL is not set")),
])
def test_entrypoint_migrates_then_serves(backend, tmp_path):
    port = free_port()
    with database_for(backend, tmp_path) as url:
        env = clean_env(GXPBRIDGE_DATABASE_URL=url, GXPBRIDGE_INSTANCE_PATH=str(tmp_path / "instance"),
                        GXPBRIDGE_SECRET_KEY="entrypoint-test-" + "k" * 40,
                        GXPBRIDGE_GUNICORN_CONF=str(ROOT / "deploy" / "gunicorn.conf.py"),
                        GXPBRIDGE_BIND=f"127.0.0.1:{port}", GXPBRIDGE_WEB_WORKERS="2")
        process = subprocess.Popen(["sh", str(ENTRYPOINT), "web"], env=env, cwd=tmp_path,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                   start_new_session=True)
        try:
            health = wait_for_health(port, process)
            assert health["http"] == 200 and health["status"] == "ok", health
            # The master (the entrypoint exec'd gunicorn) built the app before forking the
            # workers, which share it: it has the app's libraries loaded, as they do (orjson is
            # loaded by the app, not by the command line gunicorn's settings import).
            loaded = ["orjson", "_sqlite3" if backend == "sqlite" else "libpq"]
            deadline, workers = time.monotonic() + 30, []
            while len(workers) < 2 and time.monotonic() < deadline:  # the second may fork later
                workers = [p for p in Path("/proc").iterdir()
                           if p.name.isdigit() and _parent(p) == process.pid]
                time.sleep(0.2)
            assert len(workers) == 2
            for pid in (process.pid, *(int(w.name) for w in workers)):
                maps = Path(f"/proc/{pid}/maps").read_text()
                assert all(name in maps for name in loaded), (pid, loaded)
            engine = create_engine(url)
            with engine.connect() as conn:
                versions = set(conn.execute(text("select version_num from alembic_version")).scalars())
            engine.dispose()
            script = ScriptDirectory.from_config(migrate.alembic_config(engine))
            assert versions == set(script.get_heads())  # every branch at its head
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)


def test_entrypoint_gives_up_on_an_unreachable_database(tmp_path):
    env = clean_env(GXPBRIDGE_DATABASE_URL="postgresql://nobody@127.0.0.1:9/none",
                    GXPBRIDGE_INSTANCE_PATH=str(tmp_path), GXPBRIDGE_DB_WAIT="0")
    done = subprocess.run(["sh", str(ENTRYPOINT), "migrate"], env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert "database not reachable" in done.stderr


def test_entrypoint_runs_any_other_command(tmp_path):
    env = clean_env(GXPBRIDGE_INSTANCE_PATH=str(tmp_path))
    done = subprocess.run(["sh", str(ENTRYPOINT), "gxpbridge", "--help"], env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0 and "validate" in done.stdout
