"""Storing statements: POST/PUT, ids, atomic batches, conflicts, voiding, validation, versions."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import func, select

from tests.conftest import MOODLE_CAPTURES
from tests.xapi.conftest import statement
from xapi.store import StatementIndexRow, StatementRow

VOIDED = "http://adlnet.gov/expapi/verbs/voided"


def count_statements(db) -> int:
    with db.read_sessions() as session:
        return session.scalar(select(func.count()).select_from(StatementRow))


def test_moodle_capture_posted_as_moodle_does(client, lrs_headers, db):
    """Moodle's logstore posts arrays without ids under 1.0.3 and counts only 200 as success."""
    captured = json.loads((MOODLE_CAPTURES / "logstore_xapi-statements.json").read_text())
    assert all("id" not in s for s in captured)
    response = client.post("/xapi/statements", json=captured, headers=lrs_headers["1.0.3"])
    assert response.status_code == 200, response.json
    ids = response.json
    assert len(ids) == len(captured) and len(set(ids)) == len(ids)
    assert all(uuid.UUID(i) for i in ids)
    assert count_statements(db) == len(captured)
    stored = client.get(f"/xapi/statements?statementId={ids[0]}", headers=lrs_headers["1.0.3"]).json
    assert stored["actor"] == captured[0]["actor"] and stored["version"] == "1.0.0"
    assert stored["authority"]["objectType"] == "Agent" and stored["stored"].endswith("Z")
    assert stored["timestamp"] == captured[0]["timestamp"]


def test_single_post_returns_id_and_put_returns_204(client, lrs_headers):
    response = client.post("/xapi/statements", json=statement(), headers=lrs_headers["2.0.0"])
    assert response.status_code == 200 and len(response.json) == 1
    statement_id = str(uuid.uuid4())
    response = client.put(
        f"/xapi/statements?statementId={statement_id}", json=statement(), headers=lrs_headers["1.0.3"]
    )
    assert response.status_code == 204
    got = client.get(f"/xapi/statements?statementId={statement_id}", headers=lrs_headers["1.0.3"])
    assert got.status_code == 200 and got.json["id"] == statement_id


def test_put_needs_statement_id_matching_the_body(client, lrs_headers):
    headers = lrs_headers["1.0.3"]
    assert client.put("/xapi/statements", json=statement(), headers=headers).status_code == 400
    response = client.put(
        f"/xapi/statements?statementId={uuid.uuid4()}", json=statement(id=str(uuid.uuid4())), headers=headers
    )
    assert response.status_code == 400 and response.json["field"] == "statementId"


def test_batch_is_atomic(client, lrs_headers, db):
    good = statement()
    bad = statement(verb={"id": "not an iri"})
    response = client.post("/xapi/statements", json=[good, good, bad], headers=lrs_headers["1.0.3"])
    assert response.status_code == 400
    assert response.json["field"] == "statements[2].verb.id"
    assert count_statements(db) == 0
    with db.read_sessions() as session:
        assert session.scalar(select(func.count()).select_from(StatementIndexRow)) == 0


def test_duplicate_id_within_a_batch_is_refused(client, lrs_headers, db):
    statement_id = str(uuid.uuid4())
    response = client.post(
        "/xapi/statements",
        json=[statement(id=statement_id), statement(id=statement_id)],
        headers=lrs_headers["1.0.3"],
    )
    assert response.status_code == 400 and count_statements(db) == 0


def test_same_id_same_content_is_accepted_different_content_conflicts(client, lrs_headers):
    headers = lrs_headers["1.0.3"]
    statement_id = str(uuid.uuid4())
    first = statement(id=statement_id, timestamp="2026-01-05T10:00:00.000Z")
    assert client.post("/xapi/statements", json=first, headers=headers).status_code == 200
    # Same statement, timestamp written differently: the same statement.
    again = statement(id=statement_id, timestamp="2026-01-05T11:00:00+01:00")
    assert client.post("/xapi/statements", json=again, headers=headers).status_code == 200
    assert (
        client.put(
            f"/xapi/statements?statementId={statement_id}",
            json=statement(timestamp="2026-01-05T10:00:00Z"),
            headers=headers,
        ).status_code
        == 204
    )
    changed = statement(id=statement_id, verb={"id": "http://adlnet.gov/expapi/verbs/failed"})
    response = client.post("/xapi/statements", json=changed, headers=headers)
    assert response.status_code == 409 and response.json["error"] == "statement_conflict"
    stored = client.get(f"/xapi/statements?statementId={statement_id}", headers=headers).json
    assert stored["verb"]["id"] == "http://adlnet.gov/expapi/verbs/completed"


