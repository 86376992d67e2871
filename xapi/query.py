"""Reading statements: every query parameter, the ``more`` cursor and the response formats.

Filters go through the precomputed filter rows (one join per filter on ``(key, seq)``), pages
are cut with a keyset on ``seq``: the cost of a page does not depend on how many statements
match, and ``more`` stays valid while new statements arrive.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

import orjson
from itsdangerous import BadSignature, URLSafeSerializer
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.core.clock import Clock
from bridge.core.db import Database
from bridge.core.errors import NotFound, ValidationFailed
from xapi import models, rawdb
from xapi.auth import Principal
from xapi.filters import activity_key, agent_key, registration_key, verb_key
from xapi.store import DIRECT, AttachmentRow

logger = logging.getLogger(__name__)

DEFAULT_LIMIT = 100
MAX_LIMIT = 500
QUERY_PARAMS = frozenset(
    {
        "statementId",
        "voidedStatementId",
        "agent",
        "verb",
        "activity",
        "registration",
        "related_activities",
        "related_agents",
        "since",
        "until",
        "limit",
        "format",
        "attachments",
        "ascending",
    }
)
SINGLE_PARAMS = frozenset({"statementId", "voidedStatementId", "format", "attachments"})
FORMATS = ("exact", "ids", "canonical")


@dataclass
class StatementQuery:
    """A validated statements query."""

    statement_id: str | None = None
    voided_statement_id: str | None = None
    agent: str | None = None  # filter key
    verb: str | None = None
    activity: str | None = None
    registration: str | None = None
    related_activities: bool = False
    related_agents: bool = False
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    limit: int = DEFAULT_LIMIT
    format: str = "exact"
    attachments: bool = False
    ascending: bool = False
    after_seq: int | None = None
    raw: dict[str, str] = field(default_factory=dict)


def _bool(name: str, value: str) -> bool:
    if value not in ("true", "false"):
        raise ValidationFailed(
            f"parameter {name} must be true or false", field=name, code="invalid_parameter"
        )
    return value == "true"


def _uuid(name: str, value: str) -> str:
    try:
        return models.check_uuid(value).lower()
    except Exception as exc:
        raise ValidationFailed(
            f"parameter {name} must be a UUID", field=name, code="invalid_parameter"
        ) from exc


def _time(name: str, value: str) -> dt.datetime:
    try:
        return models.parse_timestamp(value)
    except Exception as exc:
        raise ValidationFailed(
            f"parameter {name} must be an ISO 8601 timestamp", field=name, code="invalid_parameter"
        ) from exc


def parse_agent_param(value: str, name: str = "agent") -> dict[str, Any]:
    """Parse and validate an ``agent`` parameter (JSON of an Agent or identified Group)."""
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise ValidationFailed(
            f"parameter {name} must be the JSON of an Agent", field=name, code="invalid_parameter"
        ) from exc
    if not isinstance(data, dict):
        raise ValidationFailed(
            f"parameter {name} must be the JSON of an Agent", field=name, code="invalid_parameter"
        )
    models.refuse_nulls(data, name)
    try:
        if data.get("objectType") == "Group":
            models.Group.model_validate(data)
        else:
            models.Agent.model_validate(data)
    except ValidationError as exc:
        raise models.validation_error(exc, name) from exc
    return data


def parse_query(args: dict[str, str], *, cursor_secret: str) -> StatementQuery:
    """Validate the query parameters of ``GET /statements``.

    Raises:
        ValidationFailed: Unknown parameter (including one in different case), bad value, or a
            parameter combined with ``statementId`` / ``voidedStatementId``.
    """
    if "more" in args:
        return _from_cursor(args, cursor_secret)
    unknown = sorted(set(args) - QUERY_PARAMS)
    if unknown:
        raise ValidationFailed(
            f"unknown query parameter {unknown[0]!r} (parameter names are case-sensitive)",
            field=unknown[0],
            code="invalid_parameter",
        )
    query = StatementQuery(raw=dict(args))
    if "statementId" in args or "voidedStatementId" in args:
        extra = sorted(set(args) - SINGLE_PARAMS)
        if extra or ("statementId" in args and "voidedStatementId" in args):
            bad = extra[0] if extra else "voidedStatementId"
            raise ValidationFailed(
                f"parameter {bad} cannot be combined with statementId or voidedStatementId",
                field=bad,
                code="invalid_parameter",
            )
        if "statementId" in args:
            query.statement_id = _uuid("statementId", args["statementId"])
        else:
            query.voided_statement_id = _uuid("voidedStatementId", args["voidedStatementId"])
    if "agent" in args:
        key = agent_key(parse_agent_param(args["agent"]))
        if key is None:
            raise ValidationFailed(
                "parameter agent must identify an Agent or an identified Group",
                field="agent",
                code="invalid_parameter",
            )
        query.agent = key
    if "verb" in args:
        try:
            query.verb = verb_key(models.check_iri(args["verb"]))
        except Exception as exc:
            raise ValidationFailed(
                "parameter verb must be an IRI", field="verb", code="invalid_parameter"
            ) from exc
    if "activity" in args:
        try:
            query.activity = activity_key(models.check_iri(args["activity"]))
        except Exception as exc:
            raise ValidationFailed(
                "parameter activity must be an IRI", field="activity", code="invalid_parameter"
            ) from exc
    if "registration" in args:
        query.registration = registration_key(_uuid("registration", args["registration"]))
    for name in ("related_activities", "related_agents", "attachments", "ascending"):
        if name in args:
            setattr(query, name, _bool(name, args[name]))
    if "since" in args:
        query.since = _time("since", args["since"])
    if "until" in args:
        query.until = _time("until", args["until"])
    if "limit" in args:
        try:
            limit = int(args["limit"])
        except ValueError as exc:
            raise ValidationFailed(
                "parameter limit must be a non-negative integer", field="limit", code="invalid_parameter"
            ) from exc
        if limit < 0:
            raise ValidationFailed(
                "parameter limit must be a non-negative integer", field="limit", code="invalid_parameter"
            )
        query.limit = MAX_LIMIT if limit == 0 else min(limit, MAX_LIMIT)
    if "format" in args:
        if args["format"] not in FORMATS:
            raise ValidationFailed(
                f"parameter format must be one of {', '.join(FORMATS)}",
                field="format",
                code="invalid_parameter",
            )
        query.format = args["format"]
    return query


def _serializer(secret: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt="xapi-statements-more")


def more_token(query: StatementQuery, last_seq: int, cursor_secret: str) -> str:
    """The opaque ``more`` cursor: the query's parameters and where the page ended (signed)."""
    return _serializer(cursor_secret).dumps({"q": query.raw, "after": last_seq})


