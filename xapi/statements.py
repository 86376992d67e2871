"""Storing statements: validation, ids, conflicts, voiding, signatures, attachments, the filter
rows of every query parameter and the canonical activities, in one transaction per request.

A batch is atomic: every statement is checked before anything is written, and the caller
commits once. Rows are written with bulk inserts; shared rows (activities, attachments) are
written in key order with ``ON CONFLICT`` so concurrent batches never deadlock on lock order.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Connection, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bridge.core.db import Database, utcnow
from bridge.core.errors import Conflict, ValidationFailed
from bridge.core.events import DomainEvent
from bridge.core.uow import UnitOfWork
from xapi import models, rawdb
from xapi.auth import Principal
from xapi.store import (
    DIRECT,
    RELATED,
    AttachmentRow,
    StatementIndexRow,
    StatementRow,
    index_key,
)

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
    """

    statement_ids: tuple[str, ...] = ()


@dataclass
class AttachmentPart:
    """One attachment part of a ``multipart/mixed`` request."""

    sha2: str
    content_type: str
    content: bytes


# -- identities and filter rows ------------------------------------------------------------------


def agent_identity(agent: dict[str, Any]) -> str | None:
    """The identity string of an agent or identified group (objectType + IFI), or ``None``."""
    kind = agent.get("objectType", "Agent")
    if "mbox" in agent:
        ifi = "mbox|" + agent["mbox"]
    elif "mbox_sha1sum" in agent:
        ifi = "mbox_sha1sum|" + agent["mbox_sha1sum"].lower()
    elif "openid" in agent:
        ifi = "openid|" + agent["openid"]
    elif "account" in agent:
        ifi = f"account|{agent['account']['homePage']}|{agent['account']['name']}"
    else:
        return None
    return f"{kind}|{ifi}"


def agent_key(agent: dict[str, Any]) -> str | None:
    """The filter key of an agent, or ``None`` for an anonymous group."""
    identity = agent_identity(agent)
    return index_key("a", identity) if identity else None


def activity_key(activity_id: str) -> str:
    """The filter key of an activity id."""
    return index_key("o", activity_id)


def verb_key(verb_id: str) -> str:
    """The filter key of a verb id."""
    return index_key("v", verb_id)


def registration_key(registration: str) -> str:
    """The filter key of a registration (compared case-insensitively, as UUIDs are)."""
    return index_key("r", registration.lower())


def _context_activities(context: dict[str, Any] | None) -> Iterable[dict[str, Any]]:
    if not context:
        return ()
    found: list[dict[str, Any]] = []
    for kind in ("parent", "grouping", "category", "other"):
        found.extend((context.get("contextActivities") or {}).get(kind) or [])
    return found


_CONTEXT_KINDS = ("parent", "grouping", "category", "other")


def _agent_rows(rows: dict[str, int], agent: dict[str, Any] | None, relation: int) -> None:
    # An agent (or identified group) with ``relation``; a group's members are always RELATED.
    if not agent:
        return
    key = agent_key(agent)
    if key is not None and rows.get(key, RELATED + 1) > relation:
        rows[key] = relation
    for member in agent.get("member") or ():
        key = agent_key(member)
        if key is not None and key not in rows:
            rows[key] = RELATED


def _context_rows(rows: dict[str, int], context: dict[str, Any] | None) -> None:
    if not context:
        return
    _agent_rows(rows, context.get("instructor"), RELATED)
    _agent_rows(rows, context.get("team"), RELATED)
    for item in context.get("contextAgents") or ():
        _agent_rows(rows, item.get("agent"), RELATED)
    for item in context.get("contextGroups") or ():
        _agent_rows(rows, item.get("group"), RELATED)
    activities = context.get("contextActivities")
    if activities:
        for kind in _CONTEXT_KINDS:
            for activity in activities.get(kind) or ():
                key = activity_key(activity["id"])
                if key not in rows:
                    rows[key] = RELATED


