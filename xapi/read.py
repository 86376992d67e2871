"""Reading stored statements by id, for the rules that run in the storing transaction.

A public function of the record store so that ``bridge/rules`` never reads its tables directly.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from xapi.store import StatementRow

logger = logging.getLogger(__name__)

_ST = StatementRow.__table__


@dataclass(frozen=True)
class StoredStatement:
    """A stored statement as the rules see it: its id, whether it is voided, and its JSON."""

    statement_id: str
    voided: bool
    statement: dict[str, Any]


def statements_by_id(session: Session, statement_ids: Sequence[str]) -> list[StoredStatement]:
    """The stored statements with ``statement_ids`` (in that order; unknown ids are left out).

    One query whatever the number of ids, on the caller's session (and so its transaction):
    the statements a request has just stored are visible before it commits.
    """
    if not statement_ids:
        return []
    found: dict[str, StoredStatement] = {}
    for chunk_start in range(0, len(statement_ids), 900):
        chunk = list(statement_ids[chunk_start : chunk_start + 900])
        for statement_id, voided, body in session.execute(
            select(_ST.c.statement_id, _ST.c.voided, _ST.c.body).where(_ST.c.statement_id.in_(chunk))
        ):
            found[statement_id] = StoredStatement(statement_id, bool(voided), orjson.loads(body))
    return [found[i] for i in statement_ids if i in found]
