"""Fixtures of the operations tests: the app with a production-length secret key."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.core.clock import MovableClock

OPS_SECRET_KEY = "ops-test-secret-key-" + "x" * 40


@pytest.fixture
def app(database_url: str, tmp_path: Path, clock: MovableClock):
    """The application as in tests/conftest.py, with a secret key the IQ accepts."""
    from bridge.app import create_app

    app = create_app(testing=True, database_url=database_url, instance_path=tmp_path / "instance",
                     secret_key=OPS_SECRET_KEY, password_min_length=12, lockout_threshold=3, clock=clock)
    yield app
    app.extensions["gxpbridge.db"].dispose()
