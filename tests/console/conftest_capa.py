"""Shared fixtures of the quality-event, matrix and report console tests (imported by them):
the demo plant loaded, signed-in clients of its roles, form posts with the CSRF token.
"""

from __future__ import annotations

import re

import pytest

from bridge.demo import DEMO_PASSWORD
from tests.console.conftest import csrf_of, sign_in


@pytest.fixture
def demo(app, runner, clock):
    """The demo plant (its deviation, its CAPA in progress with open training)."""
    result = runner.invoke(args=["demo", "load"])
    assert result.exit_code == 0, result.output
    return app


def demo_client(app, username: str):
    """A test client signed in as a demo user."""
    client = app.test_client()
    assert sign_in(client, username, DEMO_PASSWORD).status_code == 302
    return client


def post(client, url: str, data: dict | None = None, **kwargs):
    """A form post with the session's CSRF token (read from the dashboard)."""
    token = csrf_of(client.get("/console/").get_data(as_text=True))
    return client.post(url, data={"csrf_token": token, **(data or {})}, **kwargs)


def flashed(client) -> str:
    """The flash messages waiting for the next page."""
    html = client.get("/console/").get_data(as_text=True)
    return " ".join(re.findall(r'class="flash[^"]*"[^>]*>([^<]*)<', html))


def signed(data: dict | None = None, username: str = "qa.approver") -> dict:
    """The e-signature dialog's fields plus ``data``."""
    return {"signer_username": username, "signer_password": DEMO_PASSWORD, **(data or {})}


class Visit:
    """A signed-in Chromium page that runs axe-core on every page it visits."""

    def __init__(self, browser, base: str, shots, width: int = 1366, height: int = 860) -> None:
        self.context = browser.new_context(viewport={"width": width, "height": height})
        self.context.set_default_timeout(30_000)
        self.page = self.context.new_page()
        self.base, self.shots = base, shots
        self.errors: list[str] = []
        self.checked: dict[str, list] = {}
        self.page.on("console",
                     lambda msg, seen=self.errors: seen.append(msg.text) if msg.type == "error" else None)

    def axe(self) -> None:
        """axe-core on the page as it is now (serious and critical violations kept by path)."""
        from tests.console.conftest import run_axe

        path = self.page.url.removeprefix(self.base)
        self.checked[path] = self.checked.get(path, []) + run_axe(self.page)

    def sign_in(self, username: str) -> None:
        from playwright.sync_api import expect

        self.page.goto(f"{self.base}/login")
        self.page.get_by_label("Username").fill(username)
        self.page.get_by_label("Password").fill(DEMO_PASSWORD)
        self.page.get_by_role("button", name="Sign in").click()
        expect(self.page).to_have_url(f"{self.base}/console/")
        self.axe()

    def goto(self, path: str) -> None:
        self.page.goto(self.base + path)
        self.axe()

    def finish(self, name: str) -> None:
        """The screenshot, then: no serious or critical violation anywhere, no script error."""
        self.page.screenshot(path=str(self.shots / f"{name}.png"), full_page=True)
        self.context.close()
        serious = {path: found for path, found in self.checked.items() if found}
        assert serious == {}, {p: [(v["id"], v["impact"], v["help"]) for v in f] for p, f in serious.items()}
        assert self.errors == [], self.errors
