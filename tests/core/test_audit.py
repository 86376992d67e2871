"""Audit trail: rows written with the change, hash-chained, tampering detected."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from bridge.core import audit, people
from bridge.core.actor import Actor


def _create_people(uow_factory, count: int = 3) -> None:
    actor = Actor(kind="user", username="qa", display_name="Quinn QA", user_id=None)
    with uow_factory(actor) as uow:
        for i in range(count):
            people.create_person(uow.session, f"Person {i}", email=f"p{i}@plant.example")
        uow.commit()


def test_changes_are_audited_with_old_and_new_values_and_reason(uow_factory, db):
    _create_people(uow_factory, 1)
    with uow_factory() as uow:
        person = uow.session.scalar(select(people.Person))
        with uow.because("name corrected after marriage"):
            person.display_name = "Person Zero-Smith"
        uow.commit()
    with db.read_sessions() as session:
        rows = audit.history(session, "person", person.id)
    assert [r.action for r in rows] == ["create", "update"]
    assert rows[0].actor_username == "qa" and rows[0].actor_name == "Quinn QA"
    assert rows[1].old_values == {"display_name": "Person 0"}
    assert rows[1].new_values == {"display_name": "Person Zero-Smith"}
    assert rows[1].reason == "name corrected after marriage"
    assert rows[1].occurred_at.tzinfo is not None


def test_rollback_leaves_no_audit_rows(uow_factory, db):
    with uow_factory() as uow:
        people.create_person(uow.session, "Ghost")
        uow.flush()
        uow.rollback()
    with db.read_sessions() as session:
        assert session.scalar(select(func.count()).select_from(audit.AuditEvent)) == 0


def test_chain_verifies_and_cli_reports_count(uow_factory, runner):
    _create_people(uow_factory)
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    # Each person: the person row, its mbox identity and its mbox_sha1sum identity.
    assert "9 rows verified" in result.output


def _tamper(db, sql: str) -> None:
    with db.engine.begin() as conn:
        if db.dialect == "postgresql":
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            conn.exec_driver_sql("DROP TRIGGER IF EXISTS audit_event_no_update")
            conn.exec_driver_sql("DROP TRIGGER IF EXISTS audit_event_no_delete")
        conn.execute(text(sql))


@pytest.mark.parametrize(
    ("sql", "bad_row"),
    [
        ("UPDATE audit_event SET reason = 'nothing to see' WHERE seq = 4", 4),
        ("DELETE FROM audit_event WHERE seq = 3", 3),
        ("UPDATE audit_event SET entity_id = '999' WHERE seq = 2", 2),
    ],
)
def test_tampering_is_detected_by_cli(uow_factory, runner, db, sql, bad_row):
    _create_people(uow_factory)
    _tamper(db, sql)
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert f"BROKEN at row {bad_row}" in result.output


def test_reordering_rows_is_detected(uow_factory, db):
    _create_people(uow_factory)
    # Swap the content of rows 2 and 3, keeping their hashes: order no longer matches.
    with db.read_sessions() as session:
        two, three = (session.get(audit.AuditEvent, s) for s in (2, 3))
        a, b = audit.snapshot(two), audit.snapshot(three)
    assignments = ", ".join(f"{k} = :{k}" for k in ("entity_id", "new_values", "action"))
    with db.engine.begin() as conn:
        if db.dialect == "postgresql":
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            conn.exec_driver_sql("DROP TRIGGER IF EXISTS audit_event_no_update")
        import json

        for seq, src in ((2, b), (3, a)):
            conn.execute(text(f"UPDATE audit_event SET {assignments} WHERE seq = :seq"),
                         {"seq": seq, "entity_id": src["entity_id"],
                          "new_values": json.dumps(src["new_values"]), "action": src["action"]})
    with db.read_sessions() as session:
        report = audit.verify_chain(session)
    assert not report.ok and report.first_bad_seq == 2


def test_database_refuses_update_and_delete_of_audit_rows(uow_factory, db):
    _create_people(uow_factory, 1)
    for sql in ("UPDATE audit_event SET reason = 'x'", "DELETE FROM audit_event"):
        with pytest.raises(DBAPIError, match="append-only"):
            with db.engine.begin() as conn:
                conn.execute(text(sql))
    with db.read_sessions() as session:
        assert audit.verify_chain(session).ok


def test_explicit_audit_record_is_chained(uow_factory, db):
    with uow_factory() as uow:
        audit.record(uow, "lti.launch_refused", "lti_launch", "n/a", new={"why": "replayed nonce"})
        uow.commit()
    with db.read_sessions() as session:
        report = audit.verify_chain(session)
        row = session.get(audit.AuditEvent, 1)
    assert report.ok and report.count == 1
    assert row.action == "lti.launch_refused" and row.actor_kind == "system"
