"""The statement-table partitioning of docs/admin-guide.md (section 8), run as written on a
PostgreSQL store with statements from several years: writes, duplicates, conflicts, voiding,
the append-only refusal and queries work afterwards.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import subprocess
import uuid
from pathlib import Path

import psycopg
import pytest

from bridge.core.clock import MovableClock
from tests.ops.conftest import OPS_SECRET_KEY
from tests.ops.helpers import BIN, PG_URL, ROOT, clean_env, libpq_url, scratch_pg_database

pytestmark = pytest.mark.skipif(not PG_URL, reason="partitioning is PostgreSQL's: set TEST_DATABASE_URL")


def documented_sql() -> str:
    """The SQL block of the guide's partitioning section."""
    guide = (ROOT / "docs" / "admin-guide.md").read_text()
    section = guide.split("### Partitioning the statement table", 1)[1]
    return re.search(r"```sql\n(.*?)```", section, re.S).group(1)


def _statement(n: int, verb: str = "experienced") -> dict:
    return {
        "id": str(uuid.UUID(int=n)),
        "actor": {"mbox": f"mailto:learner{n % 3}@plant.example"},
        "verb": {"id": f"http://adlnet.gov/expapi/verbs/{verb}"},
        "object": {"id": f"https://lms.plant.example/activity/{n}"},
    }


def test_the_documented_partitioning_keeps_the_record_store_working(tmp_path: Path) -> None:
    from bridge.app import create_app
    from bridge.core.actor import SYSTEM
    from bridge.core.uow import UnitOfWork
    from xapi import auth

    with scratch_pg_database("gxp_partition") as url:
        upgraded = subprocess.run([str(BIN / "gxpbridge"), "db", "upgrade"], capture_output=True, text=True,
                                  env=clean_env(GXPBRIDGE_DATABASE_URL=url,
                                                GXPBRIDGE_INSTANCE_PATH=str(tmp_path / "i")))
        assert upgraded.returncode == 0, upgraded.stderr
        clock = MovableClock(dt.datetime(2025, 6, 1, tzinfo=dt.UTC))
        app = create_app(testing=True, database_url=url, secret_key=OPS_SECRET_KEY,
                         instance_path=tmp_path / "instance", clock=clock)
        try:
            db = app.extensions["gxpbridge.db"]
            with UnitOfWork(db, SYSTEM) as uow:
                issued = auth.create_credential(uow, "p", scopes=["all"], pepper=OPS_SECRET_KEY,
                                                home_page="https://gxp.example")
                uow.commit()
            client = app.test_client()
            headers = {"Authorization": "Basic " + base64.b64encode(
                f"{issued.key}:{issued.secret}".encode()).decode(), "X-Experience-API-Version": "1.0.3"}

            def post(*statements: dict) -> object:
                return client.post("/xapi/statements", json=list(statements), headers=headers)

            assert post(_statement(1), _statement(2)).status_code == 200  # 2025
            clock.set(dt.datetime(2026, 3, 1, tzinfo=dt.UTC))
            assert post(_statement(3), _statement(4)).status_code == 200  # 2026
            db.dispose()

            with psycopg.connect(libpq_url(url), autocommit=True) as conn:
                conn.execute(documented_sql())

            clock.set(dt.datetime(2027, 2, 1, tzinfo=dt.UTC))
            assert post(_statement(5)).status_code == 200  # 2027, after partitioning
            assert post(_statement(5)).status_code == 200  # the same statement again: no change
            conflict = post(_statement(5, verb="completed"))
            assert conflict.status_code == 409, conflict.get_data(as_text=True)
            voiding = {"actor": {"mbox": "mailto:qa@plant.example"},
                       "verb": {"id": "http://adlnet.gov/expapi/verbs/voided"},
                       "object": {"objectType": "StatementRef", "id": str(uuid.UUID(int=1))}}
            assert post(voiding).status_code == 200
            got = client.get(f"/xapi/statements?statementId={uuid.UUID(int=3)}", headers=headers)
            assert got.status_code == 200 and got.json["id"] == str(uuid.UUID(int=3))
            voided = client.get(f"/xapi/statements?voidedStatementId={uuid.UUID(int=1)}", headers=headers)
            assert voided.status_code == 200
            agent = '{"mbox": "mailto:learner2@plant.example"}'
            found = client.get("/xapi/statements", query_string={"agent": agent}, headers=headers).json
            assert {s["id"] for s in found["statements"]} == {str(uuid.UUID(int=n)) for n in (2, 5)}
            with psycopg.connect(libpq_url(url), autocommit=True) as conn:
                placed = dict(conn.execute(
                    "SELECT statement_id, tableoid::regclass::text FROM xapi_statement").fetchall())
                assert placed[str(uuid.UUID(int=1))] == "xapi_statement_before_2026"
                assert placed[str(uuid.UUID(int=3))] == "xapi_statement_2026"
                assert placed[str(uuid.UUID(int=5))] == "xapi_statement_2027"
                assert len(placed) == 6
                assert conn.execute("SELECT count(*) FROM xapi_statement_id").fetchone()[0] == 6
                assert conn.execute("SELECT count(*) FROM xapi_statement_unpartitioned").fetchone()[0] == 4
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute("UPDATE xapi_statement SET body = '{}' WHERE statement_id = %s",
                                 (str(uuid.UUID(int=2)),))
                with pytest.raises(psycopg.errors.UniqueViolation):
                    conn.execute("INSERT INTO xapi_statement (statement_id, stored, voided, version, body) "
                                 "VALUES (%s, now(), false, '1.0.3', '{}')", (str(uuid.UUID(int=4)),))
        finally:
            app.extensions["gxpbridge.db"].dispose()
