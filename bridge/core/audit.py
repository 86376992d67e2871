"""The audit trail (21 CFR Part 11 §11.10(e)): append-only, hash-chained, written in the
same transaction as the change it records.

Models that hold regulated records set ``__audited__ = True``; every insert, update and
delete of them is captured at flush time with old and new values, the actor and the
reason, then sealed into the chain just before the unit of work commits.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import hashlib
import json
import logging
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, BigInteger, Index, String, Text, event, func, insert, inspect, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from bridge.core.db import Base, UTCDateTime

if TYPE_CHECKING:
    from bridge.core.uow import UnitOfWork

logger = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64
# Arbitrary constant key for the PostgreSQL advisory lock that serialises chain appends.
_CHAIN_LOCK_KEY = 7_465_432_001
REDACTED = "<redacted>"


class AuditEvent(Base):
    """One row of the audit trail. Never updated, never deleted."""

    __tablename__ = "audit_event"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    actor_kind: Mapped[str] = mapped_column(String(16), nullable=False)
    actor_username: Mapped[str] = mapped_column(String(200), nullable=False)
    actor_name: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    actor_user_id: Mapped[int | None] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    entity_type: Mapped[str] = mapped_column(String(64), nullable=False)
    entity_id: Mapped[str] = mapped_column(String(64), nullable=False)
    old_values: Mapped[Any] = mapped_column(JSON, nullable=True)
    new_values: Mapped[Any] = mapped_column(JSON, nullable=True)
    reason: Mapped[str | None] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    row_hash: Mapped[str] = mapped_column(String(64), nullable=False)

    __table_args__ = (
        Index("ix_audit_event_entity", "entity_type", "entity_id", "seq"),
        Index("ix_audit_event_occurred_at", "occurred_at"),
    )


def jsonable(value: Any) -> Any:
    """Turn a column value into plain JSON (stable across both databases)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes):
        return hashlib.sha256(value).hexdigest()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    return str(value)


