"""Console part 2, the record store: the statement browser (xAPI filters, raw JSON escaped), LRS
credentials (secret shown once, scopes, revoke), and an unmapped xAPI actor mapped to a person
whose evidence then appears.
"""

from __future__ import annotations

import base64
import re
import uuid

from qms.demo_plant import page_of
from tests.console import part2_plant
from tests.console.conftest import csrf_of

XAPI = {"X-Experience-API-Version": "1.0.3",
        "Authorization": "Basic " + base64.b64encode(b"demo-lrs-key:demo-lrs-secret-2026").decode()}

demo_client = part2_plant.demo_client  # the fixture, for this module
history_plant = part2_plant.history_plant  # the fixture, for this module


SOP_020 = page_of("SOP-020", 2)  # the demo's Moodle page of SOP-020 2.0, in force


def _post_statement(client, mbox: str, name: str) -> str:
    statement_id = str(uuid.uuid4())
    body = {"id": statement_id, "actor": {"objectType": "Agent", "name": name, "mbox": f"mailto:{mbox}"},
            "verb": {"id": "http://adlnet.gov/expapi/verbs/completed", "display": {"en-US": "completed"}},
            "object": {"objectType": "Activity", "id": SOP_020},
            "result": {"completion": True, "success": True}}
    response = client.post("/xapi/statements", json=body, headers=XAPI)
    assert response.status_code == 200, response.get_data(as_text=True)
    return statement_id


def test_unmapped_actor_is_mapped_and_its_evidence_appears(app, history_plant, demo_client):
    statement_id = _post_statement(app.test_client(), "omar.lms@elsewhere.example",
                                   "Omar <script>alert(1)</script>")
    supervisor = demo_client("supervisor")
    inbox = supervisor.get("/console/evidence-mapping/").get_data(as_text=True)
    assert "omar.lms@elsewhere.example" in inbox
    assert "<script>alert(1)</script>" not in inbox and "&lt;script&gt;" in inbox
    key = re.search(r'name="actor_key" value="([^"]*omar.lms@elsewhere.example)"', inbox).group(1)
    response = supervisor.post("/console/evidence-mapping/actors", data={
        "csrf_token": csrf_of(inbox), "actor_key": key, "person": "Omar Operator",
        "reason": "LMS account of Omar confirmed by HR"}, follow_redirects=True)
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "became evidence" in page
    assert statement_id in page  # the evidence appears on Omar's page
    assert "omar.lms@elsewhere.example" not in supervisor.get(
        "/console/evidence-mapping/").get_data(as_text=True)
    # The mapping is audited with its reason.
    trail = demo_client("auditor").get("/console/audit/?action=evidence.actor_mapped")
    assert "LMS account of Omar confirmed by HR" in trail.get_data(as_text=True)
    # The auditor may not map.
    auditor = demo_client("auditor")
    refused = auditor.post("/console/evidence-mapping/actors", data={
        "csrf_token": csrf_of(auditor.get("/console/").get_data(as_text=True)),
        "actor_key": key, "person": "Omar", "reason": "x"})
    assert refused.status_code == 403


def test_statement_browser_filters_and_shows_raw_json_escaped(app, history_plant, demo_client):
    statement_id = _post_statement(app.test_client(), "x@y.example", "Mallory <b>bold</b>")
    auditor = demo_client("auditor")
    page = auditor.get("/console/records/statements?actor=x@y.example").get_data(as_text=True)
    assert statement_id in page and "&lt;b&gt;bold&lt;/b&gt;" in page and "<b>bold</b>" not in page
    assert '<pre class="raw">' in page
    other = auditor.get("/console/records/statements?actor=nobody@y.example").get_data(as_text=True)
    assert statement_id not in other and "No statements match" in other
    verb = auditor.get("/console/records/statements?verb=http://adlnet.gov/expapi/verbs/completed"
                       f"&activity={SOP_020}").get_data(as_text=True)
    assert statement_id in verb
    bad = auditor.get("/console/records/statements?since=yesterday")
    assert bad.status_code == 400


def test_administrator_creates_and_revokes_an_lrs_credential(app, history_plant, demo_client):
    admin = demo_client("admin")
    page = admin.get("/console/records/credentials").get_data(as_text=True)
    created = admin.post("/console/records/credentials", data={
        "csrf_token": csrf_of(page), "name": "content-vendor", "scopes": ["statements/write"]})
    html = created.get_data(as_text=True)
    assert created.headers["Cache-Control"] == "no-store"
    key = re.search(r'id="issued-key">([^<]+)<', html).group(1)
    secret = re.search(r'id="issued-secret">([^<]+)<', html).group(1)
    basic = {"X-Experience-API-Version": "1.0.3",
             "Authorization": "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()}
    client = app.test_client()
    assert client.get("/xapi/statements", headers=basic).status_code == 403  # write scope only
    listing = admin.get("/console/records/credentials").get_data(as_text=True)
    assert secret not in listing
    target = re.findall(r'/console/records/credentials/(\d+)/revoke', listing)[0]  # newest first
    admin.post(f"/console/records/credentials/{target}/revoke",
               data={"csrf_token": csrf_of(listing), "reason": "contract ended"})
    assert client.get("/xapi/statements", headers=basic).status_code == 401