def test_voiding(client, lrs_headers):
    headers = lrs_headers["1.0.3"]
    target = client.post("/xapi/statements", json=statement(), headers=headers).json[0]
    voiding = statement(verb={"id": VOIDED}, object={"objectType": "StatementRef", "id": target})
    voiding_id = client.post("/xapi/statements", json=voiding, headers=headers).json[0]
    assert client.get(f"/xapi/statements?statementId={target}", headers=headers).status_code == 404
    voided = client.get(f"/xapi/statements?voidedStatementId={target}", headers=headers)
    assert voided.status_code == 200 and voided.json["id"] == target
    listed = [s["id"] for s in client.get("/xapi/statements", headers=headers).json["statements"]]
    assert target not in listed and voiding_id in listed
    # A voiding statement cannot be voided.
    response = client.post(
        "/xapi/statements",
        json=statement(verb={"id": VOIDED}, object={"objectType": "StatementRef", "id": voiding_id}),
        headers=headers,
    )
    assert response.status_code == 400 and response.json["error"] == "void_of_voiding"


def test_voiding_before_the_target_arrives(client, lrs_headers):
    headers = lrs_headers["1.0.3"]
    target = str(uuid.uuid4())
    client.post(
        "/xapi/statements",
        json=statement(verb={"id": VOIDED}, object={"objectType": "StatementRef", "id": target}),
        headers=headers,
    )
    client.post("/xapi/statements", json=statement(id=target), headers=headers)
    assert client.get(f"/xapi/statements?statementId={target}", headers=headers).status_code == 404
    assert client.get(f"/xapi/statements?voidedStatementId={target}", headers=headers).status_code == 200


@pytest.mark.parametrize(
    ("change", "field", "rule"),
    [
        ({"actor": {"mbox": "olivia@plant.example"}}, "statement.actor.mbox", "mailto"),
        (
            {"actor": {"mbox": "mailto:a@b.c", "openid": "http://id.example/a"}},
            "statement.actor",
            "exactly one",
        ),
        ({"actor": {"objectType": "Group"}}, "statement.actor", "members"),
        ({"verb": {"id": "completed"}}, "statement.verb.id", "IRI"),
        (
            {"verb": {"id": "http://x.example/v", "display": {"not a tag!": "x"}}},
            "statement.verb.display",
            "RFC 5646",
        ),
        ({"object": {"id": "https://x.example/a", "objectType": "Thing"}}, "statement.object", "objectType"),
        ({"result": {"score": {"scaled": 1.5}}}, "statement.result.score.scaled", "less than or equal"),
        ({"result": {"score": {"raw": 5, "min": 10, "max": 20}}}, "statement.result.score", "raw"),
        ({"result": {"duration": "1 hour"}}, "statement.result.duration", "ISO 8601"),
        ({"result": {"success": "yes"}}, "statement.result.success", "wrong type"),
        ({"timestamp": "yesterday"}, "statement.timestamp", "ISO 8601"),
        ({"context": {"registration": "not-a-uuid"}}, "statement.context.registration", "UUID"),
        ({"context": {"language": None}}, "statement.context.language", "null"),
        ({"colour": "blue"}, "statement.colour", "not a property"),
        ({"verb": {"id": VOIDED}}, "statement", "StatementRef"),
    ],
)
def test_validation_names_property_and_rule(client, lrs_headers, change, field, rule):
    response = client.post("/xapi/statements", json=statement(**change), headers=lrs_headers["1.0.3"])
    assert response.status_code == 400
    assert response.json["field"] == field
    assert rule.lower() in response.json["message"].lower()