def filter_rows(statement: dict[str, Any]) -> dict[str, int]:
    """Every filter key a statement matches, with its relation (DIRECT or RELATED).

    A key met both ways keeps DIRECT (the smaller relation): DIRECT rows are written over
    whatever is there, RELATED rows only where nothing is.
    """
    rows: dict[str, int] = {}
    _agent_rows(rows, statement["actor"], DIRECT)
    rows[verb_key(statement["verb"]["id"])] = DIRECT
    obj = statement["object"]
    kind = obj.get("objectType", "Activity")
    if kind == "Activity":
        rows[activity_key(obj["id"])] = DIRECT
    elif kind in ("Agent", "Group"):
        _agent_rows(rows, obj, DIRECT)
    elif kind == "SubStatement":
        _agent_rows(rows, obj["actor"], RELATED)
        sub_object = obj["object"]
        sub_kind = sub_object.get("objectType", "Activity")
        if sub_kind == "Activity":
            key = activity_key(sub_object["id"])
            if key not in rows:
                rows[key] = RELATED
        elif sub_kind in ("Agent", "Group"):
            _agent_rows(rows, sub_object, RELATED)
        _context_rows(rows, obj.get("context"))
    context = statement.get("context")
    if context and context.get("registration"):
        rows[registration_key(context["registration"])] = DIRECT
    _context_rows(rows, context)
    _agent_rows(rows, statement.get("authority"), RELATED)
    return rows


# -- normalisation and comparison -------------------------------------------------------------------


def _normalise_context_activities(context: dict[str, Any] | None) -> None:
    # A single activity stands for a list of one; it is stored (and returned) as a list.
    if not context or not isinstance(context.get("contextActivities"), dict):
        return
    for kind, value in context["contextActivities"].items():
        if isinstance(value, dict):
            context["contextActivities"][kind] = [value]


def normalise(statement: dict[str, Any]) -> None:
    """Normalise a validated statement in place (context activities as lists)."""
    _normalise_context_activities(statement.get("context"))
    obj = statement.get("object") or {}
    if obj.get("objectType") == "SubStatement":
        _normalise_context_activities(obj.get("context"))


_LRS_SET = ("id", "stored", "authority", "version")


_SECONDS_RE = re.compile(r"(\d+)(\.\d+)?S$")


def _duration_key(duration: str) -> str:
    # Durations compare to the hundredth of a second (xAPI 2.0, 4.2.7).
    def cut(match: re.Match[str]) -> str:
        fraction = (match.group(2) or "")[:3].rstrip("0").rstrip(".")
        return f"{int(match.group(1))}{fraction}S"

    return _SECONDS_RE.sub(cut, duration)


def comparable(statement: dict[str, Any], *, keep_timestamp: bool = True) -> Any:
    """The statement as compared for "same statement" (properties the LRS sets left out)."""
    data = {k: v for k, v in statement.items() if k not in _LRS_SET}
    data = copy.deepcopy(data)
    normalise(data)
    for holder in (data, data.get("object") if isinstance(data.get("object"), dict) else {}):
        result = holder.get("result")
        if isinstance(result, dict) and isinstance(result.get("duration"), str):
            result["duration"] = _duration_key(result["duration"])
    if "timestamp" in data:
        if keep_timestamp:
            data["timestamp"] = models.parse_timestamp(data["timestamp"]).timestamp()
        else:
            del data["timestamp"]
    return _canonical(data)


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def same_statement(stored: dict[str, Any], incoming: dict[str, Any]) -> bool:
    """Whether ``incoming`` repeats ``stored`` (for an id already taken)."""
    keep = "timestamp" in incoming
    return comparable(stored, keep_timestamp=keep) == comparable(incoming, keep_timestamp=keep)


# -- signatures -------------------------------------------------------------------------------------


