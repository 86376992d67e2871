"""Fixtures of the LRS tests: a credential and request headers per xAPI version."""

from __future__ import annotations

import base64
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from werkzeug.serving import make_server

from bridge.core.actor import SYSTEM
from xapi import auth


def basic(key: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()


@pytest.fixture
def make_credential(app, uow_factory):
    """Create a credential with scopes; returns (key, secret)."""

    def make(name: str = "lms", scopes: tuple[str, ...] = ("all",)) -> tuple[str, str]:
        with uow_factory(SYSTEM) as uow:
            issued = auth.create_credential(
                uow, name, scopes=list(scopes), pepper=app.config["SECRET_KEY"], home_page="http://lrs.test"
            )
            uow.commit()
        return issued.key, issued.secret

    return make


@contextmanager
def serve_wsgi(app, host: str = "127.0.0.1") -> Iterator[int]:
    """Serve the WSGI ``app`` over real HTTP on ``host`` from a thread; yields the port.

    The port is the first free one of the LRS tests' range 8120-8149: binding is the test, so
    parallel test workers never race for the same port.
    """
    server = None
    for port in range(8120, 8150):
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind((host, port))
            listener.listen(128)
        except OSError:  # taken (werkzeug would exit the process instead of raising)
            listener.close()
            continue
        server = make_server(host, port, app, threaded=True, fd=listener.fileno())
        listener.close()  # the server holds its own duplicate of the socket
        break
    if server is None:
        raise RuntimeError("no free port in 8120-8149")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        server.shutdown()
        thread.join(timeout=5)


@pytest.fixture
def live_lrs(app, make_credential):
    """The application served over real HTTP with a fresh ``all`` credential: (endpoint with a
    trailing slash, key, secret)."""
    key, secret = make_credential("third-party-client")
    with serve_wsgi(app) as port:
        yield f"http://127.0.0.1:{port}/xapi/", key, secret


@pytest.fixture
def lrs_headers(make_credential):
    """Headers for xAPI 1.0.3 and 2.0.0 requests with an ``all`` credential."""
    key, secret = make_credential()
    auth_header = basic(key, secret)
    return {
        "1.0.3": {"Authorization": auth_header, "X-Experience-API-Version": "1.0.3"},
        "2.0.0": {"Authorization": auth_header, "X-Experience-API-Version": "2.0.0"},
    }


def statement(**overrides):
    """A minimal valid statement; keyword arguments replace or add top-level properties."""
    body = {
        "actor": {"objectType": "Agent", "name": "Olivia Operator", "mbox": "mailto:olivia@plant.example"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/completed", "display": {"en-US": "completed"}},
        "object": {
            "objectType": "Activity",
            "id": "https://lms.plant.example/sop-014",
            "definition": {
                "name": {"en-US": "SOP-014 Line clearance"},
                "type": "http://adlnet.gov/expapi/activities/course",
            },
        },
    }
    body.update(overrides)
    return body