def test_context_agents_are_2_0_only(client, lrs_headers):
    context = {
        "contextAgents": [
            {
                "objectType": "contextAgent",
                "agent": {"mbox": "mailto:trainer@plant.example"},
                "relevantTypes": ["https://gxp.example/roles/trainer"],
            }
        ]
    }
    refused = client.post("/xapi/statements", json=statement(context=context), headers=lrs_headers["1.0.3"])
    assert refused.status_code == 400 and "2.0" in refused.json["message"]
    stored = client.post("/xapi/statements", json=statement(context=context), headers=lrs_headers["2.0.0"])
    assert stored.status_code == 200
    statement_id = stored.json[0]
    as_v2 = client.get(f"/xapi/statements?statementId={statement_id}", headers=lrs_headers["2.0.0"]).json
    assert "contextAgents" in as_v2["context"] and as_v2["version"] == "2.0.0"
    # A 1.0.x client never receives a 2.0-only property.
    as_v1 = client.get(f"/xapi/statements?statementId={statement_id}", headers=lrs_headers["1.0.3"]).json
    assert "contextAgents" not in as_v1.get("context", {})
    listed = client.get("/xapi/statements", headers=lrs_headers["1.0.3"]).json["statements"]
    assert all("contextAgents" not in s.get("context", {}) for s in listed)


def test_2_0_timestamps_need_an_offset(client, lrs_headers):
    naive = statement(timestamp="2026-01-05T10:00:00")
    assert client.post("/xapi/statements", json=naive, headers=lrs_headers["1.0.3"]).status_code == 200
    response = client.post("/xapi/statements", json=naive, headers=lrs_headers["2.0.0"])
    assert response.status_code == 400 and response.json["field"] == "statement.timestamp"


@pytest.mark.parametrize("version", ["1.0.0", "1.0.1", "1.0.2"])
def test_older_1_0_clients_put_statements(client, lrs_headers, version):
    headers = dict(lrs_headers["1.0.3"], **{"X-Experience-API-Version": version})
    statement_id = str(uuid.uuid4())
    response = client.put(f"/xapi/statements?statementId={statement_id}", json=statement(), headers=headers)
    assert response.status_code == 204 and response.headers["X-Experience-API-Version"] == "1.0.3"


def test_bad_json_and_content_type(client, lrs_headers):
    headers = dict(lrs_headers["1.0.3"])
    response = client.post(
        "/xapi/statements", data="{not json", headers=dict(headers, **{"Content-Type": "application/json"})
    )
    assert response.status_code == 400 and response.json["error"] == "invalid_json"
    response = client.post(
        "/xapi/statements", data="x=1", headers=dict(headers, **{"Content-Type": "text/plain"})
    )
    assert response.status_code == 400 and response.json["field"] == "Content-Type"


def test_write_scope_is_required(client, make_credential):
    from tests.xapi.conftest import basic

    key, secret = make_credential("reader", ("statements/read",))
    headers = {"Authorization": basic(key, secret), "X-Experience-API-Version": "1.0.3"}
    response = client.post("/xapi/statements", json=statement(), headers=headers)
    assert response.status_code == 403 and "statements/write" in response.json["message"]


def test_authority_comes_from_the_credential(client, lrs_headers):
    claimed = {"objectType": "Agent", "mbox": "mailto:someone.else@plant.example"}
    statement_id = client.post(
        "/xapi/statements", json=statement(authority=claimed), headers=lrs_headers["1.0.3"]
    ).json[0]
    stored = client.get(f"/xapi/statements?statementId={statement_id}", headers=lrs_headers["1.0.3"]).json
    assert stored["authority"]["account"]["name"].startswith("lrs_")
    assert stored["authority"]["name"] == "lms"


def test_stored_statements_cannot_be_altered_or_deleted_in_the_database(client, lrs_headers, db):
    from sqlalchemy import delete, update
    from sqlalchemy.exc import DatabaseError

    statement_id = client.post("/xapi/statements", json=statement(), headers=lrs_headers["1.0.3"]).json[0]
    for change in (update(StatementRow).where(StatementRow.statement_id == statement_id).values(body="{}"),
                   delete(StatementRow).where(StatementRow.statement_id == statement_id)):
        with db.engine.connect() as conn, pytest.raises(DatabaseError, match="append-only"):
            conn.execute(change)
    stored = client.get(f"/xapi/statements?statementId={statement_id}", headers=lrs_headers["1.0.3"])
    assert stored.status_code == 200
