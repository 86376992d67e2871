"""The audit trail (21 CFR Part 11 §11.10(e)): append-only, hash-chained, written in the
same transaction as the change it records.

The chain is keyed: each row's hash is an HMAC-SHA256 (key from the settings or the instance
folder, never in the database) of its content and its predecessor's hash, so whoever can write
the database cannot recompute it after a change. Rows sealed before the key was introduced keep
their plain SHA-256 digest; the first keyed checkpoint records the switch-over (``keyed_from``).
Signed checkpoints of the head (sequence and hash, HMAC under the same key) are written every
``audit_checkpoint_rows`` rows and by the worker every ``audit_checkpoint_seconds``; verification
checks them, so deleting rows from the tail is seen unless no checkpoint was written after them.

Models that hold regulated records set ``__audited__ = True``; every insert, update and
delete of them is captured at flush time with old and new values, the actor and the
reason, then sealed into the chain just before the unit of work commits.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import hashlib
import hmac
import json
import logging
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Index,
    Integer,
    String,
    Text,
    event,
    func,
    insert,
    inspect,
    select,
)
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


class AuditCheckpoint(Base):
    """A signed record of the chain's head: rows up to ``seq`` end in ``row_hash``.

    ``keyed_from`` is the first row sealed with the key (earlier rows keep the plain SHA-256
    digest they were sealed with); every checkpoint repeats it. ``signature`` is the HMAC of the
    other columns under the audit key. Never updated, never deleted.
    """

    __tablename__ = "audit_checkpoint"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    row_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    keyed_from: Mapped[int] = mapped_column(BigInteger, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    signature: Mapped[str] = mapped_column(String(64), nullable=False)


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


def _content(row: dict[str, Any]) -> dict[str, Any]:
    return {
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


def row_digest(row: dict[str, Any], key: bytes | None = None) -> str:
    """The hash of a row's content and its predecessor's hash: HMAC-SHA256 under ``key``, or
    the plain SHA-256 of the rows sealed before the chain was keyed.
    """
    data = canonical_json(_content(row)).encode()
    if key is None:
        return hashlib.sha256(data).hexdigest()
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def checkpoint_signature(key: bytes, *, seq: int, row_hash: str, keyed_from: int,
                         created_at: dt.datetime) -> str:
    """The HMAC that makes a checkpoint unforgeable without the key."""
    data = canonical_json({"seq": seq, "row_hash": row_hash, "keyed_from": keyed_from,
                           "created_at": jsonable(created_at)}).encode()
    return hmac.new(key, b"checkpoint:" + data, hashlib.sha256).hexdigest()


def key_of(session: Session) -> bytes:
    """The audit key of the database ``session`` belongs to (its app's settings)."""
    uow = session.info.get("uow")
    settings = uow.settings if uow is not None else None
    if settings is None:
        db = session.info.get("gxp_db")
        if db is None:
            raise RuntimeError("this session belongs to no Database: pass the audit key")
        settings = db.settings
    return settings.resolved_audit_key().encode()


def _lock_chain(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        # Serialise appenders until commit so two transactions never fork the chain.
        session.execute(select(func.pg_advisory_xact_lock(_CHAIN_LOCK_KEY)))


def _head(session: Session) -> tuple[int, str]:
    last = session.execute(
        select(AuditEvent.seq, AuditEvent.row_hash).order_by(AuditEvent.seq.desc()).limit(1)
    ).first()
    return (last[0], last[1]) if last else (0, GENESIS_HASH)


def _last_checkpoint(session: Session) -> AuditCheckpoint | None:
    return session.scalars(
        select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc()).limit(1)
    ).first()


def _write_checkpoint(session: Session, key: bytes, seq: int, row_hash: str, keyed_from: int,
                      now: dt.datetime) -> AuditCheckpoint:
    row = AuditCheckpoint(seq=seq, row_hash=row_hash, keyed_from=keyed_from, created_at=now,
                          signature=checkpoint_signature(key, seq=seq, row_hash=row_hash,
                                                         keyed_from=keyed_from, created_at=now))
    session.add(row)
    session.flush()
    return row


def _keyed_from(session: Session, key: bytes, head: tuple[int, str], now: dt.datetime) -> int:
    """The first keyed row; the first checkpoint records it (the switch-over from SHA-256)."""
    last = _last_checkpoint(session)
    if last is not None:
        return last.keyed_from
    seq, row_hash = head
    _write_checkpoint(session, key, seq, row_hash, seq + 1, now)
    return seq + 1


def seal(uow: UnitOfWork) -> None:
    """Append the unit of work's pending audit rows to the hash chain (called by commit)."""
    if not uow.pending_audit:
        return
    session = uow.session
    _lock_chain(session)
    key = key_of(session)
    head = _head(session)
    now = uow.clock.now()
    keyed_from = _keyed_from(session, key, head, now)
    first_seq, (seq, prev_hash) = head[0], head
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
        row["row_hash"] = prev_hash = row_digest(row, key if seq >= keyed_from else None)
        rows.append(row)
    session.execute(insert(AuditEvent), rows)
    uow.pending_audit.clear()
    every = uow.settings.audit_checkpoint_rows
    if seq // every > first_seq // every:
        _write_checkpoint(session, key, seq, prev_hash, keyed_from, now)


def write_checkpoint(uow: UnitOfWork) -> int | None:
    """Sign the chain's head now if rows were added since the last checkpoint (the worker's
    sweep, ``gxpbridge audit checkpoint``); returns the head's sequence when one was written.
    """
    session = uow.session
    _lock_chain(session)
    key = key_of(session)
    head = _head(session)
    last = _last_checkpoint(session)
    if last is not None and last.seq >= head[0]:
        return None
    now = uow.clock.now()
    keyed_from = _keyed_from(session, key, head, now)
    if last is None:  # the switch-over checkpoint just written is of this very head
        return head[0]
    _write_checkpoint(session, key, head[0], head[1], keyed_from, now)
    return head[0]


@dataclass
class ChainReport:
    """Outcome of :func:`verify_chain`.

    Attributes:
        count: Rows verified.
        ok: Whether the chain and every checkpoint are intact.
        first_bad_seq: The first row (or checkpointed row) found wrong.
        problem: What is wrong, in words.
        checkpoints: Signed checkpoints checked.
        last_checkpoint_seq: The row the newest checkpoint signs (``None`` without one).
        keyed_from: The first row sealed with the key (``None``: no keyed row yet).
    """

    count: int
    ok: bool
    first_bad_seq: int | None = None
    problem: str | None = None
    checkpoints: int = 0
    last_checkpoint_seq: int | None = None
    keyed_from: int | None = None

    @property
    def unanchored(self) -> int:
        """Rows after the newest checkpoint: deleting them from the tail would go unseen."""
        return self.count - (self.last_checkpoint_seq or 0)


def verify_chain(session: Session, batch: int = 5000, *, key: bytes | None = None) -> ChainReport:
    """Recompute the whole chain and its checkpoints and report the first thing that does not match.

    Detects an altered row (its hash no longer matches its content, recomputed with the key), a
    deleted row (a gap in the sequence, or the next row's ``prev_hash`` no longer matching),
    reordered rows, rows deleted from the tail up to the newest checkpoint (a checkpoint names
    a row that is missing or has another hash), and an altered or forged checkpoint.
    """
    key = key if key is not None else key_of(session)
    checkpoints = list(session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.id)))
    keyed_from = checkpoints[0].keyed_from if checkpoints else None
    signed: dict[int, str] = {}
    newest = None
    for point in checkpoints:
        expected = checkpoint_signature(key, seq=point.seq, row_hash=point.row_hash,
                                        keyed_from=point.keyed_from, created_at=point.created_at)
        if not hmac.compare_digest(expected, point.signature):
            return ChainReport(0, False, point.seq, f"checkpoint {point.id} (row {point.seq}) was "
                               "altered or not signed with this site's audit key",
                               len(checkpoints), None, keyed_from)
        if point.keyed_from != keyed_from:
            return ChainReport(0, False, point.seq, f"checkpoint {point.id} names another "
                               "switch-over row than the first checkpoint", len(checkpoints), None,
                               keyed_from)
        if newest is not None and point.seq < newest:
            return ChainReport(0, False, point.seq, f"checkpoint {point.id} goes back to row "
                               f"{point.seq} after one of row {newest}", len(checkpoints), None,
                               keyed_from)
        newest = point.seq
        signed[point.seq] = point.row_hash
    last_signed = newest

    def report(count: int, ok: bool, seq: int | None = None, problem: str | None = None) -> ChainReport:
        return ChainReport(count, ok, seq, problem, len(checkpoints), last_signed, keyed_from)

    if signed.get(0, GENESIS_HASH) != GENESIS_HASH:
        return report(0, False, 0, "the checkpoint of the empty chain names a hash")
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
                return report(count, False, expected_seq,
                              f"row {expected_seq} is missing (next row is {seq})")
            if data["prev_hash"] != expected_prev:
                return report(count, False, seq, f"row {seq} does not chain to row {seq - 1}")
            keyed = keyed_from is not None and seq >= keyed_from
            if not hmac.compare_digest(row_digest(data, key if keyed else None), data["row_hash"]):
                return report(count, False, seq,
                              f"row {seq} was altered: its content no longer matches its hash")
            if seq in signed and signed[seq] != data["row_hash"]:
                return report(count, False, seq,
                              f"row {seq} is not the row the checkpoint signed")
            expected_prev = data["row_hash"]
            expected_seq += 1
            count += 1
            last_seq = seq
    if last_signed is not None and last_signed > last_seq:
        return report(count, False, last_seq + 1,
                      f"rows {last_seq + 1} to {last_signed} were deleted: a signed checkpoint "
                      f"names row {last_signed}, the trail ends at row {last_seq}")
    return report(count, True)


def history(session: Session, entity_type: str, entity_id: str | int) -> list[AuditEvent]:
    """Every audit row of one record, oldest first."""
    return list(
        session.scalars(
            select(AuditEvent)
            .where(AuditEvent.entity_type == entity_type, AuditEvent.entity_id == str(entity_id))
            .order_by(AuditEvent.seq)
        )
    )