def verify_signature(statement: dict[str, Any], jws_bytes: bytes, index: int) -> None:
    """Check a signed statement's JWS as the spec asks (Data 2.6).

    The JWS must parse, use RS256/RS384/RS512, verify against its ``x5c`` certificate when one is
    given, and carry the statement itself (before the signature was attached) as payload.

    Raises:
        ValidationFailed: Any of these fails.
    """
    import base64

    from jwcrypto import jwk, jws
    from jwcrypto.common import JWException

    where = f"statements[{index}].attachments"
    try:
        token = jws.JWS()
        token.deserialize(jws_bytes.decode("ascii").strip())
        header = token.jose_header
    except (JWException, ValueError, UnicodeDecodeError) as exc:
        raise ValidationFailed(
            f"{where}: the signature attachment is not a JWS ({exc})", field=where, code="invalid_signature"
        ) from exc
    alg = header.get("alg")
    if alg not in ("RS256", "RS384", "RS512"):
        raise ValidationFailed(
            f"{where}: JWS algorithm {alg!r} is not allowed; use RS256, RS384 or RS512",
            field=where,
            code="invalid_signature",
        )
    if header.get("x5c"):
        from cryptography import x509

        try:
            cert = x509.load_der_x509_certificate(base64.b64decode(header["x5c"][0]))
            key = jwk.JWK.from_pyca(cert.public_key())
            token.verify(key, alg=alg)
        except Exception as exc:  # any failure to verify is a refusal
            raise ValidationFailed(
                f"{where}: the JWS does not verify with its x5c certificate",
                field=where,
                code="invalid_signature",
            ) from exc
    try:
        payload_b64 = jws_bytes.decode("ascii").strip().split(".")[1]
        payload = json.loads(base64.urlsafe_b64decode(payload_b64 + "=" * (-len(payload_b64) % 4)))
    except (ValueError, IndexError) as exc:
        raise ValidationFailed(
            f"{where}: the JWS payload is not JSON", field=where, code="invalid_signature"
        ) from exc
    if not isinstance(payload, dict):
        raise ValidationFailed(
            f"{where}: the JWS payload is not a statement", field=where, code="invalid_signature"
        )
    signed = {k: v for k, v in payload.items() if k != "attachments"}
    sent = {k: v for k, v in statement.items() if k != "attachments"}
    try:
        matches = (
            same_statement(signed, sent)
            if "id" not in signed or signed.get("id") == sent.get("id")
            else False
        )
    except Exception:
        matches = False
    if not matches:
        raise ValidationFailed(
            f"{where}: the JWS payload differs from the statement it signs",
            field=where,
            code="invalid_signature",
        )


# -- canonical activities -----------------------------------------------------------------------------

_MAP_FIELDS = ("name", "description")
_COMPONENT_FIELDS = ("choices", "scale", "source", "target", "steps")


def merge_definition(current: dict[str, Any] | None, incoming: dict[str, Any]) -> dict[str, Any]:
    """Merge an activity definition into the canonical one: language maps and extensions gain
    keys, other properties take the newest value.
    """
    merged = copy.deepcopy(current) if current else {}
    for name, value in incoming.items():
        if name in _MAP_FIELDS or name == "extensions":
            merged[name] = {**(merged.get(name) or {}), **value}
        else:
            merged[name] = copy.deepcopy(value)
    return merged


def _subsumed(current: dict[str, Any] | None, incoming: dict[str, Any]) -> bool:
    """Whether merging ``incoming`` into ``current`` would change nothing."""
    if not incoming:
        return True
    if current is None:
        return False
    for name, value in incoming.items():
        if name in _MAP_FIELDS or name == "extensions":
            have = current.get(name) or {}
            if any(have.get(k) != v for k, v in value.items()):
                return False
        elif current.get(name) != value:
            return False
    return True


def _collect_definitions(statement: dict[str, Any], into: dict[str, list[dict[str, Any]]]) -> None:
    def take(activity: dict[str, Any]) -> None:
        into.setdefault(activity["id"], [])
        if activity.get("definition"):
            into[activity["id"]].append(activity["definition"])

    obj = statement["object"]
    if obj.get("objectType", "Activity") == "Activity":
        take(obj)
    for activity in _context_activities(statement.get("context")):
        take(activity)
    if obj.get("objectType") == "SubStatement":
        sub = obj["object"]
        if sub.get("objectType", "Activity") == "Activity":
            take(sub)
        for activity in _context_activities(obj.get("context")):
            take(activity)


