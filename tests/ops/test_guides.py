"""The guides' commands run as written, and the console URLs they name exist.

docs/admin-guide.md and docs/qa-guide.md mark the shell blocks that are safe to run on a scratch
instance with the info string ``sh runnable``; blocks ``csv file=NAME`` are the example files
those commands read. Each runnable block runs, command by command, in a temporary folder against
a temporary instance (SQLite, and PostgreSQL with TEST_DATABASE_URL) with ``gxpbridge`` on the
PATH, a server answering where the guide says ``127.0.0.1:8000``, and the demo password on
standard input for the commands that ask for one. Blocks not marked (``sudo``, ``systemctl``,
``podman``, backups of a production server) are not run here.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import subprocess
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from bridge.core.db import make_engine
from bridge.demo import DEMO_PASSWORD
from tests.ops.conftest import OPS_SECRET_KEY
from tests.ops.helpers import BIN, PG_URL, ROOT, clean_env, free_port, scratch_pg_database
from tests.ops.test_scale_out import _wait_http

GUIDES = ("admin-guide.md", "qa-guide.md")
FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```", re.M | re.S)
UNSAFE = ("sudo", "systemctl", "podman", "pip ", "useradd", "pg_basebackup", "rm ")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


def blocks(guide: str, info: str) -> list[str]:
    """The bodies of the fenced blocks of ``guide`` whose info string is ``info``."""
    text = (ROOT / "docs" / guide).read_text()
    return [body for found, body in FENCE.findall(text) if found.strip() == info]


def files(guide: str) -> dict[str, str]:
    """The example files of ``guide``: blocks ``<lang> file=NAME``."""
    text = (ROOT / "docs" / guide).read_text()
    return {m.group(1): body for info, body in FENCE.findall(text)
            if (m := re.search(r"\bfile=(\S+)", info))}


def commands(block: str) -> list[str]:
    """The commands of a shell block: continuation lines joined, comments and blank lines gone."""
    joined = block.replace("\\\n", " ")
    found = []
    for line in joined.splitlines():
        command = re.sub(r"\s+#.*$", "", line).strip()
        if command and not command.startswith("#"):
            found.append(command)
    return found


def test_the_guides_mark_runnable_blocks_and_none_is_unsafe():
    for guide in GUIDES:
        runnable = [c for b in blocks(guide, "sh runnable") for c in commands(b)]
        assert runnable, f"{guide} marks no runnable block"
        for command in runnable:
            assert not command.startswith(UNSAFE), (guide, command)


@pytest.fixture(params=BACKENDS)
def instance(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment of a scratch instance whose database is migrated and served."""
    work = tmp_path / "work"
    work.mkdir()

    def env_for(url: str) -> dict[str, str]:
        return clean_env(GXPBRIDGE_DATABASE_URL=url, GXPBRIDGE_INSTANCE_PATH=str(tmp_path / "instance"),
                         GXPBRIDGE_SECRET_KEY=OPS_SECRET_KEY, GXPBRIDGE_AUDIT_KEY="guides-" + "g" * 40)

    def serve(url: str) -> Iterator[dict[str, str]]:
        env = env_for(url)
        migrated = subprocess.run([str(BIN / "gxpbridge"), "db", "upgrade"], env=env, capture_output=True,
                                  text=True, timeout=300, check=False)
        assert migrated.returncode == 0, migrated.stderr
        port = free_port()
        log = open(tmp_path / "serve.log", "w")  # closed with the process
        server = subprocess.Popen([str(BIN / "gxpbridge"), "serve", "--port", str(port), "--workers", "1"],
                                  env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            _wait_http(f"http://127.0.0.1:{port}/healthz")
            yield {**env, "GUIDE_PORT": str(port), "GUIDE_DIR": str(work)}
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)

    if request.param == "sqlite":
        yield from serve(f"sqlite:///{tmp_path / 'guide.sqlite3'}")
    else:
        with scratch_pg_database("gxp_guides") as url:
            yield from serve(url)


