"""Human-readable record numbers (CAPA-2026-0001, DEV-2026-0001) issued without gaps or twins."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session


def next_number(session: Session, model: Any, prefix: str, lock_key: int, now: dt.datetime) -> str:
    """The next number of ``model``'s records in the year of ``now``, e.g. ``CAPA-2026-0007``.

    On PostgreSQL an advisory transaction lock keyed by ``lock_key`` serialises numbering until
    commit (SQLite writers are serialised already), so two requests never draw the same number;
    the column's unique constraint backs this up.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(lock_key)))
    count = session.scalar(select(func.count()).select_from(model)) or 0
    return f"{prefix}-{now.year}-{count + 1:04d}"
