"""Reads from a replica (PostgreSQL): which requests the replica answers and which the primary.

The replica here is a stand-in: a second database on the same server, copied from the primary
(``CREATE DATABASE … TEMPLATE``) and then given a record the primary does not have, so a
response shows which database answered it. Its connections are read-only at the server, like a
hot standby's. docs/admin-guide.md ("Reads from a replica") says so.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from bridge import migrate
from bridge.core.actor import SYSTEM
from bridge.core.clock import MovableClock
from bridge.core.db import Database, make_engine
from bridge.core.uow import UnitOfWork
from qms.documents import services as documents
from qms.documents.models import Document
from tests.conftest import TEST_PASSWORD
from tests.ops.conftest import OPS_SECRET_KEY
from tests.ops.helpers import PG_URL, free_port

pytestmark = pytest.mark.skipif(not PG_URL, reason="a read replica is PostgreSQL only (TEST_DATABASE_URL)")

AUDIT_KEY = "replica-test-audit-key-" + "y" * 40


def _server():
    return make_url(PG_URL).set(drivername="postgresql+psycopg")


@pytest.fixture(scope="module")
def databases() -> Iterator[tuple[str, str]]:
    """(primary, replica): the replica a copy of the primary taken after the first users."""
    server = _server()
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    suffix = uuid.uuid4().hex[:10]
    primary, replica = f"gxp_primary_{suffix}", f"gxp_replica_{suffix}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{primary}"'))
    primary_url = server.set(database=primary).render_as_string(hide_password=False)
    replica_url = server.set(database=replica).render_as_string(hide_password=False)
    try:
        engine = make_engine(primary_url)
        migrate.upgrade(engine)
        engine.dispose()
        yield primary_url, replica_url
    finally:
        with admin.connect() as conn:
            for name in (replica, primary):
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _app(primary_url: str, tmp_path: Path, clock: MovableClock, replica_url: str | None):
    from bridge.app import create_app

    return create_app(testing=True, database_url=primary_url, database_replica_url=replica_url,
                      instance_path=tmp_path / "instance", secret_key=OPS_SECRET_KEY,
                      audit_key=AUDIT_KEY, password_min_length=12, lockout_threshold=3, clock=clock)


def _create_document(db: Database, code: str, title: str) -> int:
    with UnitOfWork(db, SYSTEM) as uow:
        document = documents.create_document(uow, code=code, title=title)
        uow.commit()
        return document.id


@pytest.fixture(scope="module")
def site(databases: tuple[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The primary with a QA user, the replica copied from it, then one document in each that
    carries the same id and a different title."""
    primary_url, replica_url = databases
    tmp = tmp_path_factory.mktemp("replica")
    clock = MovableClock()
    setup = _app(primary_url, tmp, clock, None)
    from bridge.core import accounts

    db = setup.extensions["gxpbridge.db"]
    with UnitOfWork(db, SYSTEM) as uow:
        accounts.create_user(uow, "qa.lead", roles=["qa_approver", "qa_author"], password=TEST_PASSWORD,
                             display_name="QA Lead")
        uow.commit()
    db.dispose()
    admin = create_engine(_server(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{make_url(replica_url).database}" '
                          f'TEMPLATE "{make_url(primary_url).database}"'))
    admin.dispose()
    # The stand-in "replicates" a record the primary will not have (written as the test, not
    # through the replica's read-only connections).
    replica_db = Database(replica_url)
    replica_db.configure(clock=clock, settings=setup.extensions["gxpbridge.settings"])
    replica_doc = _create_document(replica_db, "SOP-R01", "Held by the replica only")
    replica_db.dispose()
    primary_doc = _create_document(db, "SOP-P01", "Held by the primary only")
    assert replica_doc == primary_doc
    db.dispose()
    return {"primary": primary_url, "replica": replica_url, "tmp": tmp, "document_id": replica_doc}


@pytest.fixture
def app(site: dict, tmp_path: Path):
    clock = MovableClock()
    app = _app(site["primary"], site["tmp"], clock, site["replica"])
    app.clock_for_test = clock
    yield app
    app.extensions["gxpbridge.db"].dispose()


@pytest.fixture
def token(app) -> dict[str, str]:
    """An API token issued now: it exists in the primary only."""
    from bridge.core import accounts

    with UnitOfWork(app.extensions["gxpbridge.db"], SYSTEM) as uow:
        issued = accounts.issue_token(uow, accounts.get_user(uow.session, "qa.lead"))
        uow.commit()
    return {"Authorization": f"Bearer {issued.token}"}


def _titles(url: str) -> list[str]:
    engine = create_engine(make_url(url).set(drivername="postgresql+psycopg"))
    with engine.connect() as conn:
        titles = list(conn.scalars(select(Document.title).order_by(Document.id)))
    engine.dispose()
    return titles


