"""The Statement Resource: ``/xapi/statements`` (PUT, POST, GET, HEAD)."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import orjson
from flask import Response, current_app, request
from werkzeug.http import http_date

from bridge.core.errors import ValidationFailed
from bridge.core.web import database, in_unit_of_work
from xapi import formats
from xapi import query as q
from xapi.blueprint import bp, is_v2, limits, principal
from xapi.limits import LrsLimits, TooLarge
from xapi.locking import serialized_writes
from xapi.multipart import AttachmentPart, read_multipart
from xapi.statements import plan_activities, prepare_statements, write_statements

logger = logging.getLogger(__name__)

PUT_PARAMS = frozenset({"statementId"})


def _iso(moment: Any) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _decode_json(data: bytes, what: str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ValidationFailed(f"{what} is not valid JSON: {exc}", field=what, code="invalid_json") from exc


def _read_body(limits: LrsLimits) -> bytes:
    """The request body, refused (413) past the statement JSON limit before it is all read."""
    limit = limits.max_statements_bytes
    length = request.content_length
    if length is not None:
        if length > limit:
            raise _json_too_large(limits)
        return request.get_data(cache=False)
    chunks, total = [], 0
    while piece := request.stream.read(64 * 1024):
        total += len(piece)
        if total > limit:
            raise _json_too_large(limits)
        chunks.append(piece)
    return b"".join(chunks)


def _json_too_large(limits: LrsLimits) -> TooLarge:
    return TooLarge(
        f"the statement JSON is larger than the record store's limit of {limits.max_statements_bytes:,} "
        "bytes (GXPBRIDGE_LRS_MAX_STATEMENTS_BYTES): send the statements in smaller batches",
        field="statements",
    )


def _read_statements(limits: LrsLimits) -> tuple[Any, dict[str, AttachmentPart], bool]:
    """The decoded statement(s), the attachment parts, and whether the JSON holds a ``null``."""
    content_type = request.headers.get("Content-Type", "")
    media = content_type.split(";")[0].strip().lower()
    if media == "multipart/mixed":
        length = request.content_length
        if length is not None and length > limits.max_request_bytes:
            raise TooLarge(
                f"the request is larger than the record store's limit of {limits.max_request_bytes:,} bytes "
                "(GXPBRIDGE_LRS_MAX_REQUEST_BYTES)",
                field="Content-Length",
            )
        body, attachments = read_multipart(request.stream, content_type, limits)
        return _decode_json(body, "statements"), attachments, b"null" in body
    if media != "application/json":
        raise ValidationFailed(
            f"Content-Type {media or '(none)'} is not accepted: send application/json or multipart/mixed",
            field="Content-Type",
            code="unsupported_media_type",
        )
    body = _read_body(limits)
    if not body:
        raise ValidationFailed("the request has no statement", field="statements", code="invalid_json")
    return _decode_json(body, "statements"), {}, b"null" in body


def _check_params(allowed: frozenset[str]) -> None:
    unknown = sorted(set(request.args) - allowed)
    if unknown:
        raise ValidationFailed(
            f"unknown query parameter {unknown[0]!r} (parameter names are case-sensitive)",
            field=unknown[0],
            code="invalid_parameter",
        )


def _write(
    statements: list[Any],
    attachments: dict[str, AttachmentPart],
    put_id: str | None,
    single: bool = False,
    nulls_possible: bool = True,
) -> list[str]:
    who = principal()
    who.require("statements/write", action="storing statements")
    db = database()
    batch = prepare_statements(
        who,
        statements,
        v2=is_v2(),
        attachments=attachments,
        put_id=put_id,
        single=single,
        nulls_possible=nulls_possible,
    )
    if db.dialect == "sqlite":
        # Before the write lock: most batches define nothing new. (PostgreSQL has no such lock;
        # its transaction reads the definitions itself, saving a round trip.)
        plan_activities(db, batch)
    v2 = is_v2()
    with serialized_writes(db):
        # The commit, under the SQLite write lock, is the request's unit of work's (the core's).
        return in_unit_of_work(lambda uow: write_statements(uow, who, batch, v2=v2), actor=who.actor())


@bp.put("/statements")
def put_statement() -> Any:
    """Store one statement under the id given as ``statementId`` (204)."""
    _check_params(PUT_PARAMS)
    statement_id = request.args.get("statementId")
    if not statement_id:
        raise ValidationFailed(
            "PUT /statements needs the statementId parameter", field="statementId", code="invalid_parameter"
        )
    try:
        statement_id = str(uuid.UUID(statement_id)) if len(statement_id) == 36 else None
    except ValueError:
        statement_id = None
    if statement_id is None:
        raise ValidationFailed(
            "parameter statementId must be a UUID", field="statementId", code="invalid_parameter"
        )
    statement, attachments, nulls_possible = _read_statements(limits())
    if not isinstance(statement, dict):
        raise ValidationFailed(
            "PUT /statements takes one statement (a JSON object)", field="statement", code="invalid_statement"
        )
    _write([statement], attachments, statement_id, nulls_possible=nulls_possible)
    return Response(status=204)


@bp.post("/statements")
def post_statements() -> Any:
    """Store one statement or an array of statements, atomically; answer their ids (200)."""
    _check_params(frozenset())
    allowed = limits()
    payload, attachments, nulls_possible = _read_statements(allowed)
    statements = payload if isinstance(payload, list) else [payload]
    if not statements and not attachments:
        # Moodle's log store posts [] on every cron run with nothing queued: nothing to store.
        principal().require("statements/write", action="storing statements")
        return Response(b"[]", status=200, mimetype="application/json")
    if len(statements) > allowed.max_statements:
        raise TooLarge(
            f"the request carries {len(statements):,} statements; the record store takes at most "
            f"{allowed.max_statements:,} a request (GXPBRIDGE_LRS_MAX_STATEMENTS): send smaller batches",
            field="statements",
        )
    ids = _write(
        statements, attachments, None, single=not isinstance(payload, list), nulls_possible=nulls_possible
    )
    return Response(orjson.dumps(ids), status=200, mimetype="application/json")


def _languages() -> list[str]:
    return [value for value, _quality in request.accept_languages] or []


@bp.get("/statements")
def get_statements() -> Any:
    """One statement (``statementId`` / ``voidedStatementId``) or a page of matching statements."""
    who = principal()
    who.require("statements/read", "statements/read/mine", "all/read", action="reading statements")
    args = {name: request.args.get(name, "") for name in request.args}
    if any(len(request.args.getlist(name)) > 1 for name in request.args):
        raise ValidationFailed(
            "a query parameter appears more than once", field="query", code="invalid_parameter"
        )
    secret = current_app.config["SECRET_KEY"]
    query = q.parse_query(args, cursor_secret=secret)
    v2 = is_v2()
    languages = _languages()
    consistent = q.consistent_through(database().clock)
    with database().read_sessions() as session:
        if query.statement_id or query.voided_statement_id:
            body, stored, sha2s = q.find_single(database(), query, who)
            rendered = formats.render([body], fmt=query.format, v2=v2, session=session,
                                      languages=languages)[0]
            attachments = q.load_attachments(session, sha2s) if query.attachments else []
            last_modified = stored
        else:
            page = q.find_page(database(), query, who)
            bodies = formats.render(page.bodies, fmt=query.format, v2=v2, session=session,
                                    languages=languages)
            more = ""
            if page.has_more and page.last_seq is not None:
                more = (
                    f"{request.script_root}/xapi/statements?more={q.more_token(query, page.last_seq, secret)}"
                )
            rendered = '{"statements":[' + ",".join(bodies) + '],"more":"' + more + '"}'
            attachments = q.load_attachments(session, page.attachment_sha2s) if query.attachments else []
            last_modified = page.latest_stored
    headers = {"X-Experience-API-Consistent-Through": consistent}
    if last_modified is not None:
        headers["Last-Modified"] = http_date(last_modified)
    if not query.attachments:
        return Response(rendered, status=200, mimetype="application/json", headers=headers)
    boundary = uuid.uuid4().hex
    chunks = [f"--{boundary}\r\nContent-Type: application/json\r\n\r\n".encode(), rendered.encode(), b"\r\n"]
    for row in attachments:
        chunks.append(
            f"--{boundary}\r\nContent-Type: {row.content_type}\r\nContent-Transfer-Encoding: binary\r\n"
            f"X-Experience-API-Hash: {row.sha2}\r\n\r\n".encode()
        )
        chunks.append(row.content)
        chunks.append(b"\r\n")
    chunks.append(f"--{boundary}--".encode())
    return Response(
        b"".join(chunks), status=200, headers=headers, content_type=f"multipart/mixed; boundary={boundary}"
    )
