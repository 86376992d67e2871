"""Storing statements: validation, ids, conflicts, voiding, signatures, attachments, the filter
rows of every query parameter and the canonical activities, in one transaction per request.

A batch is atomic: every statement is checked before anything is written, and the caller
commits once. Rows are written with bulk inserts; shared rows (activities, attachments) are
written in key order with ``ON CONFLICT`` so concurrent batches never deadlock on lock order.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import select, update

from bridge.core.db import Database
from bridge.core.errors import Conflict, ValidationFailed
from bridge.core.events import DomainEvent
from bridge.core.uow import UnitOfWork
from xapi import bulk, models
from xapi.activities import collect_definitions, unmerged_definitions, upsert_activities
from xapi.auth import Principal
from xapi.comparison import normalise, same_statement
from xapi.filters import activity_key, filter_rows
from xapi.multipart import AttachmentPart
from xapi.store import StatementIndexRow, StatementRow

logger = logging.getLogger(__name__)

_ST = StatementRow.__table__
_IX = StatementIndexRow.__table__

SIGNATURE_USAGE = "http://adlnet.gov/expapi/attachments/signature"
V1_STATEMENT_VERSION = "1.0.0"
V2_STATEMENT_VERSION = "2.0.0"


@dataclass(frozen=True)
class StatementsStored(DomainEvent):
    """Statements were stored (published once per request, handled in the same transaction).

    Attributes:
        statement_ids: Ids of the statements newly stored, in request order.
        verb_ids: Their verbs' ids, in the same order (listeners interested in a few verbs skip
            reading a batch back when none of its statements has one).
    """

    statement_ids: tuple[str, ...] = ()
    verb_ids: tuple[str, ...] = ()


# -- storing ------------------------------------------------------------------------------------------


@dataclass
class _Prepared:
    statement: dict[str, Any]
    statement_id: str
    voids: str | None
    client_id: bool
    attachment_sha2s: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    # The stored JSON without its closing brace: ``stored`` (and ``timestamp`` when the client
    # sent none) are appended under the write lock, so serialising happens before it.
    body_head: bytes = b""
    has_timestamp: bool = True


def _stored_timestamp(now: Any) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def store_statements(
    uow: UnitOfWork,
    principal: Principal,
    statements: list[Any],
    *,
    v2: bool,
    attachments: dict[str, AttachmentPart] | None = None,
    put_id: str | None = None,
) -> list[str]:
    """Validate and store a batch of statements atomically.

    Args:
        uow: Unit of work (flushed, not committed).
        principal: The credential sending them (gives the authority).
        statements: Decoded JSON statements.
        v2: Whether the request speaks xAPI 2.0.
        attachments: Attachment parts of a multipart request, by SHA-2.
        put_id: The ``statementId`` of a PUT.

    Returns:
        The ids of the statements, in request order (including repeats of stored ones).

    Raises:
        ValidationFailed: A statement breaks a rule (nothing is stored).
        Conflict: An id is taken by a different statement.
    """
    batch = prepare_statements(principal, statements, v2=v2, attachments=attachments, put_id=put_id)
    return write_statements(uow, principal, batch, v2=v2)


@dataclass
class PreparedBatch:
    """Statements validated and ready to write (the work done before taking the write lock)."""

    items: list[_Prepared]
    attachments: dict[str, AttachmentPart]
    used_parts: set[str]
    # Activity definitions the batch carries, by activity id (narrowed by plan_activities).
    definitions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def prepare_statements(
    principal: Principal,
    statements: list[Any],
    *,
    v2: bool,
    attachments: dict[str, AttachmentPart] | None = None,
    put_id: str | None = None,
    single: bool = False,
    nulls_possible: bool = True,
) -> PreparedBatch:
    """Validate a batch and compute everything that needs no database: ids, normalised JSON,
    the authority, signature checks and filter rows. ``single`` names errors ``statement.…``
    (one statement sent as an object) instead of ``statements[i].…``; ``nulls_possible`` is
    False when the request body holds no ``null`` token (the null search is skipped).

    Raises:
        ValidationFailed: A statement breaks a rule.
    """
    attachments = attachments or {}
    prepared: list[_Prepared] = []
    seen_ids: set[str] = set()
    used_parts: set[str] = set()
    for index, raw in enumerate(statements):
        if not isinstance(raw, dict):
            raise ValidationFailed(
                f"statements[{index}]: a statement must be a JSON object",
                field=f"statements[{index}]",
                code="invalid_statement",
            )
        model = models.validate_statement(
            raw, v2=v2, index=None if (put_id or single) else index, nulls_possible=nulls_possible
        )
        statement = dict(raw)
        if put_id is not None:
            if "id" in statement and statement["id"].lower() != put_id.lower():
                raise ValidationFailed(
                    "the statement id differs from the statementId parameter",
                    field="statementId",
                    code="id_mismatch",
                )
            statement["id"] = put_id
        client_id = "id" in statement
        statement.setdefault("id", models.new_uuid())
        statement_id = statement["id"].lower()
        statement["id"] = statement_id
        if statement_id in seen_ids:
            raise ValidationFailed(
                f"statements[{index}].id: {statement_id} appears twice in the batch",
                field=f"statements[{index}].id",
                code="duplicate_id",
            )
        seen_ids.add(statement_id)
        normalise(statement)
        sha2s = []
        for attachment in model.attachments or []:
            if attachment.fileUrl is None and attachment.sha2 not in attachments:
                raise ValidationFailed(
                    f"statements[{index}].attachments: no multipart part carries the attachment with "
                    f"sha2 {attachment.sha2} (and it has no fileUrl)",
                    field=f"statements[{index}].attachments",
                    code="attachment_missing",
                )
            if attachment.sha2 in attachments:
                used_parts.add(attachment.sha2)
                sha2s.append(attachment.sha2)
            if attachment.usageType == SIGNATURE_USAGE:
                if attachment.contentType != "application/octet-stream":
                    raise ValidationFailed(
                        f"statements[{index}].attachments: a signature attachment must have contentType "
                        "application/octet-stream",
                        field=f"statements[{index}].attachments",
                        code="invalid_signature",
                    )
                part = attachments.get(attachment.sha2)
                if part is None:
                    raise ValidationFailed(
                        f"statements[{index}].attachments: the signature must be sent as a multipart part",
                        field=f"statements[{index}].attachments",
                        code="invalid_signature",
                    )
                # Signed statements are rare; their JOSE libraries load with the first one.
                from xapi.signatures import verify_signature

                verify_signature(raw, part.read(), index)
        voids = model.object.id.lower() if model.verb.id == models.VOIDED_VERB else None
        statement["authority"] = principal.authority
        statement.pop("stored", None)  # the LRS sets it
        statement.setdefault("version", V2_STATEMENT_VERSION if v2 else V1_STATEMENT_VERSION)
        prepared.append(
            _Prepared(
                statement,
                statement_id,
                voids,
                client_id,
                sha2s,
                filter_rows(statement),
                orjson.dumps(statement)[:-1],
                "timestamp" in statement,
            )
        )
    unused = set(attachments) - used_parts
    if unused:
        raise ValidationFailed(
            f"multipart part(s) {', '.join(sorted(unused))} match no attachment of the statements",
            field="attachments",
            code="attachment_unused",
        )
    definitions: dict[str, list[dict[str, Any]]] = {}
    if principal.allows("define", "statements/write"):
        for item in prepared:
            collect_definitions(item.statement, definitions)
    return PreparedBatch(prepared, attachments, used_parts, definitions)


def plan_activities(db: Database, batch: PreparedBatch) -> None:
    """Drop from ``batch`` the activity definitions the store already holds (an unlocked read
    before the write lock: most batches define nothing new).
    """
    batch.definitions = unmerged_definitions(db, batch.definitions)


def write_statements(uow: UnitOfWork, principal: Principal, batch: PreparedBatch, *, v2: bool) -> list[str]:
    """Write a prepared batch: conflicts, voiding, rows, activities (flushed, not committed).

    Raises:
        Conflict: An id is taken by a different statement.
        ValidationFailed: A voiding statement targets a voiding statement.
    """
    session = uow.session
    prepared, attachments, used_parts = batch.items, batch.attachments, batch.used_parts

    # Ids already taken: the same statement again is accepted and changes nothing. Ids the
    # LRS generated just now cannot be taken, so only ids the client chose are looked up.
    conn = session.connection()
    chosen = [item.statement_id for item in prepared if item.client_id]
    # With them, the voiding statements already stored for those ids (see below).
    existing, voided_early = bulk.taken_and_late_voids(conn, chosen)
    fresh: list[_Prepared] = []
    for item in prepared:
        body = existing.get(item.statement_id)
        if body is None:
            fresh.append(item)
        elif not same_statement(orjson.loads(body), item.statement):
            raise Conflict(
                f"statement {item.statement_id} already exists with different content; "
                "statements are immutable",
                field="id",
                code="statement_conflict",
            )

    # Voiding: the target may be missing, but must not itself be a voiding statement.
    targets = {item.voids for item in fresh if item.voids}
    voiding_targets: set[str] = set()
    if targets:
        voiding_targets = set(
            conn.scalars(
                select(_ST.c.statement_id).where(_ST.c.statement_id.in_(targets), _ST.c.voids.is_not(None))
            )
        )
        voiding_targets |= {item.statement_id for item in fresh if item.voids} & targets
    for item in fresh:
        if item.voids and item.voids in voiding_targets:
            raise ValidationFailed(
                f"statement {item.statement_id} voids {item.voids}, which is itself a "
                "voiding statement: voiding statements cannot be voided",
                field="object.id",
                code="void_of_voiding",
            )
    if not fresh:
        return [item.statement_id for item in prepared]

    now = uow.clock.now()
    # The column holds exactly what the JSON says (milliseconds), so since/until agree with it.
    now = now.replace(microsecond=now.microsecond // 1000 * 1000)
    stored = _stored_timestamp(now)
    stored_tail = f',"stored":"{stored}"}}'.encode()
    stamped_tail = f',"stored":"{stored}","timestamp":"{stored}"}}'.encode()
    statement_rows = []
    for item in fresh:
        statement = item.statement
        statement["stored"] = stored
        statement.setdefault("timestamp", stored)
        statement_rows.append(
            {
                "statement_id": item.statement_id,
                "stored": now,
                "voided": False,
                "voids": item.voids,
                "credential_id": principal.credential_id,
                "version": statement["version"],
                "body": (item.body_head + (stored_tail if item.has_timestamp else stamped_tail)).decode(),
                "attachment_sha2s": item.attachment_sha2s or None,
            }
        )
    # Targets of StatementRefs lend their filter rows (a statement about a statement matches
    # the filters its target matches).
    ref_targets = {
        item.statement["object"]["id"].lower()
        for item in fresh
        if item.statement["object"].get("objectType") == "StatementRef"
    }
    lent: dict[str, dict[str, int]] = {}
    if ref_targets:
        rows = conn.execute(
            select(_ST.c.statement_id, _IX.c.key, _IX.c.relation)
            .join(_IX, _IX.c.seq == _ST.c.seq)
            .where(_ST.c.statement_id.in_(ref_targets))
        )
        for row in rows:
            lent.setdefault(row.statement_id, {})[row.key] = row.relation
    for item in fresh:
        obj = item.statement["object"]
        if obj.get("objectType") == "StatementRef":
            for key, relation in lent.get(obj["id"].lower(), {}).items():
                item.rows[key] = min(item.rows.get(key, relation), relation)
    current_definitions = None
    if conn.dialect.name == "postgresql":
        # The same statement reads the stored definitions of the batch's activities.
        definition_keys = sorted(activity_key(activity_id) for activity_id in batch.definitions)
        current_definitions = bulk.insert_postgres(conn, statement_rows, fresh, definition_keys)
    else:
        seqs = bulk.insert_statements_sqlite(conn, statement_rows)
        bulk.insert_index_sqlite(
            conn,
            [
                (key, seqs[item.statement_id], relation)
                for item in fresh
                for key, relation in item.rows.items()
            ],
        )

    if targets:
        conn.execute(
            update(_ST).where(_ST.c.statement_id.in_(targets), _ST.c.voids.is_(None)).values(voided=True)
        )
    # A voiding statement may arrive before its target: the target is voided on arrival.
    fresh_ids = [item.statement_id for item in fresh]
    chosen_fresh = {item.statement_id for item in fresh if item.client_id}
    if chosen_fresh:
        late = voided_early & chosen_fresh
        if late:
            conn.execute(
                update(_ST).where(_ST.c.statement_id.in_(late), _ST.c.voids.is_(None)).values(voided=True)
            )

    if used_parts:
        bulk.insert_attachments(conn, [attachments[sha2] for sha2 in sorted(used_parts)], now)

    if batch.definitions:
        upsert_activities(session, batch.definitions, now, current_definitions)
    uow.publish(StatementsStored(tuple(fresh_ids), tuple(item.statement["verb"]["id"] for item in fresh)))
    logger.debug("stored %d statements for %s", len(fresh), principal.name)
    return [item.statement_id for item in prepared]
