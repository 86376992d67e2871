"""A plant with history for the part-2 console tests: the demo plant, then time passes.

Fixtures are imported by the part-2 test modules (``from tests.console.part2_plant import *``).
"""

from __future__ import annotations

import datetime as dt

import pytest

from bridge.demo import DEMO_PASSWORD
from tests.console.conftest import sign_in


@pytest.fixture
def history_plant(app, runner, clock):
    """The demo plant loaded, then 45 days pass (assignments fall overdue); returns the moments:
    ``loaded`` (just after the demo's history) and ``now``.
    """
    result = runner.invoke(args=["demo", "load"])
    assert result.exit_code == 0, result.output
    loaded = clock.now()
    clock.set(loaded + dt.timedelta(days=45))
    return {"loaded": loaded, "now": clock.now()}


@pytest.fixture
def demo_client(app):
    """A test client signed in as a demo user (password of the demo)."""

    def make(username: str):
        client = app.test_client()
        assert sign_in(client, username, DEMO_PASSWORD).status_code == 302
        return client

    return make