def _from_cursor(args: dict[str, str], cursor_secret: str) -> StatementQuery:
    try:
        data = _serializer(cursor_secret).loads(args["more"])
    except BadSignature as exc:
        raise ValidationFailed(
            "the more cursor is invalid or was altered", field="more", code="invalid_parameter"
        ) from exc
    query = parse_query(data["q"], cursor_secret=cursor_secret)
    query.after_seq = int(data["after"])
    return query


@dataclass
class Page:
    """A page of statements, as JSON texts, with what the response needs."""

    bodies: list[str]
    last_seq: int | None
    has_more: bool
    latest_stored: dt.datetime | None
    attachment_sha2s: list[str]


def _mine_only(principal: Principal) -> bool:
    return not principal.allows("statements/read", "all/read") and principal.allows("statements/read/mine")


def find_single(
    db: Database, query: StatementQuery, principal: Principal
) -> tuple[str, dt.datetime, list[str]]:
    """The statement asked for by ``statementId`` (not voided) or ``voidedStatementId`` (voided).

    Raises:
        NotFound: No such statement in that state.
    """
    wanted_id = query.statement_id or query.voided_statement_id
    rows = rawdb.fetch(
        db,
        "SELECT body, stored, attachment_sha2s, voided, credential_id FROM xapi_statement "
        "WHERE statement_id = ?",
        (wanted_id,),
    )
    row = rows[0] if rows else None
    field = "statementId" if query.statement_id else "voidedStatementId"
    if row is None or (_mine_only(principal) and row[4] != principal.credential_id):
        raise NotFound(f"no statement {wanted_id}", field=field)
    body, stored, sha2s, voided, _credential = row
    if query.statement_id and voided:
        raise NotFound(f"statement {wanted_id} is voided: ask with voidedStatementId", field=field)
    if query.voided_statement_id and not voided:
        raise NotFound(f"statement {wanted_id} is not voided", field=field)
    return body, rawdb.as_utc(stored), rawdb.as_json(sha2s) or []


