"""The Statement Resource: ``/xapi/statements`` (PUT, POST, GET, HEAD)."""

from __future__ import annotations

import hashlib
import logging
import uuid
from typing import Any

import orjson
from flask import Response, current_app, request
from requests_toolbelt.multipart.decoder import MultipartDecoder
from werkzeug.http import http_date

from bridge.core.errors import ValidationFailed
from bridge.core.web import database, in_unit_of_work
from xapi import query as q
from xapi.blueprint import bp, is_v2, principal
from xapi.locking import serialized_writes
from xapi.statements import AttachmentPart, plan_activities, prepare_statements, write_statements

logger = logging.getLogger(__name__)

PUT_PARAMS = frozenset({"statementId"})


def _iso(moment: Any) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _decode_json(data: bytes, what: str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ValidationFailed(f"{what} is not valid JSON: {exc}", field=what, code="invalid_json") from exc


def _multipart(content_type: str, body: bytes) -> tuple[Any, dict[str, AttachmentPart]]:
    """Split a ``multipart/mixed`` request into its statement JSON and its attachment parts."""
    if "boundary=" not in content_type:
        raise ValidationFailed(
            "a multipart/mixed request needs a boundary parameter",
            field="Content-Type",
            code="invalid_multipart",
        )
    boundary = content_type.split("boundary=", 1)[1].split(";")[0].strip().strip('"')
    if not body.lstrip(b"\r\n").startswith(b"--" + boundary.encode()):
        raise ValidationFailed("the multipart body must start with its boundary", field="Content-Type",
                               code="invalid_multipart")
    try:
        parts = MultipartDecoder(body, content_type).parts
    except Exception as exc:  # the decoder raises several types for malformed input
        raise ValidationFailed(
            f"the multipart body is malformed: {exc}", field="Content-Type", code="invalid_multipart"
        ) from exc
    if not parts:
        raise ValidationFailed(
            "the multipart body has no parts", field="Content-Type", code="invalid_multipart"
        )
    first_type = parts[0].headers.get(b"Content-Type", b"").decode().split(";")[0].strip().lower()
    if first_type != "application/json":
        raise ValidationFailed(
            "the first part of a multipart request must be the application/json statement(s)",
            field="Content-Type",
            code="invalid_multipart",
        )
    statements = _decode_json(parts[0].content, "statements")
    attachments: dict[str, AttachmentPart] = {}
    for number, part in enumerate(parts[1:], start=2):
        sha2 = part.headers.get(b"X-Experience-API-Hash", b"").decode().strip()
        if not sha2:
            raise ValidationFailed(
                f"multipart part {number} has no X-Experience-API-Hash header",
                field="X-Experience-API-Hash",
                code="invalid_multipart",
            )
        encoding = part.headers.get(b"Content-Transfer-Encoding", b"").decode().strip().lower()
        if encoding != "binary":
            raise ValidationFailed(
                f"multipart part {number} must have Content-Transfer-Encoding: binary",
                field="Content-Transfer-Encoding",
                code="invalid_multipart",
            )
        part_type = part.headers.get(b"Content-Type", b"").decode().strip()
        if not part_type:
            raise ValidationFailed(
                f"multipart part {number} has no Content-Type", field="Content-Type", code="invalid_multipart"
            )
        algorithm = {56: hashlib.sha224, 64: hashlib.sha256, 96: hashlib.sha384, 128: hashlib.sha512}.get(
            len(sha2)
        )
        if algorithm is None or algorithm(part.content).hexdigest() != sha2.lower():
            raise ValidationFailed(
                f"multipart part {number}: X-Experience-API-Hash {sha2} is not the SHA-2 of its content",
                field="X-Experience-API-Hash",
                code="invalid_multipart",
            )
        attachments[sha2] = AttachmentPart(sha2, part_type, part.content)
    return statements, attachments


def _read_statements() -> tuple[Any, dict[str, AttachmentPart], bool]:
    """The decoded statement(s), the attachment parts, and whether the body holds a ``null``."""
    content_type = request.headers.get("Content-Type", "")
    media = content_type.split(";")[0].strip().lower()
    body = request.get_data(cache=False)
    nulls_possible = b"null" in body
    if media == "multipart/mixed":
        return (*_multipart(content_type, body), nulls_possible)
    if media != "application/json":
        raise ValidationFailed(
            f"Content-Type {media or '(none)'} is not accepted: send application/json or multipart/mixed",
            field="Content-Type",
            code="unsupported_media_type",
        )
    if not body:
        raise ValidationFailed("the request has no statement", field="statements", code="invalid_json")
    return _decode_json(body, "statements"), {}, nulls_possible


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
    statement, attachments, nulls_possible = _read_statements()
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
    payload, attachments, nulls_possible = _read_statements()
    statements = payload if isinstance(payload, list) else [payload]
    if not statements:
        raise ValidationFailed("the statement array is empty", field="statements", code="invalid_statement")
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
    consistent = q.consistent_through(database().clock)
    with database().read_sessions() as session:
        if query.statement_id or query.voided_statement_id:
            body, stored, sha2s = q.find_single(database(), query, who)
            rendered = q.render([body], fmt=query.format, v2=v2, session=session, languages=_languages())[0]
            attachments = q.load_attachments(session, sha2s) if query.attachments else []
            last_modified = stored
        else:
            page = q.find_page(database(), query, who)
            bodies = q.render(page.bodies, fmt=query.format, v2=v2, session=session, languages=_languages())
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
