"""Storage and serving choices made for throughput keep every behaviour: the filter-row table
rebuilt without rowid (migration xapi_0004) keeps its rows, the partial voids index still
serves voiding, the record store answers without a cookie session, and ``serve`` picks its
worker count by database."""

from __future__ import annotations

import json
import urllib.parse
import uuid

import pytest
from sqlalchemy import event, text

from bridge import migrate
from bridge.cli import default_workers
from tests.conftest import PG_URL, _pg_url, terminate_other_backends
from tests.xapi.conftest import statement

VOIDED = "http://adlnet.gov/expapi/verbs/voided"


def _ids(client, headers, query: str) -> list[str]:
    response = client.get(f"/xapi/statements?{query}", headers=headers)
    assert response.status_code == 200, response.json
    return [s["id"] for s in response.json["statements"]]


def _schema(db) -> tuple[str, str]:
    """The filter-row table's and the voids index's definitions."""
    with db.engine.connect() as conn:
        if db.dialect == "sqlite":
            table = conn.scalar(text("SELECT sql FROM sqlite_master WHERE name = 'xapi_statement_index'"))
            voids = conn.scalar(text("SELECT sql FROM sqlite_master WHERE name = 'ix_xapi_statement_voids'"))
        else:
            table = "heap"
            voids = conn.scalar(
                text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_xapi_statement_voids'")
            )
    return table, voids


def test_filter_rows_survive_the_migration_both_ways(client, db, lrs_headers):
    headers = lrs_headers["1.0.3"]
    agents = [f"mailto:learner{i}@plant.example" for i in range(3)]
    batch = [
        statement(actor={"mbox": agents[i % 3]}, object={"id": f"https://lms.plant.example/sop-{i % 2}"})
        for i in range(6)
    ]
    stored = client.post("/xapi/statements", json=batch, headers=headers).json
    queries = [
        "agent=" + urllib.parse.quote(json.dumps({"mbox": agents[1]})),
        "activity=" + urllib.parse.quote("https://lms.plant.example/sop-0"),
        "verb=" + urllib.parse.quote("http://adlnet.gov/expapi/verbs/completed") + "&ascending=true",
    ]
    before = [_ids(client, headers, q) for q in queries]
    assert before[0] == [stored[4], stored[1]]
    assert before[2] == stored

    table, voids = _schema(db)
    assert "WHERE" in voids.upper()
    if db.dialect == "sqlite":
        assert "WITHOUT ROWID" in table.upper()

    migrate.downgrade(db.engine, "xapi_0003")
    table, voids = _schema(db)
    assert "WHERE" not in voids.upper()
    if db.dialect == "sqlite":
        assert "WITHOUT ROWID" not in table.upper()
    assert [_ids(client, headers, q) for q in queries] == before

    migrate.upgrade(db.engine)
    assert [_ids(client, headers, q) for q in queries] == before
    # Writes after the rebuild land in the new table and are found.
    late = client.post("/xapi/statements", json=statement(actor={"mbox": agents[1]}), headers=headers).json
    assert _ids(client, headers, queries[0])[0] == late[0]


def test_voiding_through_the_partial_index(client, lrs_headers):
    headers = lrs_headers["2.0.0"]
    target = str(uuid.uuid4())
    client.post("/xapi/statements", json=statement(id=target), headers=headers)
    void = statement(verb={"id": VOIDED}, object={"objectType": "StatementRef", "id": target})
    voiding_id = client.post("/xapi/statements", json=void, headers=headers).json[0]
    assert client.get(f"/xapi/statements?statementId={target}", headers=headers).status_code == 404
    assert client.get(f"/xapi/statements?voidedStatementId={target}", headers=headers).status_code == 200
    # A voiding statement cannot itself be voided: found through the same index.
    again = statement(verb={"id": VOIDED}, object={"objectType": "StatementRef", "id": voiding_id})
    response = client.post("/xapi/statements", json=again, headers=headers)
    assert response.status_code == 400 and response.json["error"] == "void_of_voiding"


def test_record_store_answers_without_a_cookie_session(client, lrs_headers):
    response = client.post("/xapi/statements", json=statement(), headers=lrs_headers["1.0.3"])
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    assert client.get("/xapi/about").headers.get("Set-Cookie") is None
    # The console still gets its signed session cookie (the CSRF token lives in it).
    assert "session=" in client.get("/login").headers.get("Set-Cookie", "")


def test_serve_picks_workers_by_database():
    assert default_workers("sqlite:////var/lib/gxpbridge/gxpbridge.sqlite3", cpus=8) == 2
    assert default_workers("postgresql+psycopg://gxp@db/gxp", cpus=2) == 3
    assert default_workers("postgresql+psycopg://gxp@db/gxp", cpus=None) == 2


