"""Console fixtures: sign a test client in, a live server for the browser journeys, axe-core."""

from __future__ import annotations

import os
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.conftest import TEST_PASSWORD

CHROMIUM = Path(os.environ.get("GXP_CHROMIUM", "/usr/bin/chromium"))
AXE = Path(__file__).resolve().parent / "vendor" / "axe-core-4.14.1" / "axe.min.js"
PORTS = range(8210, 8220)  # this suite's own port range on a shared machine; any free port else


def csrf_of(html: str) -> str:
    """The CSRF token of the first form of a page."""
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def sign_in(client, username: str, password: str = TEST_PASSWORD):
    """Sign ``client`` in through the real /login form; returns the response."""
    token = csrf_of(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"csrf_token": token, "username": username,
                                       "password": password})


@pytest.fixture
def demo(app, runner, clock):
    """The app with the demo plant loaded (``gxpbridge demo load``).

    The clock stands still while the plant loads: its SOPs are approved for an effective date a few
    seconds ahead, which a machine busy enough (the password checks are deliberately slow) would
    otherwise pass before the approval is signed.
    """
    clock.freeze()
    try:
        result = runner.invoke(args=["demo", "load"])
    finally:
        clock.thaw()
    assert result.exit_code == 0, result.output
    return app


@pytest.fixture
def console_client(app, make_user):
    """Sign in a fresh test client as a new user with ``roles``; returns the client."""

    def make(username: str, *roles: str, name: str | None = None):
        make_user(username, *roles, name=name)
        client = app.test_client()
        assert sign_in(client, username).status_code == 302
        return client

    return make


def _free_port() -> int:
    for port in PORTS:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def live_server(app) -> Iterator[str]:
    """The app served over real HTTP on 127.0.0.1; yields its base URL."""
    port = _free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        thread.join(5)


@pytest.fixture
def browser():
    """Debian's Chromium driven by Playwright."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's Chromium (apt-get install -y chromium)")
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=str(CHROMIUM))
        expect.set_options(timeout=30_000)
        try:
            yield instance
        finally:
            instance.close()


def run_axe(page) -> list[dict]:
    """Run axe-core on ``page``; returns its serious and critical violations."""
    # Evaluated through the DevTools protocol, so the page's strict CSP (no inline script) stays on.
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text(encoding="utf-8") + "\n;0")
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [v for v in result["violations"] if v.get("impact") in ("serious", "critical")]
