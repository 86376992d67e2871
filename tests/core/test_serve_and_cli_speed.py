"""`gxpbridge serve` announces the port it listens on and gives each server its own gunicorn
control socket; core-only commands (`user token`...) do not build the whole application."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bridge import cli


@pytest.fixture
def captured_servers(monkeypatch, tmp_path):
    """Run `serve` without starting gunicorn: capture its configuration and the app it loads."""
    from gunicorn.app.base import BaseApplication

    servers = []

    def fake_run(self):
        app = self.load()
        servers.append({"cfg": self.cfg, "app": app})
        app.extensions["gxpbridge.db"].dispose()

    monkeypatch.setattr(BaseApplication, "run", fake_run)
    monkeypatch.setenv("GXPBRIDGE_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setenv("GXPBRIDGE_SECRET_KEY", "test-secret-key")
    monkeypatch.setenv("GXPBRIDGE_BASE_URL", "placeholder")
    monkeypatch.delenv("GXPBRIDGE_BASE_URL")
    return servers


def _serve(*args: str) -> None:
    result = CliRunner().invoke(cli.serve, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output


def test_the_base_url_follows_the_port(captured_servers, monkeypatch):
    _serve("--port", "8010")
    settings = captured_servers[-1]["app"].extensions["gxpbridge.settings"]
    assert settings.base_url == "http://127.0.0.1:8010"
    with captured_servers[-1]["app"].app_context():
        from lti import tool_base_url

        assert tool_base_url() == "http://127.0.0.1:8010"
    _serve("--host", "0.0.0.0", "--port", "8011")
    assert captured_servers[-1]["app"].extensions["gxpbridge.settings"].base_url == "http://127.0.0.1:8011"
    monkeypatch.setenv("GXPBRIDGE_BASE_URL", "https://training.plant.example")
    _serve("--port", "8012")
    assert (captured_servers[-1]["app"].extensions["gxpbridge.settings"].base_url
            == "https://training.plant.example")


def test_each_server_has_its_own_control_socket(captured_servers, tmp_path):
    _serve("--port", "8010")
    _serve("--port", "8011")
    first, second = (Path(s["cfg"].control_socket) for s in captured_servers)
    assert first != second
    assert first.parent == second.parent
    assert len(str(first)) < 100
    short = cli.control_socket_path(Path("/srv/gxp/instance"), "127.0.0.1", 8000)
    assert short == Path("/srv/gxp/instance/gunicorn-127.0.0.1-8000.ctl")
    assert not captured_servers[0]["cfg"].control_socket_disable
    _serve("--port", "8012", "--no-control-socket")
    assert captured_servers[-1]["cfg"].control_socket_disable


def test_user_token_builds_the_core_app_only(database_url, tmp_path, make_user):
    make_user("robin", "qa_approver")
    script = (
        "import sys\n"
        "from bridge.cli import main\n"
        "try:\n"
        "    main(['user', 'token', 'robin'])\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "print('loaded:', sorted(m for m in ('qms', 'lti', 'xapi', 'openpyxl', 'reportlab')"
        " if m in sys.modules))\n"
    )
    env = {**os.environ, "GXPBRIDGE_DATABASE_URL": database_url,
           "GXPBRIDGE_INSTANCE_PATH": str(tmp_path / "instance"), "GXPBRIDGE_SECRET_KEY": "k"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("gxp_")
    assert "loaded: []" in done.stdout


def test_the_served_app_leaves_heavy_libraries_to_the_requests_that_use_them(tmp_path):
    """reportlab (PDF reports), openpyxl (matrix workbooks), the LTI protocol stack (pylti1p3,
    PyJWT, jwcrypto) and the SCIM models (scim2-models, lark) load with the first request that
    needs them, not in every served process; a SCIM request then finds its endpoints."""
    script = (
        "import sys\n"
        "from bridge.app import create_app\n"
        "create_app()\n"
        "heavy = ('openpyxl', 'reportlab', 'pylti1p3', 'jwcrypto', 'jwt', 'scim2_models', 'lark')\n"
        "print('loaded:', sorted(m for m in heavy if m in sys.modules))\n"
        "app = create_app()\n"
        "answer = app.test_client().get('/scim/v2/Users', headers={'Authorization': 'Bearer nobody'})\n"
        "print('scim:', answer.status_code, answer.json['schemas'], 'scim2_models' in sys.modules)\n"
    )
    env = {**os.environ, "GXPBRIDGE_INSTANCE_PATH": str(tmp_path / "instance"), "GXPBRIDGE_SECRET_KEY": "k",
           "GXPBRIDGE_DATABASE_URL": f"sqlite:///{tmp_path / 'scim.sqlite3'}"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "loaded: []" in done.stdout, done.stdout
    assert "scim: 401 ['urn:ietf:params:scim:api:messages:2.0:Error'] True" in done.stdout, done.stdout
