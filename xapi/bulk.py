"""The bulk writes of a batch on the driver: the two tables every statement writes.

SQLAlchemy's per-statement machinery would cost more than the database does. PostgreSQL writes
both tables in one statement; SQLite numbers the rows itself under its write lock and uses
``executemany``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection

from xapi import rawdb
from xapi.multipart import AttachmentPart

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


def insert_postgres(
    conn: Connection, rows: list[dict[str, Any]], items: list[Any], definition_keys: list[str]
) -> dict[str, Any]:
    """PostgreSQL: insert the statements ``rows`` and the filter rows of ``items`` (their ``rows``);
    return the stored definitions of ``definition_keys``.
    """
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


def insert_statements_sqlite(conn: Connection, rows: list[dict[str, Any]]) -> dict[str, int]:
    """SQLite: insert the statements ``rows``; return their ``seq`` by statement id."""
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


def insert_index_sqlite(conn: Connection, rows: list[tuple[str, int, int]]) -> None:
    """SQLite: insert the filter rows ``(key, seq, relation)``."""
    # SQLite: (key, seq, relation) rows in key order, so neighbouring inserts touch
    # neighbouring index pages.
    cursor = conn.connection.cursor()
    try:
        cursor.executemany(_INSERT_INDEX, sorted(rows))
    finally:
        cursor.close()


def insert_attachments(conn: Connection, parts: list[AttachmentPart], now: dt.datetime) -> None:
    """Store the contents of ``parts`` not stored yet (once by SHA-2), one at a time.

    On SQLite the content is copied from its spooled file into the row's blob in pieces, so a
    large attachment is never whole in memory; psycopg needs each value whole, one at a time.
    """
    dialect = conn.dialect.name
    wanted = [part.sha2 for part in parts]
    marks = ", ".join("?" * len(wanted))
    stored = {row[0] for row in rawdb.fetch_in(
        conn, f"SELECT sha2 FROM xapi_attachment WHERE sha2 IN ({marks})", wanted)}  # noqa: S608
    stamp = rawdb.as_bound(dialect, now)
    cursor = conn.connection.cursor()
    try:
        for part in parts:
            if part.sha2 in stored:
                continue
            if dialect == "sqlite":
                cursor.execute(
                    "INSERT INTO xapi_attachment (sha2, content_type, length, content, created_at) "
                    "VALUES (?, ?, ?, zeroblob(?), ?) ON CONFLICT (sha2) DO NOTHING",
                    (part.sha2, part.content_type, part.length, part.length, stamp),
                )
                if part.length and cursor.rowcount == 1:
                    driver = conn.connection.driver_connection
                    with driver.blobopen("xapi_attachment", "content", cursor.lastrowid) as blob:
                        for piece in part.chunks():
                            blob.write(piece)
            else:
                cursor.execute(
                    "INSERT INTO xapi_attachment (sha2, content_type, length, content, created_at) "
                    "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (sha2) DO NOTHING",
                    (part.sha2, part.content_type, part.length, part.read(), stamp),
                )
            stored.add(part.sha2)
    finally:
        cursor.close()


def taken_and_late_voids(conn: Connection, chosen: list[str]) -> tuple[dict[str, str], set[str]]:
    """For the client-chosen ids of a batch: the bodies of those already stored (id → body), and
    the stored statements that void one of them (a voiding statement that came first).

    One query on the driver's cursor: a single-statement POST is mostly fixed costs, and
    SQLAlchemy's statement construction for two ``IN`` lookups was a sixth of them.
    """
    if not chosen:
        return {}, set()
    marks = ", ".join("?" for _ in chosen)
    query = rawdb.sql(
        conn.dialect.name,
        f"SELECT statement_id, body, voids FROM xapi_statement WHERE statement_id IN ({marks}) "  # noqa: S608 (placeholders only)
        f"OR voids IN ({marks})",
    )
    wanted = set(chosen)
    taken: dict[str, str] = {}
    voiders: set[str] = set()
    cursor = conn.connection.cursor()
    try:
        cursor.execute(query, (*chosen, *chosen))
        for statement_id, body, voids in cursor.fetchall():
            if statement_id in wanted:
                taken[statement_id] = body
            if voids in wanted:
                voiders.add(voids)
    finally:
        cursor.close()
    return taken, voiders