def find_page(db: Database, query: StatementQuery, principal: Principal) -> Page:
    """A page of matching statements, newest first unless ``ascending``.

    Each filter joins its precomputed rows on ``(key, seq)``; the first filter's ``seq`` orders
    the page so the database walks one index backwards and stops after ``limit`` rows.
    """
    filters = [
        (query.agent, not query.related_agents),
        (query.verb, True),
        (query.activity, not query.related_activities),
        (query.registration, True),
    ]
    joins: list[str] = []
    where: list[str] = []
    params: list[Any] = []
    for key, direct_only in filters:
        if key is None:
            continue
        alias = f"i{len(joins)}"
        joins.append(alias)
        where.append(f"{alias}.key = ?" + (f" AND {alias}.relation = {DIRECT}" if direct_only else ""))
        params.append(key)
    postgres = db.dialect == "postgresql"
    if joins:
        # The other filters are probed on the first one's rows before any statement row is
        # read: SQLite joins in the order written, and reading statements first (to reach the
        # second filter through them) made agent+verb 3x slower warm, 40x cold (500k statements).
        first = joins[0]
        if postgres and len(joins) > 1:
            # PostgreSQL reorders joins by its estimates, which a store loaded since its last
            # ANALYZE does not have (every key is then estimated at the same ~1,350 rows, and it
            # may walk a verb's thousands of rows for agent+verb). A LATERAL probe with LIMIT
            # cannot be pulled up: the first filter's rows, newest first, each probed on the
            # others' (key, seq) keys, whatever the statistics say.
            probes = []
            for alias in joins[1:]:
                condition = where.pop(1)
                probes.append(
                    f" JOIN LATERAL (SELECT 1 FROM xapi_statement_index {alias} WHERE {condition} "  # noqa: S608
                    f"AND {alias}.seq = {first}.seq LIMIT 1) {alias}_probe ON TRUE"
                )
            source = f"xapi_statement_index {first}" + "".join(probes)
            params = params[1:] + params[:1]  # the probes' keys come first in the text
        else:
            source = f"xapi_statement_index {first}" + "".join(
                f" JOIN xapi_statement_index {a} ON {a}.seq = {first}.seq" for a in joins[1:]
            )
        source += f" JOIN xapi_statement s ON s.seq = {first}.seq"
        order = f"{first}.seq"
    else:
        source, order = "xapi_statement s", "s.seq"
    where.append("s.voided = ?")
    params.append(False)
    dialect = db.dialect
    if query.since is not None:
        where.append("s.stored > ?")
        params.append(rawdb.as_bound(dialect, query.since))
    if query.until is not None:
        where.append("s.stored <= ?")
        params.append(rawdb.as_bound(dialect, query.until))
    if _mine_only(principal):
        where.append("s.credential_id = ?")
        params.append(principal.credential_id)
    if query.after_seq is not None:
        where.append(f"{order} {'>' if query.ascending else '<'} ?")
        params.append(query.after_seq)
    params.append(query.limit + 1)
    sql = (
        f"SELECT s.seq, s.body, s.stored, s.attachment_sha2s FROM {source} WHERE {' AND '.join(where)} "  # noqa: S608
        f"ORDER BY {order} {'ASC' if query.ascending else 'DESC'} LIMIT ?"
    )
    # Several filters on SQLite: only the values tell which one is selective (an agent has
    # hundreds of statements, a verb hundreds of thousands). On PostgreSQL the LATERAL probes fix
    # the plan's shape, so a prepared generic plan serves (a generic plan of the plain joins was
    # measured hashing a whole verb's rows for agent+verb: 137 ms instead of about 5 at 1M).
    rows = rawdb.fetch(db, sql, params)
    has_more = len(rows) > query.limit
    rows = rows[: query.limit]
    sha2s: list[str] = []
    for row in rows:
        for sha2 in rawdb.as_json(row[3]) or ():
            if sha2 not in sha2s:
                sha2s.append(sha2)
    latest = max((rawdb.as_utc(row[2]) for row in rows), default=None)
    return Page([row[1] for row in rows], rows[-1][0] if rows else None, has_more, latest, sha2s)


def load_attachments(session: Session, sha2s: list[str]) -> list[AttachmentRow]:
    """The stored attachment contents for ``sha2s`` (in that order)."""
    if not sha2s:
        return []
    found = {
        row.sha2: row for row in session.scalars(select(AttachmentRow).where(AttachmentRow.sha2.in_(sha2s)))
    }
    return [found[sha2] for sha2 in sha2s if sha2 in found]


def consistent_through(clock: Clock) -> str:
    """Now by ``clock``, as an xAPI timestamp (the ``X-Experience-API-Consistent-Through`` of a read)."""
    now = clock.now()
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
