"""The audit chain is keyed (HMAC, key outside the database) and its head is signed in
checkpoints: recomputing the chain with the public digest and deleting tail rows are both caught;
rows sealed before the key keep verifying."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest
from sqlalchemy import func, insert, select, text

from bridge.core import audit
from bridge.core.jobs import sweeps_of


def _add_rows(uow_factory, count: int, *, per_commit: int = 1) -> None:
    for start in range(0, count, per_commit):
        with uow_factory() as uow:
            for i in range(start, min(count, start + per_commit)):
                audit.record(uow, "test.event", "thing", i, new={"n": i})
            uow.commit()


def _tamper(db, *sql: str, params: list[dict] | None = None) -> None:
    with db.engine.begin() as conn:
        if db.dialect == "postgresql":
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            for trigger in ("audit_event_no_update", "audit_event_no_delete",
                            "audit_checkpoint_no_update", "audit_checkpoint_no_delete"):
                conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {trigger}")
        for statement in sql:
            conn.execute(text(statement), params or {})


def _verify(db, **kwargs):
    with db.read_sessions() as session:
        return audit.verify_chain(session, **kwargs)


def _public_digest(row: dict) -> str:
    content = {k: row[k] for k in ("seq", "actor_kind", "actor_username", "actor_name",
                                   "actor_user_id", "action", "entity_type", "entity_id",
                                   "old_values", "new_values", "reason", "prev_hash")}
    content["occurred_at"] = audit.jsonable(row["occurred_at"])
    data = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(data.encode()).hexdigest()


def test_a_chain_recomputed_with_the_public_digest_is_caught(uow_factory, db):
    _add_rows(uow_factory, 4)
    assert _verify(db).ok
    # Someone with the database alters row 2 and recomputes every hash after it.
    with db.read_sessions() as session:
        rows = [dict(r) for r in session.execute(
            select(*audit.AuditEvent.__table__.columns).order_by(audit.AuditEvent.seq)).mappings()]
    rows[1]["reason"] = "nothing to see"
    prev = rows[0]["row_hash"]
    statements, params = [], {}
    for row in rows[1:]:
        row["prev_hash"] = prev
        row["row_hash"] = prev = _public_digest(row)
        seq = row["seq"]
        statements.append(f"UPDATE audit_event SET reason = :reason{seq}, prev_hash = :prev{seq}, "
                          f"row_hash = :hash{seq} WHERE seq = {seq}")
        params.update({f"reason{seq}": row["reason"], f"prev{seq}": row["prev_hash"],
                       f"hash{seq}": row["row_hash"]})
    for statement in statements:
        _tamper(db, statement, params=params)
    report = _verify(db)
    assert not report.ok and report.first_bad_seq == 2
    # The rows are HMACs under the site's key, not plain SHA-256.
    assert not _verify(db, key=b"another site's key").ok


def test_rows_deleted_from_the_tail_are_caught_up_to_the_last_checkpoint(app, uow_factory, db,
                                                                          runner):
    app.extensions["gxpbridge.settings"].audit_checkpoint_rows = 5
    _add_rows(uow_factory, 12)  # checkpoints at the switch-over (row 0), rows 5 and 10
    report = _verify(db)
    assert report.ok and report.count == 12 and report.last_checkpoint_seq == 10
    assert report.unanchored == 2
    _tamper(db, "DELETE FROM audit_event WHERE seq > 8")
    report = _verify(db)
    assert not report.ok and report.first_bad_seq == 9
    assert "rows 9 to 10 were deleted" in report.problem
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1 and "BROKEN at row 9" in result.output


def test_the_worker_and_the_cli_sign_the_head(app, uow_factory, db, runner):
    sweep = {s.name: s for s in sweeps_of(app)}["core.audit_checkpoint"]
    _add_rows(uow_factory, 3)
    assert _verify(db).last_checkpoint_seq == 0  # only the switch-over so far
    sweep.run(db)
    assert _verify(db).last_checkpoint_seq == 3
    sweep.run(db)  # nothing new: no new checkpoint
    assert _verify(db).checkpoints == 2
    _add_rows(uow_factory, 1)
    result = runner.invoke(args=["audit", "checkpoint"])
    assert result.exit_code == 0 and "row 4" in result.output
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0 and "4 rows verified, 3 signed checkpoint(s)" in result.output
    _tamper(db, "DELETE FROM audit_event WHERE seq = 4")
    assert not _verify(db).ok


def test_a_forged_or_altered_checkpoint_is_caught(uow_factory, db):
    _add_rows(uow_factory, 3)
    _tamper(db, "UPDATE audit_checkpoint SET seq = 2")
    report = _verify(db)
    assert not report.ok and "checkpoint" in report.problem


def test_the_checkpoint_table_is_append_only(uow_factory, db):
    from sqlalchemy.exc import DBAPIError

    _add_rows(uow_factory, 1)
    for sql in ("UPDATE audit_checkpoint SET seq = 5", "DELETE FROM audit_checkpoint"):
        with pytest.raises(DBAPIError, match="append-only"):
            with db.engine.begin() as conn:
                conn.execute(text(sql))


def test_rows_sealed_before_the_key_still_verify(uow_factory, db):
    # A trail written by the previous release: plain SHA-256 digests, no checkpoint.
    prev, rows = audit.GENESIS_HASH, []
    moment = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
    for seq in (1, 2, 3):
        row = {"seq": seq, "occurred_at": moment, "actor_kind": "system", "actor_username": "system",
               "actor_name": "system", "actor_user_id": None, "action": "old.event",
               "entity_type": "thing", "entity_id": str(seq), "old_values": None,
               "new_values": {"n": seq}, "reason": None, "prev_hash": prev}
        row["row_hash"] = prev = _public_digest(row)
        assert row["row_hash"] == audit.row_digest(row)
        rows.append(row)
    with db.engine.begin() as conn:
        conn.execute(insert(audit.AuditEvent), rows)
    assert _verify(db).ok  # before the switch-over
    _add_rows(uow_factory, 2)
    report = _verify(db)
    assert report.ok and report.count == 5 and report.keyed_from == 4
    with db.read_sessions() as session:
        first = session.scalars(select(audit.AuditCheckpoint).order_by(audit.AuditCheckpoint.id)).first()
        assert (first.seq, first.row_hash, first.keyed_from) == (3, prev, 4)
        assert session.scalar(select(func.count()).select_from(audit.AuditCheckpoint)) == 1
    # The old rows are anchored by the signed switch-over: deleting one is still caught.
    _tamper(db, "DELETE FROM audit_event WHERE seq = 3")
    assert not _verify(db).ok


def test_the_key_lives_in_the_instance_folder(app):
    settings = app.extensions["gxpbridge.settings"]
    key_file = settings.instance_path / "audit_key"
    assert settings.resolved_audit_key() == key_file.read_text().strip()
    assert key_file.stat().st_mode & 0o077 == 0
