"""Zero-downtime upgrade on PostgreSQL (issue 20; docs/admin-guide.md section 5.2).

The previous release is the code of commit ``PREVIOUS_RELEASE`` (taken out of this repository
with ``git archive``; its schema heads are the current ones minus the five newest revisions, each
of which only adds tables or an index). The test runs the procedure's core:

1. the previous release migrates a scratch database and serves it: two ``serve`` instances
   behind nginx and a worker, while a client posts and reads xAPI statements through the proxy
   without pause;
2. the current release's ``gxpbridge db upgrade`` brings the schema to head while the old
   processes keep answering (expand: the old code works against the new schema);
3. rolling restart: each old instance is stopped gracefully and a current one started on its
   port, one at a time, then the worker;

and checks that no request failed in any phase, that every statement acknowledged was stored
once and reads back through the current release, and that the audit chain written by both
releases verifies. It needs git and this repository's history (skipped in the OQ tree).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, func, select, text

from tests.ops.conftest import OPS_SECRET_KEY
from tests.ops.helpers import BIN, PG_URL, ROOT, clean_env, free_port, scratch_pg_database
from tests.ops.test_scale_out import NGINX, NGINX_CONF, _wait_http

# The release before the newest schema revisions (qmsfix_0001, onboard_0001, notify_0001,
# content_0001, c3_0001): merge of wt-bridge, 2026-12-03.
PREVIOUS_RELEASE = "ceec9d93491905a976c7b45aa06b7ea57db7e401"
PREVIOUS_HEADS = {"core_0003", "lti_0002", "qms_0002", "qmscapa_0001", "validate_0001", "xapi_0005",
                  "xapidoc_0001"}
AUDIT_KEY = "rolling-upgrade-audit-key-" + "r" * 40
# Run the command line of whichever release PYTHONPATH names (the venv's script would import the
# installed copy's).
CLI = [str(BIN / "python"), "-c",
       "import sys; from bridge.cli import main; sys.argv[0] = 'gxpbridge'; main()"]


def _has_previous_release() -> bool:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        return False
    found = subprocess.run(["git", "-C", str(ROOT), "cat-file", "-e", f"{PREVIOUS_RELEASE}^{{commit}}"],
                           capture_output=True, check=False)
    return found.returncode == 0


@dataclass
class Site:
    """The database, the two releases' source trees and the processes serving the site."""

    url: str
    old: Path
    new: Path
    logs: Path
    env: dict[str, str]
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def release_env(self, tree: Path) -> dict[str, str]:
        return {**self.env, "PYTHONPATH": str(tree)}

    def run(self, tree: Path, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*CLI, *args], env=self.release_env(tree), capture_output=True, text=True,
                              timeout=300, check=False, cwd=tree)

    def start(self, name: str, tree: Path, *args: str, command: list[str] | None = None) -> None:
        log = open(self.logs / f"{name}.log", "a")  # closed when the process ends
        self.processes[name] = subprocess.Popen(
            command or [*CLI, *args], env=self.release_env(tree), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, cwd=tree)

    def reload_nginx(self) -> None:
        """Make nginx read its configuration again: new workers take it, old ones finish the
        requests in hand and leave."""
        self.processes["nginx"].send_signal(signal.SIGHUP)
        time.sleep(1)  # the new workers take over within a moment; no assertion hangs on it

    def stop(self, name: str) -> None:
        """A graceful stop (gunicorn: finish the requests in hand, accept no more)."""
        process = self.processes.pop(name)
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    if not PG_URL:
        pytest.skip("the rolling upgrade runs on PostgreSQL: set TEST_DATABASE_URL")
    if not NGINX.exists():
        pytest.skip("nginx is not installed (/usr/sbin/nginx): apt-get install -y nginx-light")
    if not _has_previous_release():
        pytest.skip("needs git and this repository's history (the previous release's code)")
    old = tmp_path / "previous-release"
    old.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", PREVIOUS_RELEASE, "bridge", "qms", "xapi", "lti"],
        capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
    with scratch_pg_database("gxp_rolling") as url:
        env = clean_env(GXPBRIDGE_DATABASE_URL=url, GXPBRIDGE_SECRET_KEY=OPS_SECRET_KEY,
                        GXPBRIDGE_AUDIT_KEY=AUDIT_KEY, GXPBRIDGE_TRUSTED_PROXIES="1",
                        GXPBRIDGE_INSTANCE_PATH=str(tmp_path / "instance"), GXPBRIDGE_LOG_LEVEL="INFO")
        found = Site(url, old, ROOT, tmp_path, env)
        try:
            yield found
        finally:
            for process in found.processes.values():
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
            for process in found.processes.values():
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)


def _heads(url: str) -> set[str]:
    engine = create_engine(url)
    with engine.connect() as conn:
        heads = set(conn.scalars(text("SELECT version_num FROM alembic_version")))
    engine.dispose()
    return heads