def test_generated_ids_are_version_4_and_follow_the_clock(client, lrs_headers):
    """Ids the store makes up are RFC 9562 version-4 UUIDs (TinCanPython refuses versions above
    5) that lead with the time, so later statements get greater ids; no two are alike."""
    first = client.post("/xapi/statements", json=[statement()] * 50, headers=lrs_headers["1.0.3"]).json
    later = client.post("/xapi/statements", json=statement(), headers=lrs_headers["2.0.0"]).json
    ids = first + later
    assert len(set(ids)) == 51
    for value in ids:
        parsed = uuid.UUID(value)
        assert str(parsed) == value
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
    prefixes = [int(value.replace("-", "")[:12], 16) for value in ids]
    assert prefixes == sorted(prefixes)  # milliseconds: equal within one, never decreasing


def _key_statistics_target(db) -> int | None:
    with db.engine.connect() as conn:
        return conn.scalar(
            text(
                "SELECT attstattarget FROM pg_attribute "
                "WHERE attrelid = 'xapi_statement_index'::regclass AND attname = 'key'"
            )
        )


def _primary_key_definition(db) -> str:
    with db.engine.connect() as conn:
        return conn.scalar(
            text(
                "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conname = 'pk_xapi_statement_index'"
            )
        )


def test_postgresql_keeps_statistics_on_common_filter_keys(client, db, lrs_headers):
    """xapi_0005: PostgreSQL keeps 1,000 most common keys (the default 100 lost verbs, and
    agent+verb queries were planned as if a verb had a few hundred statements) and carries the
    relation in the primary key (index-only filters); both ways, the rows kept."""
    headers = lrs_headers["1.0.3"]
    verb = "verb=" + urllib.parse.quote("http://adlnet.gov/expapi/verbs/completed")
    stored = client.post("/xapi/statements", json=[statement() for _ in range(3)], headers=headers).json
    if db.dialect == "postgresql":
        assert _key_statistics_target(db) == 1000
        assert "INCLUDE (relation)" in _primary_key_definition(db)
    migrate.downgrade(db.engine, "xapi_0004")
    if db.dialect == "postgresql":
        assert _key_statistics_target(db) in (-1, None)  # the server's default (None from PostgreSQL 17)
        assert _primary_key_definition(db) == "PRIMARY KEY (key, seq)"
    assert _ids(client, headers, verb) == stored[::-1]
    migrate.upgrade(db.engine)
    if db.dialect == "postgresql":
        assert _key_statistics_target(db) == 1000
        assert "INCLUDE (relation)" in _primary_key_definition(db)
    assert _ids(client, headers, verb) == stored[::-1]


POSTGRESQL_ONLY = pytest.mark.skipif(not PG_URL, reason="PostgreSQL only: set TEST_DATABASE_URL")



@POSTGRESQL_ONLY
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_record_store_reads_through_a_lost_connection(client, lrs_headers, pg_database):
    """A credential read on a connection the server dropped a moment ago is retried on a new
    one (the pool is replaced): the request succeeds, as with a ping at every checkout."""
    headers = lrs_headers["1.0.3"]
    for _ in range(3):
        assert client.get("/xapi/statements?limit=1", headers=headers).status_code == 200
    terminate_other_backends(_pg_url(pg_database))
    response = client.get("/xapi/statements?limit=1", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    statement = {
        "actor": {"mbox": "mailto:a@example.com"},
        "verb": {"id": "http://example.com/v"},
        "object": {"id": "http://example.com/a"},
    }
    assert client.post("/xapi/statements", json=statement, headers=headers).status_code == 200

@POSTGRESQL_ONLY
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_connection_lost_while_writing_answers_503_and_the_next_request_succeeds(
    client, db, lrs_headers, pg_database
):
    """The unit of work's connection is dropped as it is checked out (after the credential
    read): the POST answers 503 with Retry-After, stores nothing, and the retry succeeds."""
    headers = lrs_headers["1.0.3"]
    assert client.get("/xapi/statements?limit=1", headers=headers).status_code == 200
    checkouts: list[int] = []
    drops: list[int] = []

    def drop_on_checkout(*_args):
        checkouts.append(1)
        if len(checkouts) == 2:  # the first is the credential read's
            drops.append(terminate_other_backends(_pg_url(pg_database)))

    event.listen(db.engine, "checkout", drop_on_checkout)
    body = statement(id=str(uuid.uuid4()))
    try:
        response = client.post("/xapi/statements", json=body, headers=headers)
    finally:
        event.remove(db.engine, "checkout", drop_on_checkout)
    assert drops and drops[0] >= 1
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.headers["Retry-After"] == "1"
    assert response.get_json()["error"] == "database_unavailable"
    found = client.get(f"/xapi/statements?statementId={body['id']}", headers=headers)
    assert found.status_code == 404
    assert client.post("/xapi/statements", json=body, headers=headers).status_code == 200