def _insert_ignore(session: Session, table: Any, rows: list[dict[str, Any]], keys: list[str]) -> None:
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    builder = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.connection().execute(builder(table).on_conflict_do_nothing(index_elements=keys), rows)


def upsert_activities(
    session: Session, definitions: dict[str, list[dict[str, Any]]], current: dict[str, Any] | None = None
) -> None:
    """Insert unseen activities and merge new definitions into the canonical ones.

    One unlocked read finds what is new (``current``, the stored definitions by activity key,
    when the caller read them already); most batches end there. Rows to write are then
    inserted in key order and existing ones locked in key order (PostgreSQL ``FOR UPDATE``),
    re-read and merged, so concurrent batches naming the same activities queue behind each
    other instead of deadlocking, and no merge is lost.
    """
    conn = session.connection()
    postgres = conn.dialect.name == "postgresql"
    keyed = {activity_key(activity_id): (activity_id, defs) for activity_id, defs in definitions.items()}
    ordered = sorted(keyed)
    if current is None:
        current = _read_definitions(conn, ordered, lock=False)
    missing = [key for key in ordered if key not in current]
    changed = [
        key
        for key in ordered
        if key in current and not all(_subsumed(current[key], d) for d in keyed[key][1])
    ]
    if not missing and not changed:
        return
    stamp = rawdb.as_bound(conn.dialect.name, utcnow())
    cursor = conn.connection.cursor()
    try:
        if missing:
            rows = []
            for key in missing:
                merged = None
                for definition in keyed[key][1]:
                    merged = merge_definition(merged, definition)
                rows.append((key, keyed[key][0], _json_param(postgres, merged), stamp))
            cursor.executemany(
                rawdb.sql(
                    conn.dialect.name,
                    "INSERT INTO xapi_activity (key, activity_id, "
                    "definition, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (key) DO NOTHING",
                ),
                rows,
            )
            # A concurrent batch may have inserted some first: those are merged below.
            changed = sorted(set(changed) | set(missing))
        locked = _read_definitions(conn, changed, lock=postgres)
        updates = []
        for key in changed:
            before = locked.get(key)
            merged = before
            for definition in keyed[key][1]:
                merged = merge_definition(merged, definition)
            if merged != before:
                updates.append((_json_param(postgres, merged), stamp, key))
        if updates:
            cursor.executemany(
                rawdb.sql(
                    conn.dialect.name, "UPDATE xapi_activity SET definition = ?, updated_at = ? WHERE key = ?"
                ),
                updates,
            )
    finally:
        cursor.close()


def _read_definitions(conn: Connection, keys: list[str], *, lock: bool) -> dict[str, Any]:
    if not keys:
        return {}
    if conn.dialect.name == "postgresql":
        # One array parameter: the same statement text for any number of keys, so psycopg
        # prepares it once; the JSON comes back as text for orjson (psycopg would use json).
        query = "SELECT key, definition::text FROM xapi_activity WHERE key = ANY(?) ORDER BY key"
        rows = rawdb.fetch_in(conn, query + (" FOR UPDATE" if lock else ""), [keys])
    else:
        rows = rawdb.fetch_in(conn, _definitions_sql(len(keys)), keys)
    return {key: rawdb.as_json(definition) for key, definition in rows}


def _definitions_sql(count: int) -> str:
    # SQLite: the stored definitions of ``count`` activity keys, in key order.
    marks = ", ".join("?" * count)
    return f"SELECT key, definition FROM xapi_activity WHERE key IN ({marks}) ORDER BY key"  # noqa: S608