class Traffic:
    """A client posting a statement and reading it back through the proxy, again and again;
    every answer is counted under the phase the test is in when it arrives."""

    def __init__(self, proxy: str, key: str, secret: str) -> None:
        self.proxy = proxy
        self.headers = {"Authorization": "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode(),
                        "X-Experience-API-Version": "1.0.3"}
        self.phase = "previous release"
        self.answered: Counter[str] = Counter()
        self.failures: list[str] = []
        self.stored: list[str] = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with requests.Session() as http:
            while not self._stop.is_set():
                statement_id = str(uuid.uuid4())
                statement = {"id": statement_id,
                             "actor": {"objectType": "Agent", "mbox": "mailto:learner@plant.example"},
                             "verb": {"id": "http://adlnet.gov/expapi/verbs/experienced"},
                             "object": {"objectType": "Activity", "id": "https://lms.plant.example/mod/page/1"}}
                phase = self.phase
                try:
                    posted = http.post(f"{self.proxy}/xapi/statements", json=statement, headers=self.headers,
                                       timeout=60)
                    if posted.status_code != 200:
                        self.failures.append(f"{phase}: POST {posted.status_code} {posted.text[:200]}")
                        time.sleep(0.2)
                        continue
                    self.stored.append(statement_id)
                    read = http.get(f"{self.proxy}/xapi/statements", params={"statementId": statement_id},
                                    headers=self.headers, timeout=60)
                    if read.status_code != 200 or read.json().get("id") != statement_id:
                        self.failures.append(f"{phase}: GET {read.status_code} {read.text[:200]}")
                        time.sleep(0.2)
                        continue
                except requests.RequestException as exc:
                    self.failures.append(f"{phase}: {exc}")
                    time.sleep(0.2)
                    continue
                self.answered[phase] += 1

    def enter(self, phase: str, *, settle: int = 5) -> None:
        """Move to ``phase`` once the current one has had ``settle`` answered round trips."""
        deadline = time.monotonic() + 60
        while self.answered[self.phase] < settle and time.monotonic() < deadline:
            time.sleep(0.1)
        self.phase = phase

    def __enter__(self) -> Traffic:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self.thread.join(timeout=120)


def test_schema_upgrade_and_rolling_restart_while_serving(site: Site, tmp_path: Path) -> None:
    # 1. The previous release: migrate, a credential for the LMS, two instances, a worker, nginx.
    migrated = site.run(site.old, "db", "upgrade")
    assert migrated.returncode == 0, migrated.stderr
    assert _heads(site.url) == PREVIOUS_HEADS
    created = site.run(site.old, "lrs", "credentials", "create", "lms", "--scope", "all", "--json")
    assert created.returncode == 0, created.stderr
    credential = json.loads(created.stdout)
    ports = (free_port(), free_port())
    proxy_port = free_port()
    proxy = f"http://127.0.0.1:{proxy_port}"
    for port in ports:
        site.start(f"serve-{port}", site.old, "serve", "--port", str(port), "--workers", "1")
    site.start("worker", site.old, "worker", "--interval", "1")
    conf = tmp_path / "nginx.conf"

    def write_conf(down: int | None) -> None:
        a, b = (f"{port} down" if port == down else str(port) for port in ports)
        conf.write_text(NGINX_CONF.format(dir=tmp_path, a=a, b=b, port=proxy_port))

    write_conf(down=None)
    site.start("nginx", site.old,
               command=[str(NGINX), "-c", str(conf), "-p", str(tmp_path), "-g", "daemon off;"])
    for port in ports:
        _wait_http(f"http://127.0.0.1:{port}/healthz")
    _wait_http(f"{proxy}/healthz")

    with Traffic(proxy, credential["key"], credential["secret"]) as traffic:
        # 2. Expand: the current release's migrations, the old processes still serving.
        traffic.enter("schema upgrade")
        upgraded = site.run(site.new, "db", "upgrade")
        assert upgraded.returncode == 0, upgraded.stderr
        assert _heads(site.url) > PREVIOUS_HEADS
        traffic.enter("previous release on the new schema")
        # 3. Rolling restart, one instance at a time: out of the proxy (nginx reloads gracefully:
        # requests in hand finish), stopped gracefully, the current release started on its port,
        # healthy, back into the proxy. Then the worker.
        for port in ports:
            traffic.enter(f"restarting {port}")
            write_conf(down=port)
            site.reload_nginx()
            site.stop(f"serve-{port}")
            site.start(f"serve-{port}-new", site.new, "serve", "--port", str(port), "--workers", "1")
            _wait_http(f"http://127.0.0.1:{port}/healthz")
            write_conf(down=None)
            site.reload_nginx()
        site.stop("worker")
        site.start("worker-new", site.new, "worker", "--interval", "1")
        traffic.enter("current release")
        traffic.enter("done")

    logs = {p.name: p.read_text()[-1500:] for p in tmp_path.glob("*.log")}
    assert traffic.failures == [], (traffic.failures[:5], logs)
    for phase in ("previous release", "schema upgrade", "previous release on the new schema",
                  f"restarting {ports[0]}", f"restarting {ports[1]}", "current release"):
        assert traffic.answered[phase] >= 1, (phase, traffic.answered)

    # Every acknowledged statement stored once; the current release reads them all back.
    from xapi.store import StatementRow

    engine = create_engine(site.url)
    with engine.connect() as conn:
        stored = conn.scalar(select(func.count()).select_from(StatementRow.__table__))
    engine.dispose()
    assert stored == len(traffic.stored) == len(set(traffic.stored))
    headers = {**traffic.headers}
    for statement_id in (traffic.stored[0], traffic.stored[-1]):
        read = requests.get(f"http://127.0.0.1:{ports[0]}/xapi/statements",
                            params={"statementId": statement_id}, headers=headers, timeout=60)
        assert read.status_code == 200 and read.json()["id"] == statement_id
    # The audit rows both releases wrote form one intact chain.
    verified = site.run(site.new, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