def test_reports_read_the_replica_other_reads_and_the_sign_in_read_the_primary(app, site, token):
    client = app.test_client()
    doc = site["document_id"]
    # The token exists only in the primary: authenticating it there is what lets the report
    # be read at all; the report's data then comes from the replica.
    report = client.get(f"/api/v1/reports/document-training/{doc}", headers=token)
    assert report.status_code == 200, report.get_data(as_text=True)
    assert report.headers["X-GxPBridge-Read-Source"] == "replica"
    assert "Held by the replica only" in report.get_data(as_text=True)
    through = dt.datetime.fromisoformat(report.headers["X-GxPBridge-Consistent-Through"])
    assert abs((through - app.clock_for_test.now()).total_seconds()) < 5  # a stand-in does not lag
    # Not a report path: the primary answers.
    document = client.get(f"/api/v1/documents/{doc}", headers=token)
    assert document.status_code == 200
    assert document.headers["X-GxPBridge-Read-Source"] == "primary"
    assert document.get_json()["title"] == "Held by the primary only"


def test_a_write_lands_in_the_primary_and_the_replica_refuses_writes(app, site, token):
    client = app.test_client()
    created = client.post("/api/v1/documents", headers=token,
                          json={"code": "SOP-W01", "title": "Written through the API"})
    assert created.status_code == 201, created.get_data(as_text=True)
    assert "Written through the API" in _titles(site["primary"])
    assert "Written through the API" not in _titles(site["replica"])
    replica = app.extensions["gxpbridge.db"].replica
    with replica.sessions() as session, pytest.raises(DBAPIError, match="read-only transaction"):
        session.execute(text(f"UPDATE {Document.__tablename__} SET title = 'changed' WHERE id = 1"))


def test_a_console_session_reads_its_own_writes_from_the_primary(app):
    from tests.console.conftest import sign_in

    client = app.test_client()
    assert sign_in(client, "qa.lead").status_code == 302  # the sign-in is a write (primary)
    first = client.get("/console/reports/")
    assert first.status_code == 200
    assert first.headers["X-GxPBridge-Read-Source"] == "primary"  # it wrote a moment ago
    app.clock_for_test.advance(seconds=app.extensions["gxpbridge.settings"].replica_max_lag_seconds + 1)
    later = client.get("/console/reports/")
    assert later.status_code == 200
    assert later.headers["X-GxPBridge-Read-Source"] == "replica"
    inspection = client.get("/console/inspection/")
    assert inspection.status_code == 200
    assert inspection.headers["X-GxPBridge-Read-Source"] == "replica"


def test_health_and_metrics_show_the_replica(app, token):
    client = app.test_client()
    health = client.get("/healthz").get_json()
    assert health["replica"] == {"configured": True, "reachable": True, "in_use": True, "standby": False,
                                 "lag_seconds": 0.0, "max_lag_seconds": 30.0}
    client.get("/api/v1/reports/document-training/1", headers=token)
    scrape = client.get("/metrics").get_data(as_text=True)
    assert "gxpbridge_replica_up 1.0" in scrape
    assert "gxpbridge_replica_in_use 1.0" in scrape
    assert "gxpbridge_replica_lag_seconds 0.0" in scrape
    assert 'gxpbridge_db_reads_total{source="replica"}' in scrape


def test_an_unreachable_replica_leaves_every_read_to_the_primary(site, tmp_path, token):
    down = make_url(site["replica"]).set(port=free_port()).render_as_string(hide_password=False)
    app = _app(site["primary"], site["tmp"], MovableClock(), down)
    try:
        client = app.test_client()
        report = client.get(f"/api/v1/reports/document-training/{site['document_id']}", headers=token)
        assert report.status_code == 200
        assert report.headers["X-GxPBridge-Read-Source"] == "primary"
        assert "Held by the primary only" in report.get_data(as_text=True)
        health = client.get("/healthz")
        assert health.status_code == 200  # the primary serves: not an outage
        assert health.get_json()["replica"]["reachable"] is False
        assert health.get_json()["replica"]["in_use"] is False
        assert "gxpbridge_replica_up 0.0" in client.get("/metrics").get_data(as_text=True)
    finally:
        app.extensions["gxpbridge.db"].dispose()


def test_a_lagging_replica_is_not_read(app, site, token):
    replica = app.extensions["gxpbridge.db"].replica
    replica.max_lag_seconds = -1.0  # any lag is too much: as a standby minutes behind would be
    client = app.test_client()
    report = client.get(f"/api/v1/reports/document-training/{site['document_id']}", headers=token)
    assert report.headers["X-GxPBridge-Read-Source"] == "primary"
    assert replica.status().usable(replica.max_lag_seconds) is False


def test_a_replica_failing_after_its_check_leaves_the_read_to_the_primary(app, site, token):
    replica = app.extensions["gxpbridge.db"].replica
    client = app.test_client()
    url = f"/api/v1/reports/document-training/{site['document_id']}"
    assert client.get(url, headers=token).headers["X-GxPBridge-Read-Source"] == "replica"
    replica.check_seconds = 3600.0  # the last check (reachable) stands: the failure comes after it
    name = make_url(site["replica"]).database
    admin = create_engine(_server(), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false'))
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": name})
        report = client.get(url, headers=token)
        assert report.status_code == 200, report.get_data(as_text=True)
        assert report.headers["X-GxPBridge-Read-Source"] == "primary"
        assert "X-GxPBridge-Consistent-Through" not in report.headers
        assert "Held by the primary only" in report.get_data(as_text=True)
        assert replica.status().reachable is False  # marked down: the next reads go to the primary
        assert client.get(url, headers=token).headers["X-GxPBridge-Read-Source"] == "primary"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true'))
        admin.dispose()