def run_guide(guide: str, instance: dict[str, str]) -> list[str]:
    """Run every runnable command of ``guide``; returns what each printed."""
    work = Path(instance["GUIDE_DIR"])
    for name, body in files(guide).items():
        (work / name).write_text(body)
    env = {k: v for k, v in instance.items() if not k.startswith("GUIDE_")}
    outputs = []
    for block in blocks(guide, "sh runnable"):
        for command in commands(block):
            as_run = command.replace("127.0.0.1:8000", f"127.0.0.1:{instance['GUIDE_PORT']}")
            code, output = run_in_terminal(as_run, env, work)
            assert code == 0, (guide, command, output[-3000:])
            outputs.append(output)
    return outputs


def run_in_terminal(command: str, env: dict[str, str], cwd: Path, timeout: float = 600) -> tuple[int, str]:
    """Run ``command`` on a pseudo-terminal of its own, as an operator would at a shell, typing
    the demo password at each prompt (a line ending in ": "); returns the exit code and output."""
    master, slave = pty.openpty()
    process = subprocess.Popen(
        ["bash", "-c", command], env=env, cwd=cwd, stdin=slave, stdout=slave, stderr=slave,
        start_new_session=True,
        # The terminal becomes the new session's controlling terminal: getpass reads /dev/tty.
        preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
    os.close(slave)
    output = b""
    answered = 0
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # the other side closed: the command ended
                    break
                if not chunk:
                    break
                output += chunk
                if output.rstrip(b" ").endswith(b":") and output.count(b":") > answered:
                    os.write(master, f"{DEMO_PASSWORD}\n".encode())
                    answered = output.count(b":")
            elif process.poll() is not None:
                break
        else:
            process.kill()
    finally:
        os.close(master)
    return process.wait(timeout=60), output.decode(errors="replace")


def test_admin_guide_commands_run_as_written(instance):
    outputs = run_guide("admin-guide.md", instance)
    assert '"status":"ok"' in outputs[-1].replace(" ", "")  # the health check answered


def test_qa_guide_commands_run_as_written(instance):
    run_guide("qa-guide.md", instance)
    engine = make_engine(instance["GXPBRIDGE_DATABASE_URL"])
    with engine.connect() as conn:
        migrated = conn.scalar(text("SELECT count(*) FROM qms_completion WHERE method = 'migrated'"))
        codes = set(conn.scalars(text("SELECT code FROM qms_document WHERE code IN ('SOP-100', 'SOP-200')")))
        signed = conn.scalar(text(
            "SELECT count(*) FROM electronic_signature WHERE record_type = 'qms_import_batch'"))
    engine.dispose()
    # The register's two documents, the history's three completions (the preview wrote none),
    # the import batch signed by its importer.
    assert (codes, migrated, signed) == ({"SOP-100", "SOP-200"}, 3, 1)


def test_every_console_url_the_qa_guide_names_exists(tmp_path):
    from werkzeug.exceptions import MethodNotAllowed, NotFound

    from bridge.app import create_app

    app = create_app(testing=True, database_url=f"sqlite:///{tmp_path / 'urls.sqlite3'}",
                     instance_path=tmp_path / "instance", secret_key=OPS_SECRET_KEY)
    adapter = app.url_map.bind("localhost")
    text = (ROOT / "docs" / "qa-guide.md").read_text()
    named = set(re.findall(r"`(?:POST )?(/(?:console|login)[^`\s?]*)", text))
    assert len(named) > 25
    missing = []
    for path in sorted(named):
        concrete = re.sub(r"<[^>]+>", "1", path)
        try:
            adapter.match(concrete, method="GET")
        except MethodNotAllowed:
            pass  # a POST-only route exists
        except NotFound:
            missing.append(path)
    app.extensions["gxpbridge.db"].dispose()
    assert missing == []
