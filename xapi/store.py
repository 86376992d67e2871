"""Storage of the record store: statements (exact JSON + indexed columns), the precomputed
filter rows behind every query parameter, canonical activities and attachments (once by SHA-2).

Statements are append-only: the JSON of a stored statement never changes; voiding only sets
the ``voided`` flag of its target (the voiding statement itself is the record of why).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from bridge.core.clock import column_now
from bridge.core.db import Base, JSONType, UTCDateTime

# SQLite makes an INTEGER PRIMARY KEY the rowid (autoincrementing); PostgreSQL gets a bigint.
SeqType = BigInteger().with_variant(Integer(), "sqlite")

# Relations of a filter row to its statement.
DIRECT = 0  # actor / object, the verb, the registration
RELATED = 1  # authority, instructor, team, context agents/activities, sub-statement parts


@functools.lru_cache(maxsize=4096)
def index_key(kind: str, value: str) -> str:
    """The fixed-width key of one filter value (``kind`` is a/o/v/r: agent, activity, verb, registration).

    Long IRIs would make wide, slow indexes; a 128-bit BLAKE2 digest is fixed-width and cannot
    collide in practice. The verbs and activities of the moment recur in statement after
    statement, so recent keys are cached; few of them: a digest costs about a microsecond,
    while 65,536 cached keys held some 20 MB in every server process once a store had that
    many agents, activities and registrations.
    """
    return hashlib.blake2b(f"{kind}|{value}".encode(), digest_size=16).hexdigest()


class StatementRow(Base):
    """One stored statement: its exact JSON and the columns its queries need."""

    __tablename__ = "xapi_statement"

    seq: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=True)
    statement_id: Mapped[str] = mapped_column(String(36), nullable=False, unique=True)
    stored: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    voided: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # Set on voiding statements: the id of the statement they void.
    voids: Mapped[str | None] = mapped_column(String(36))
    credential_id: Mapped[int | None] = mapped_column(Integer)
    version: Mapped[str] = mapped_column(String(16), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    attachment_sha2s: Mapped[list[str] | None] = mapped_column(JSONType)

    __table_args__ = (
        Index("ix_xapi_statement_stored", "stored"),
        # Only voiding statements set it: the index keeps just those rows.
        Index(
            "ix_xapi_statement_voids",
            "voids",
            sqlite_where=text("voids IS NOT NULL"),
            postgresql_where=text("voids IS NOT NULL"),
        ),
        Index("ix_xapi_statement_credential", "credential_id", "seq"),
    )


class StatementIndexRow(Base):
    """A precomputed filter row: statement ``seq`` matches filter value ``key``.

    ``relation`` is 0 when the value is the statement's actor/object (or verb, registration)
    and 1 when it only appears elsewhere (``related_agents`` / ``related_activities``).
    """

    __tablename__ = "xapi_statement_index"

    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(SeqType, primary_key=True)
    relation: Mapped[int] = mapped_column(SmallInteger, nullable=False)

    __table_args__ = (
        # PostgreSQL carries ``relation`` in the key's index, so filters are index-only scans;
        # SQLite stores the whole row in the primary key (no hidden rowid B-tree to maintain).
        PrimaryKeyConstraint("key", "seq", postgresql_include=["relation"]),
        Index("ix_xapi_statement_index_seq", "seq"),
        {"sqlite_with_rowid": False},
    )


class ActivityRow(Base):
    """An activity with its canonical definition (merged from the statements naming it)."""

    __tablename__ = "xapi_activity"

    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    activity_id: Mapped[str] = mapped_column(Text, nullable=False)
    definition: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=column_now)


class AttachmentRow(Base):
    """The content of an attachment, stored once by its SHA-2 however many statements carry it."""

    __tablename__ = "xapi_attachment"

    sha2: Mapped[str] = mapped_column(String(128), primary_key=True)
    content_type: Mapped[str] = mapped_column(String(255), nullable=False)
    length: Mapped[int] = mapped_column(BigInteger, nullable=False)
    content: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=column_now)