def _json_param(postgres: bool, value: Any) -> Any:
    if value is None:
        return None
    if postgres:
        from psycopg.types.json import Jsonb

        return Jsonb(value)
    return orjson.dumps(value).decode()


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
                verify_signature(raw, part.content, index)
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
            _collect_definitions(item.statement, definitions)
    return PreparedBatch(prepared, attachments, used_parts, definitions)


def plan_activities(db: Database, batch: PreparedBatch) -> None:
    """Drop from ``batch`` the activity definitions the store already holds (an unlocked read).

    Run before the write lock is taken, so that the common case (every activity known, every
    definition already merged) costs the writers nothing. A definition changed concurrently
    by another request is merged in the order the two requests read it, which is an order
    they could have arrived in.
    """
    if not batch.definitions:
        return
    keyed = {activity_key(activity_id): activity_id for activity_id in batch.definitions}
    ordered = sorted(keyed)
    rows = rawdb.fetch(db, _definitions_sql(len(ordered)), ordered)
    current = {key: rawdb.as_json(definition) for key, definition in rows}
    batch.definitions = {
        activity_id: batch.definitions[activity_id]
        for key, activity_id in keyed.items()
        if key not in current or not all(_subsumed(current[key], d) for d in batch.definitions[activity_id])
    }


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
    existing: dict[str, str] = {}
    if chosen:
        for row in conn.execute(select(_ST.c.statement_id, _ST.c.body).where(_ST.c.statement_id.in_(chosen))):
            existing[row.statement_id] = row.body
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

    now = utcnow()
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
        current_definitions = _insert_statements_postgres(conn, statement_rows, fresh, definition_keys)
    else:
        seqs = _bulk_insert_statements(conn, statement_rows)
        _bulk_insert_index(
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
    chosen_fresh = [item.statement_id for item in fresh if item.client_id]
    if chosen_fresh:
        late = set(conn.scalars(select(_ST.c.voids).where(_ST.c.voids.in_(chosen_fresh))))
        if late:
            conn.execute(
                update(_ST).where(_ST.c.statement_id.in_(late), _ST.c.voids.is_(None)).values(voided=True)
            )

    if attachments:
        parts = [attachments[sha2] for sha2 in sorted(used_parts)]
        _insert_ignore(
            session,
            AttachmentRow.__table__,
            [
                {
                    "sha2": p.sha2,
                    "content_type": p.content_type,
                    "length": len(p.content),
                    "content": p.content,
                    "created_at": now,
                }
                for p in parts
            ],
            ["sha2"],
        )

    if batch.definitions:
        upsert_activities(session, batch.definitions, current_definitions)
    uow.publish(StatementsStored(tuple(fresh_ids)))
    logger.debug("stored %d statements for %s", len(fresh), principal.name)
    return [item.statement_id for item in prepared]


# -- bulk writes on the driver ---------------------------------------------------------------------
# The two tables every statement writes go through the driver directly: SQLAlchemy's
# per-statement machinery would cost more than the database does. PostgreSQL writes both in one
# statement; SQLite numbers the rows itself under its write lock and uses executemany.

_INSERT_STATEMENT = (
    "INSERT INTO xapi_statement (seq, statement_id, stored, voided, voids, credential_id, version, body, "
    "attachment_sha2s) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_INDEX = "INSERT INTO xapi_statement_index (key, seq, relation) VALUES (?, ?, ?)"


def _pg_array(items: Iterable[str]) -> str:
    # A PostgreSQL array literal of items that need no quoting (hex keys, UUIDs, integers, the
    # validated version numbers): joined here in C instead of dumped element by element in
    # Python (psycopg's binary array dumper cost about 40 us a statement in the filter rows).
    return "{" + ",".join(items) + "}"


def _insert_statements_postgres(
    conn: Connection, rows: list[dict[str, Any]], items: list[_Prepared], definition_keys: list[str]
) -> dict[str, Any]:
    # One round trip for the whole batch: the statements (numbered in request order) and, from
    # the sequence numbers they get, their filter rows. A batch shares its stored time and
    # credential, so those go once. The statement answers the stored definitions of
    # ``definition_keys`` (activity keys), which upsert_activities would otherwise read with a
    # round trip of its own.
    index_positions: list[str] = []
    index_keys: list[str] = []
    index_relations: list[str] = []
    for position, item in enumerate(items, start=1):
        number = str(position)
        for key, relation in item.rows.items():
            index_positions.append(number)
            index_keys.append(key)
            index_relations.append(str(relation))
    cursor = conn.connection.cursor()
    try:
        cursor.execute(
            "WITH t AS (SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %b::text[], %b::text[]) "
            "WITH ORDINALITY AS t(i, vo, ve, b, a, n)), "
            "ins AS (INSERT INTO xapi_statement (statement_id, stored, voided, voids, credential_id, "
            "version, body, attachment_sha2s) SELECT i, %s, FALSE, vo, %s, ve, b, a::jsonb FROM t ORDER BY n "
            "RETURNING seq, statement_id), "
            "numbered AS (SELECT ins.seq, t.n FROM ins JOIN t ON t.i = ins.statement_id), "
            "filters AS (INSERT INTO xapi_statement_index (key, seq, relation) "
            "SELECT k.key, numbered.seq, k.relation "
            "FROM unnest(%s::bigint[], %s::text[], %s::smallint[]) AS k(n, key, relation) "
            "JOIN numbered ON numbered.n = k.n) "
            # A data-modifying WITH runs whether or not the main query reads it.
            "SELECT key, definition::text FROM xapi_activity WHERE key = ANY(%s::text[]) ORDER BY key",
            (
                _pg_array(row["statement_id"] for row in rows),
                _pg_array(row["voids"] or "NULL" for row in rows),
                _pg_array(row["version"] for row in rows),
                [row["body"] for row in rows],
                [
                    json.dumps(row["attachment_sha2s"]) if row["attachment_sha2s"] is not None else None
                    for row in rows
                ],
                rows[0]["stored"],
                rows[0]["credential_id"],
                _pg_array(index_positions),
                _pg_array(index_keys),
                _pg_array(index_relations),
                _pg_array(definition_keys),
            ),
        )
        return {key: rawdb.as_json(definition) for key, definition in cursor.fetchall()}
    finally:
        cursor.close()


def _bulk_insert_statements(conn: Connection, rows: list[dict[str, Any]]) -> dict[str, int]:
    # SQLite: the single writer holds the write lock, so the next numbers are known up front.
    cursor = conn.connection.cursor()
    try:
        cursor.execute("SELECT COALESCE(MAX(seq), 0) FROM xapi_statement")
        start = cursor.fetchone()[0]
        seqs = list(range(start + 1, start + 1 + len(rows)))
        # The text form SQLAlchemy's SQLite DateTime reads back (naive UTC).
        cursor.executemany(
            _INSERT_STATEMENT,
            [
                (
                    seq,
                    row["statement_id"],
                    row["stored"].strftime("%Y-%m-%d %H:%M:%S.%f"),
                    0,
                    row["voids"],
                    row["credential_id"],
                    row["version"],
                    row["body"],
                    json.dumps(row["attachment_sha2s"]) if row["attachment_sha2s"] is not None else None,
                )
                for seq, row in zip(seqs, rows, strict=True)
            ],
        )
    finally:
        cursor.close()
    return {row["statement_id"]: seq for seq, row in zip(seqs, rows, strict=True)}


def _bulk_insert_index(conn: Connection, rows: list[tuple[str, int, int]]) -> None:
    # SQLite: (key, seq, relation) rows in key order, so neighbouring inserts touch
    # neighbouring index pages.
    cursor = conn.connection.cursor()
    try:
        cursor.executemany(_INSERT_INDEX, sorted(rows))
    finally:
        cursor.close()


def sha2_of(content: bytes) -> str:
    """The SHA-256 hex digest of ``content``."""
    return hashlib.sha256(content).hexdigest()
