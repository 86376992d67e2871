"""Scale-out on PostgreSQL (issue 20): two ``gxpbridge serve`` instances and two workers behind
nginx on one database. Statements posted through the proxy land once, console sessions work on
either instance, an outbox message is sent once, sweeps run once.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import os
import re
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import func, select, text
from werkzeug.serving import make_server

from bridge.core import jobs
from bridge.core.uow import UnitOfWork
from tests.lti.platform import SCORE_SCOPE, ServerThread, TestPlatform
from tests.ops.conftest import OPS_SECRET_KEY
from tests.ops.helpers import BIN, PG_URL, clean_env, scratch_pg_database

AUDIT_KEY = "scale-out-audit-key-" + "k" * 40


def test_a_sweep_another_worker_is_running_is_skipped(db):
    ran: list[int] = []
    sweep = jobs.Sweep("test.sweep", lambda uow: ran.append(1) or len(ran), 60)
    if db.dialect != "postgresql":
        assert sweep.run(db) == 1  # SQLite: the write lock serialises sweeps
        return
    with db.engine.connect() as other:
        other.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": jobs.lock_key("test.sweep")})
        assert sweep.run(db) == jobs.SKIPPED and ran == []
        other.rollback()  # the other worker's transaction ends: its lock goes with it
    assert sweep.run(db) == 1 and ran == [1]
    assert jobs.lock_key("test.sweep") != jobs.lock_key("test.other")


# -- two hosts behind nginx ----------------------------------------------------------------------

NGINX = Path("/usr/sbin/nginx")
SERVE_PORTS = (8253, 8254)  # two "hosts"
LMS_PORT = 8255
PROXY_PORT = 8350
NGINX_CONF = """
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 512; }}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    upstream gxpbridge {{
        server 127.0.0.1:{a};
        server 127.0.0.1:{b};
    }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 64m;
        location / {{
            proxy_pass http://gxpbridge;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $host;
            proxy_set_header X-Forwarded-Port $server_port;
            proxy_set_header X-Forwarded-Prefix "";
            # Which host answered (the test checks both did); nginx never replays a POST.
            add_header X-Upstream $upstream_addr always;
        }}
    }}
}}
"""


def _wait_http(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{url} did not answer within {seconds} s")


@dataclass
class Cluster:
    """The scratch database, the in-test app on it, and the processes serving it."""

    url: str
    env: dict[str, str]
    app: Any
    proxy: str
    processes: list[subprocess.Popen] = field(default_factory=list)
    logs: Path | None = None

    def gxpbridge(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(BIN / "gxpbridge"), *args], env=self.env, capture_output=True, text=True,
                              timeout=300, check=False)

    def start(self, name: str, *args: str, command: list[str] | None = None) -> subprocess.Popen:
        assert self.logs is not None
        log = open(self.logs / f"{name}.log", "w")  # closed when the process ends
        process = subprocess.Popen(command or [str(BIN / "gxpbridge"), *args], env=self.env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        self.processes.append(process)
        return process


def _ports_free(*ports: int) -> bool:
    for port in ports:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    if not PG_URL:
        pytest.skip("scale-out runs on PostgreSQL: set TEST_DATABASE_URL")
    if not NGINX.exists():
        pytest.skip("nginx is not installed (/usr/sbin/nginx): apt-get install -y nginx-light")
    if not _ports_free(*SERVE_PORTS, LMS_PORT, PROXY_PORT):
        pytest.skip("the scale-out ports 8253-8255 and 8350 are taken")
    from bridge.app import create_app

    with scratch_pg_database("gxp_scale") as url:
        proxy = f"http://127.0.0.1:{PROXY_PORT}"
        env = clean_env(GXPBRIDGE_DATABASE_URL=url, GXPBRIDGE_SECRET_KEY=OPS_SECRET_KEY,
                        GXPBRIDGE_AUDIT_KEY=AUDIT_KEY, GXPBRIDGE_TRUSTED_PROXIES="1",
                        GXPBRIDGE_BASE_URL=proxy, GXPBRIDGE_INSTANCE_PATH=str(tmp_path / "instance"),
                        GXPBRIDGE_AUDIT_CHECKPOINT_SECONDS="1", GXPBRIDGE_LOG_LEVEL="INFO")
        app = create_app(database_url=url, secret_key=OPS_SECRET_KEY, audit_key=AUDIT_KEY,
                         instance_path=tmp_path / "in-test", base_url=proxy, lockout_threshold=5)
        found = Cluster(url, env, app, proxy, logs=tmp_path)
        try:
            upgraded = found.gxpbridge("db", "upgrade")
            assert upgraded.returncode == 0, upgraded.stderr
            yield found
        finally:
            for process in found.processes:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
            for process in found.processes:
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
            app.extensions["gxpbridge.db"].dispose()


def _statement(i: int) -> dict[str, Any]:
    return {
        "id": str(uuid.UUID(int=i + 1)),
        "actor": {"objectType": "Agent", "mbox": f"mailto:learner{i % 7}@plant.example"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/experienced"},
        "object": {"objectType": "Activity",
                   "id": f"https://lms.plant.example/mod/page/view.php?id={i % 11}"},
    }


def test_two_hosts_behind_nginx(cluster: Cluster, tmp_path: Path) -> None:
    from bridge import demo
    from bridge.core import accounts, outbox
    from bridge.core.actor import SYSTEM
    from bridge.core.audit import AuditCheckpoint, AuditEvent
    from bridge.core.clock import MovableClock
    from bridge.core.demo import HISTORY_DAYS
    from bridge.core.outbox import OutboxMessage
    from lti import keys
    from lti.models import LtiPlatform
    from lti.services import AGS_TOPIC
    from xapi import auth
    from xapi.store import StatementRow

    app, db = cluster.app, cluster.app.extensions["gxpbridge.db"]
    # The demo plant, its present 40 days ago: assignments have fallen due since, which the
    # workers' overdue sweep marks (once) at the real present.
    with app.app_context(), UnitOfWork(db, SYSTEM, clock=MovableClock(
            dt.datetime.now(dt.UTC) - dt.timedelta(days=HISTORY_DAYS + 40))) as uow:
        demo.load_plant(uow)
        issued = auth.create_credential(uow, "scale", scopes=["all"], pepper=OPS_SECRET_KEY,
                                        home_page=cluster.proxy)
        uow.commit()
    lms = TestPlatform(port=LMS_PORT, tool_base=cluster.proxy)
    lms_server = ServerThread(make_server("127.0.0.1", LMS_PORT, lms.app, threaded=True))
    lms_server.thread.start()
    registered = cluster.gxpbridge(*lms.cli_args())
    assert registered.returncode == 0, registered.stderr

    for port in SERVE_PORTS:
        cluster.start(f"serve-{port}", "serve", "--port", str(port), "--workers", "1")
    conf = tmp_path / "nginx.conf"
    conf.write_text(NGINX_CONF.format(dir=tmp_path, a=SERVE_PORTS[0], b=SERVE_PORTS[1], port=PROXY_PORT))
    cluster.start("nginx", command=[str(NGINX), "-c", str(conf), "-p", str(tmp_path), "-g", "daemon off;"])
    for port in SERVE_PORTS:
        _wait_http(f"http://127.0.0.1:{port}/healthz")
    _wait_http(f"{cluster.proxy}/healthz")
    for name in ("worker-1", "worker-2"):
        cluster.start(name, "worker", "--interval", "1")

    try:
        # 1. Statements through the proxy, from four clients at once, each sent twice: stored once.
        auth_header = {"Authorization": "Basic " + base64.b64encode(
            f"{issued.key}:{issued.secret}".encode()).decode(), "X-Experience-API-Version": "1.0.3"}
        upstreams: list[str] = []
        failures: list[str] = []
        total = 200

        def post(client: int) -> None:
            with requests.Session() as http:
                for i in range(client, total, 4):
                    for _attempt in range(2):  # the same statement again changes nothing
                        response = http.post(f"{cluster.proxy}/xapi/statements", json=_statement(i),
                                             headers=auth_header, timeout=60)
                        upstreams.append(response.headers.get("X-Upstream", ""))
                        if response.status_code != 200:
                            failures.append(f"{response.status_code} {response.text[:200]}")

        threads = [threading.Thread(target=post, args=(c,)) for c in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert failures == []
        assert {u.rsplit(":", 1)[1] for u in upstreams} == {str(p) for p in SERVE_PORTS}
        with db.read_sessions() as session:
            stored = session.scalars(select(StatementRow.statement_id)).all()
        demo_statements = 5
        assert len(stored) == len(set(stored)) == total + demo_statements

        # 2. A console session signed in through the proxy works on both hosts; signing out on
        # one ends it on both.
        with requests.Session() as browser:
            page = browser.get(f"{cluster.proxy}/login", timeout=30).text
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
            signed_in = browser.post(f"{cluster.proxy}/login", data={
                "csrf_token": csrf, "username": "qa.approver", "password": demo.DEMO_PASSWORD},
                allow_redirects=False, timeout=60)
            assert signed_in.status_code == 302, signed_in.text[:300]
            for port in SERVE_PORTS:
                me = browser.get(f"http://127.0.0.1:{port}/api/v1/me", timeout=30)
                assert me.status_code == 200 and me.json()["username"] == "qa.approver", (port, me.text)
            page = browser.get(f"http://127.0.0.1:{SERVE_PORTS[0]}/", timeout=30).text
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
            browser.post(f"http://127.0.0.1:{SERVE_PORTS[0]}/logout", data={"csrf_token": csrf}, timeout=30)
            assert browser.get(f"http://127.0.0.1:{SERVE_PORTS[1]}/api/v1/me", timeout=30).status_code == 401

        # 3. Outbox messages (grades for the LMS) relayed by two workers: each posted once.
        lms.add_lineitem("li1", "GxP training")
        with UnitOfWork(db, SYSTEM) as uow:
            keys.create_key(uow)
            platform_id = uow.session.scalar(select(LtiPlatform.id))
            for n in range(20):
                outbox.enqueue(uow, AGS_TOPIC, {
                    "platform_id": platform_id, "scopes": [SCORE_SCOPE],
                    "lineitem_url": lms.lineitem_url("li1"),
                    "score_given": 1, "score_maximum": 1, "timestamp": dt.datetime.now(dt.UTC).isoformat(),
                    "user_id": f"learner-{n}", "completion_id": 1000 + n, "training_item_id": 1})
            uow.commit()
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            with db.read_sessions() as session:
                pending = session.scalar(select(func.count()).select_from(OutboxMessage).where(
                    OutboxMessage.topic == AGS_TOPIC, OutboxMessage.status != "sent"))
            if not pending:
                break
            time.sleep(0.5)
        assert pending == 0, (cluster.logs / "worker-1.log").read_text()[-2000:]
        time.sleep(3)  # both workers relay every second: a second send would show by now
        comments = sorted(s["comment"] for s in lms.state.scores)
        assert comments == sorted(f"GxP Bridge completion {1000 + n}" for n in range(20))

        # 4. Sweeps: two workers run them side by side (and two more `worker --once` at the same
        # moment, three times): each late assignment is marked overdue once, each head signed once.
        for _round in range(3):
            with UnitOfWork(db, SYSTEM) as uow:  # new audit rows for the checkpoint sweep
                accounts.create_user(uow, f"sweep.{_round}", roles=["auditor"], password=None,
                                     display_name=f"Sweep {_round}")
                uow.commit()
            once = [subprocess.Popen([str(BIN / "gxpbridge"), "worker", "--once"], env=cluster.env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in range(2)]
            for process in once:
                _, err = process.communicate(timeout=120)
                assert process.returncode == 0, err[-2000:]
        with db.read_sessions() as session:
            marked = session.execute(
                select(AuditEvent.entity_id, func.count()).where(
                    AuditEvent.entity_type == "qms_assignment", AuditEvent.reason == "due date passed")
                .group_by(AuditEvent.entity_id)).all()
            checkpoints = session.execute(
                select(AuditCheckpoint.seq, func.count()).group_by(AuditCheckpoint.seq)).all()
        assert marked and all(count == 1 for _, count in marked), marked
        assert checkpoints and all(count == 1 for _, count in checkpoints), checkpoints
        verified = cluster.gxpbridge("audit", "verify")
        assert verified.returncode == 0 and "audit trail intact" in verified.stdout, verified.stderr
        print(f"scale-out: {len(upstreams)} statement POSTs through nginx over {len(SERVE_PORTS)} hosts "
              f"({total} distinct, {len(stored) - demo_statements} stored: duplicates 0, lost 0); "
              f"20 outbox grades sent {len(lms.state.scores)} times; {len(marked)} assignments marked "
              f"overdue once; {len(checkpoints)} checkpoints, one per head")
    finally:
        lms_server.__exit__(None, None, None)
