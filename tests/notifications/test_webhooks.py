"""Signed webhooks to a real HTTP receiver that follows the verification recipe of
docs/notifications.md: it accepts the genuine delivery and rejects a replayed or altered one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from bridge.core.clock import MovableClock
from qms.notifications.webhooks import sign, verify_signature
from tests.notifications.conftest import relay

TOLERANCE = 300


class Receiver:
    """An HR system's endpoint: checks the signature, the timestamp window and replays."""

    def __init__(self, secret: str, now: Callable[[], float]) -> None:
        self.secret = secret
        self.now = now
        self.seen: set[str] = set()
        self.accepted: list[dict[str, Any]] = []
        self.raw: list[tuple[dict[str, str], bytes]] = []

    def check(self, headers: dict[str, str], body: bytes) -> int:
        timestamp = headers.get("X-GxPBridge-Timestamp", "")
        signature = headers.get("X-GxPBridge-Signature", "")
        # The recipe: HMAC-SHA256 over "<timestamp>.<body>" with the subscription's secret.
        expected = "sha256=" + hmac.new(self.secret.encode(), timestamp.encode() + b"." + body,
                                        hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            return 401
        if not timestamp.isdigit() or abs(self.now() - int(timestamp)) > TOLERANCE:
            return 401
        delivery = json.loads(body)["id"]
        if delivery in self.seen:
            return 409
        self.seen.add(delivery)
        self.accepted.append(json.loads(body))
        return 204


@pytest.fixture
def receiver(clock: MovableClock) -> Iterator[tuple[Receiver, str]]:
    state: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            headers = {k: v for k, v in self.headers.items()}
            state["r"].raw.append((headers, body))
            self.send_response(state["r"].check(headers, body))
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hooks/gxp"
    state["r"] = Receiver("", lambda: clock.now().timestamp())
    yield state["r"], url
    server.shutdown()
    server.server_close()


def test_signed_webhooks_are_verified_and_replays_rejected(plant, app, clock, receiver):
    hr, url = receiver
    created = plant.post("/webhook-subscriptions", "admin",
                         {"name": "HR", "url": url, "events": ["assignment.created", "version.effective"]},
                         expect=201).json
    hr.secret = created["secret"]
    listed = plant.get("/webhook-subscriptions", "admin")
    assert listed[0]["events"] == ["assignment.created", "version.effective"] and "secret" not in listed[0]
    plant.post("/webhook-subscriptions", "admin", {"name": "x", "url": url, "events": ["nope"]}, expect=400)
    plant.post("/webhook-subscriptions", "supervisor", {"name": "x", "url": url, "events": ["capa.closed"]},
               expect=403)

    ids = plant.ids
    ids["prod"] = plant.unit("departments", "PROD")
    ids["op"] = plant.unit("job-functions", "OP")
    doc = plant.document("SOP-9")
    plant.post("/requirements", "author",
               {"scope": "job_function", "scope_id": ids["op"], "training_item_id": doc["training_item_id"]},
               expect=201)
    plant.publish(doc["id"])
    plant.hire("ann", ids["prod"], [ids["op"]], person_id=plant.people["ann"])
    assert relay(app) == (2, 0)
    events = {e["event"]: e for e in hr.accepted}
    assert set(events) == {"version.effective", "assignment.created"}
    assert events["assignment.created"]["data"]["person_id"] == plant.people["ann"]
    assert events["assignment.created"]["data"]["reason"] == "new_hire"

    headers, body = hr.raw[-1]
    post = {k: headers[k] for k in headers if k.startswith("X-GxPBridge") or k == "Content-Type"}
    # The same request again: a replay, refused.
    assert requests.post(url, data=body, headers=post, timeout=5).status_code == 409
    # Altered body with the original signature: refused.
    altered = body.replace(b'"new_hire"', b'"manual"')
    assert altered != body
    assert requests.post(url, data=altered, headers=post, timeout=5).status_code == 401
    # A captured request replayed later, even to a receiver that forgot the ids it saw: refused.
    hr.seen.clear()
    clock.advance(seconds=TOLERANCE + 1)
    assert requests.post(url, data=body, headers=post, timeout=5).status_code == 401
    # A fresh timestamp cannot be grafted on without the secret.
    post["X-GxPBridge-Timestamp"] = str(int(clock.now().timestamp()))
    assert requests.post(url, data=body, headers=post, timeout=5).status_code == 401
    assert len(hr.accepted) == 2

    # Nothing is delivered to an ended subscription.
    plant.post(f"/webhook-subscriptions/{created['id']}/deactivate", "admin", expect=200)
    plant.hire("bob", ids["prod"], [ids["op"]], person_id=plant.people["bob"])
    relay(app)
    assert len(hr.accepted) == 2


def test_verify_signature_helper():
    body, secret, now = b'{"id":"1"}', "s3cret", 1_800_000_000
    good = sign(secret, now, body)
    assert verify_signature(secret, str(now), body, good, now=now + 10)
    assert not verify_signature(secret, str(now), body + b" ", good, now=now)
    assert not verify_signature(secret, str(now), body, good, now=now + 301)
    assert not verify_signature("other", str(now), body, good, now=now)
    assert not verify_signature(secret, "soon", body, good, now=now)
    assert dt.datetime.fromtimestamp(now, dt.UTC).year == 2027
