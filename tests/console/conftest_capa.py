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
