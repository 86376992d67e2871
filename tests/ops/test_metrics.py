"""/metrics (bridge/metrics.py): request counts and latency, stored statements, outbox figures."""

from __future__ import annotations

import base64
import uuid

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bridge.core import outbox
from bridge.core.actor import SYSTEM
from xapi import auth

pytestmark = pytest.mark.requirement("URS-OPS-01")


def scrape(client, **kwargs) -> dict[tuple[str, tuple], float]:
    answer = client.get("/metrics", **kwargs)
    assert answer.status_code == 200, answer.data
    assert answer.mimetype == "text/plain"
    samples = {}
    for family in text_string_to_metric_families(answer.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def lrs_headers(issued) -> dict[str, str]:
    token = base64.b64encode(f"{issued.key}:{issued.secret}".encode()).decode()
    return {"Authorization": f"Basic {token}", "X-Experience-API-Version": "1.0.3"}


def value(samples, name, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_endpoint_reports_requests_ingest_and_outbox(app, client, uow_factory, clock):
    with uow_factory(SYSTEM) as uow:
        issued = auth.create_credential(uow, "lms", scopes=["all"], pepper=app.config["SECRET_KEY"],
                                        home_page="http://lrs.test")
        outbox.enqueue(uow, "test.topic", {"n": 1})
        uow.commit()
    before = scrape(client)
    headers = lrs_headers(issued)
    statements = [{"id": str(uuid.uuid4()),
                   "actor": {"mbox": "mailto:olivia@plant.example"},
                   "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
                   "object": {"id": f"https://lms.plant.example/sop-{i}"}} for i in range(3)]
    assert client.post("/xapi/statements", json=statements, headers=headers).status_code == 200
    assert client.get("/healthz").status_code == 200
    clock.advance(minutes=5)
    after = scrape(client)

    healthz = {"method": "GET", "endpoint": "core.healthz", "status": "200"}
    assert value(after, "gxpbridge_http_requests_total", **healthz) - value(
        before, "gxpbridge_http_requests_total", **healthz) == 1
    posted = [k for k in after if k[0] == "gxpbridge_http_requests_total" and ("method", "POST") in k[1]]
    assert posted, "the statement POST was counted"
    assert any(k[0] == "gxpbridge_http_request_duration_seconds_count" for k in after)
    assert value(after, "gxpbridge_xapi_statements_stored_total") - value(
        before, "gxpbridge_xapi_statements_stored_total") == 3
    assert value(after, "gxpbridge_outbox_messages", status="pending") == 1
    assert value(after, "gxpbridge_outbox_oldest_pending_age_seconds") >= 300
    assert any(k[0] == "gxpbridge_info" for k in after)


def test_a_refused_batch_counts_no_statement(app, client, uow_factory):
    with uow_factory(SYSTEM) as uow:
        issued = auth.create_credential(uow, "lms", scopes=["all"], pepper=app.config["SECRET_KEY"],
                                        home_page="http://lrs.test")
        uow.commit()
    before = scrape(client)
    headers = lrs_headers(issued)
    assert client.post("/xapi/statements", json=[{"actor": {}}], headers=headers).status_code == 400
    after = scrape(client)
    assert value(after, "gxpbridge_xapi_statements_stored_total") == value(
        before, "gxpbridge_xapi_statements_stored_total")


def test_metrics_token_is_required_when_configured(app, client):
    app.config["GXPBRIDGE_METRICS_TOKEN"] = "scrape-secret"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    scrape(client, headers={"Authorization": "Bearer scrape-secret"})
