"""Reading stored statements by id, for the rules that run in the storing transaction.

A public function of the record store so that ``bridge/rules`` never reads its tables directly.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy.orm import Session

logger = logging.getLogger(__name__)

_BY_ID = "SELECT statement_id, voided, body FROM xapi_statement WHERE statement_id "


@dataclass(frozen=True)
class StoredStatement:
    """A stored statement as the rules see it: its id, whether it is voided, and its JSON."""

    statement_id: str
    voided: bool
    statement: dict[str, Any]


_VERB = '"verb":{"id":"'


def _verb_of(body: str) -> str:
    """The verb id of a stored statement's compact JSON, read without parsing it ("" if unsure).

    Unsure when the verb object does not start with its id, or when a sub-statement has a verb too.
    """
    start = body.find(_VERB)
    if start < 0 or body.count('"verb":') != 1:
        return ""
    start += len(_VERB)
    end = body.find('"', start)
    verb = body[start:end]
    return "" if "\\" in verb else verb


def statements_by_id(
    session: Session, statement_ids: Sequence[str], *, verbs: Collection[str] | None = None
) -> list[StoredStatement]:
    """The stored statements with ``statement_ids`` (in that order; unknown ids are left out).

    One query per 900 ids, on the caller's session (and so its transaction): the statements a
    request has just stored are visible before it commits. With ``verbs``, only statements with
    one of those verb ids are returned, and the others are not even parsed.
    """
    if not statement_ids:
        return []
    found: dict[str, StoredStatement] = {}
    conn = session.connection()
    postgres = conn.dialect.name == "postgresql"
    # On the driver (a third of SQLAlchemy's cost for the hundred rows of a batch), as the writes are.
    for chunk_start in range(0, len(statement_ids), 900):
        chunk = list(statement_ids[chunk_start : chunk_start + 900])
        if postgres:
            sql, params = _BY_ID + "= ANY(%s)", (chunk,)
        else:
            sql, params = _BY_ID + f"IN ({','.join('?' * len(chunk))})", tuple(chunk)
        cursor = conn.connection.cursor()
        try:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        finally:
            cursor.close()
        for statement_id, voided, body in rows:
            if verbs is not None:
                verb = _verb_of(body)
                if verb and verb not in verbs:
                    continue  # told by the stored JSON's text: not one of the verbs
            statement = orjson.loads(body)
            if verbs is not None and statement["verb"]["id"] not in verbs:
                continue
            found[statement_id] = StoredStatement(statement_id, bool(voided), statement)
    return [found[i] for i in statement_ids if i in found]