def canonical_json(data: Any) -> str:
    """Serialise ``data`` canonically: sorted keys, no whitespace, UTF-8 kept."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entity_type_of(obj: Any) -> str:
    """The audit name of a model instance (its ``__audit_name__`` or table name)."""
    return getattr(obj, "__audit_name__", None) or obj.__tablename__


def entity_id_of(obj: Any) -> str:
    """The primary key of ``obj`` as a string (composite keys joined with ``/``)."""
    # In after_flush the identity key is not assigned yet; the primary key values are.
    state = inspect(obj)
    key = state.mapper.primary_key_from_instance(obj)
    return "/".join(str(part) for part in key)


def snapshot(obj: Any) -> dict[str, Any]:
    """Every column value of ``obj`` as JSON, with secrets redacted."""
    excluded = getattr(obj, "__audit_exclude__", ())
    mapper = inspect(obj).mapper
    values: dict[str, Any] = {}
    for attr in mapper.column_attrs:
        value = getattr(obj, attr.key)
        values[attr.key] = REDACTED if (attr.key in excluded and value is not None) else jsonable(value)
    return values


def record(
    uow: UnitOfWork,
    action: str,
    entity_type: str,
    entity_id: str | int,
    *,
    old: dict[str, Any] | None = None,
    new: dict[str, Any] | None = None,
    reason: str | None = None,
) -> None:
    """Add an explicit audit row (transitions, signatures, refusals) to the unit of work.

    Args:
        uow: The unit of work the row commits with.
        action: What happened, e.g. ``document_version.approved`` or ``lti.launch_refused``.
        entity_type: The kind of record concerned.
        entity_id: The record's id.
        old: Values before the change.
        new: Values after the change.
        reason: Why, when the change needs a reason.
    """
    uow.pending_audit.append(
        {
            "occurred_at": uow.clock.now(),
            "action": action,
            "entity_type": entity_type,
            "entity_id": str(entity_id),
            "old_values": jsonable(old) if old is not None else None,
            "new_values": jsonable(new) if new is not None else None,
            "reason": reason if reason is not None else uow.reason,
        }
    )


@event.listens_for(Session, "after_flush")
def _capture_changes(session: Session, _flush_context: Any) -> None:
    audited = [o for o in (*session.new, *session.dirty, *session.deleted)
               if getattr(o, "__audited__", False)]
    if not audited:
        return
    uow = session.info.get("uow")
    if uow is None:
        raise RuntimeError(
            "audited records must be changed through a UnitOfWork so the change is attributed"
        )
    for obj in session.new:
        if getattr(obj, "__audited__", False):
            record(uow, "create", entity_type_of(obj), entity_id_of(obj), new=snapshot(obj))
    for obj in session.dirty:
        if not getattr(obj, "__audited__", False) or not session.is_modified(obj):
            continue
        state = inspect(obj)
        excluded = getattr(obj, "__audit_exclude__", ())
        old: dict[str, Any] = {}
        new: dict[str, Any] = {}
        for attr in state.mapper.column_attrs:
            history = state.attrs[attr.key].history
            if not history.has_changes():
                continue
            before = history.deleted[0] if history.deleted else None
            after = history.added[0] if history.added else None
            if jsonable(before) == jsonable(after):
                continue
            secret = attr.key in excluded
            old[attr.key] = REDACTED if secret else jsonable(before)
            new[attr.key] = REDACTED if secret else jsonable(after)
        if new:
            record(uow, "update", entity_type_of(obj), entity_id_of(obj), old=old, new=new)
    for obj in session.deleted:
        if getattr(obj, "__audited__", False):
            record(uow, "delete", entity_type_of(obj), entity_id_of(obj), old=snapshot(obj))


def row_digest(row: dict[str, Any]) -> str:
    """SHA-256 of a row's content and its predecessor's hash."""
    content = {
        "seq": row["seq"],
        "occurred_at": jsonable(row["occurred_at"]),
        "actor_kind": row["actor_kind"],
        "actor_username": row["actor_username"],
        "actor_name": row["actor_name"],
        "actor_user_id": row["actor_user_id"],
        "action": row["action"],
        "entity_type": row["entity_type"],
        "entity_id": row["entity_id"],
        "old_values": row["old_values"],
        "new_values": row["new_values"],
        "reason": row["reason"],
        "prev_hash": row["prev_hash"],
    }
    return hashlib.sha256(canonical_json(content).encode()).hexdigest()


def seal(uow: UnitOfWork) -> None:
    """Append the unit of work's pending audit rows to the hash chain (called by commit)."""
    if not uow.pending_audit:
        return
    session = uow.session
    if session.get_bind().dialect.name == "postgresql":
        # Serialise appenders until commit so two transactions never fork the chain.
        session.execute(select(func.pg_advisory_xact_lock(_CHAIN_LOCK_KEY)))
    last = session.execute(
        select(AuditEvent.seq, AuditEvent.row_hash).order_by(AuditEvent.seq.desc()).limit(1)
    ).first()
    seq, prev_hash = (last[0], last[1]) if last else (0, GENESIS_HASH)
    actor = uow.actor
    rows = []
    for pending in uow.pending_audit:
        seq += 1
        row = {
            **pending,
            "seq": seq,
            "actor_kind": actor.kind,
            "actor_username": actor.username,
            "actor_name": actor.display_name or actor.username,
            "actor_user_id": actor.user_id,
            "prev_hash": prev_hash,
        }
        row["row_hash"] = prev_hash = row_digest(row)
        rows.append(row)
    session.execute(insert(AuditEvent), rows)
    uow.pending_audit.clear()


@dataclass
class ChainReport:
    """Outcome of :func:`verify_chain`."""

    count: int
    ok: bool
    first_bad_seq: int | None = None
    problem: str | None = None


def verify_chain(session: Session, batch: int = 5000) -> ChainReport:
    """Recompute the whole chain and report the first row that does not match.

    Detects an altered row (its hash no longer matches its content), a deleted row
    (a gap in the sequence, or the next row's ``prev_hash`` no longer matching) and
    reordered rows (hashes chained to the wrong predecessor).
    """
    expected_prev = GENESIS_HASH
    expected_seq = 1
    count = 0
    last_seq = 0
    columns = [c for c in AuditEvent.__table__.columns]
    while True:
        rows = session.execute(
            select(*columns).where(AuditEvent.seq > last_seq).order_by(AuditEvent.seq).limit(batch)
        ).mappings().all()
        if not rows:
            break
        for row in rows:
            data = dict(row)
            seq = data["seq"]
            if seq != expected_seq:
                return ChainReport(count, False, expected_seq,
                                   f"row {expected_seq} is missing (next row is {seq})")
            if data["prev_hash"] != expected_prev:
                return ChainReport(count, False, seq,
                                   f"row {seq} does not chain to row {seq - 1}")
            if row_digest(data) != data["row_hash"]:
                return ChainReport(count, False, seq,
                                   f"row {seq} was altered: its content no longer matches its hash")
            expected_prev = data["row_hash"]
            expected_seq += 1
            count += 1
            last_seq = seq
    return ChainReport(count, True)


def history(session: Session, entity_type: str, entity_id: str | int) -> list[AuditEvent]:
    """Every audit row of one record, oldest first."""
    return list(
        session.scalars(
            select(AuditEvent)
            .where(AuditEvent.entity_type == entity_type, AuditEvent.entity_id == str(entity_id))
            .order_by(AuditEvent.seq)
        )
    )
