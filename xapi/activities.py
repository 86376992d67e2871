"""Canonical activities: the definitions statements carry, merged into one per activity (language
maps and extensions gain keys, other properties take the newest value).
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import orjson
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from bridge.core.db import Database
from xapi import rawdb
from xapi.filters import activity_key, context_activities

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


def collect_definitions(statement: dict[str, Any], into: dict[str, list[dict[str, Any]]]) -> None:
    """Add the activity definitions ``statement`` carries to ``into`` (by activity id)."""
    def take(activity: dict[str, Any]) -> None:
        into.setdefault(activity["id"], [])
        if activity.get("definition"):
            into[activity["id"]].append(activity["definition"])

    obj = statement["object"]
    if obj.get("objectType", "Activity") == "Activity":
        take(obj)
    for activity in context_activities(statement.get("context")):
        take(activity)
    if obj.get("objectType") == "SubStatement":
        sub = obj["object"]
        if sub.get("objectType", "Activity") == "Activity":
            take(sub)
        for activity in context_activities(obj.get("context")):
            take(activity)


def upsert_activities(
    session: Session,
    definitions: dict[str, list[dict[str, Any]]],
    now: dt.datetime,
    current: dict[str, Any] | None = None,
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
    stamp = rawdb.as_bound(conn.dialect.name, now)
    cursor = conn.connection.cursor()
    try:
        if missing:
            rows = []
            for key in missing:
                merged = None
                for definition in keyed[key][1]:
                    merged = merge_definition(merged, definition)
                rows.append((key, keyed[key][0], _json_param(merged), stamp))
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
                updates.append((_json_param(merged), stamp, key))
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


def _json_param(value: Any) -> Any:
    if value is None:
        return None
    # JSON text on both: psycopg sends a str untyped, so PostgreSQL reads it as the column's type.
    return orjson.dumps(value).decode()


def unmerged_definitions(
    db: Database, definitions: dict[str, list[dict[str, Any]]]
) -> dict[str, list[dict[str, Any]]]:
    """``definitions`` less those the store holds already (an unlocked read).

    Run before the write lock is taken, so that the common case (every activity known, every
    definition already merged) costs the writers nothing. A definition changed concurrently
    by another request is merged in the order the two requests read it, which is an order
    they could have arrived in.
    """
    if not definitions:
        return definitions
    keyed = {activity_key(activity_id): activity_id for activity_id in definitions}
    ordered = sorted(keyed)
    rows = rawdb.fetch(db, _definitions_sql(len(ordered)), ordered)
    current = {key: rawdb.as_json(definition) for key, definition in rows}
    return {
        activity_id: definitions[activity_id]
        for key, activity_id in keyed.items()
        if key not in current or not all(_subsumed(current[key], d) for d in definitions[activity_id])
    }
