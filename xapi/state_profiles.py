"""xAPI document resources: State, Activity Profile and Agent Profile documents.

One row per document, keyed by its scope (kind, activity IRI, agent IFI, registration) and its
id. The key is stored as a SHA-256 of a canonical form under a unique constraint, so arbitrary
long IRIs and ids fit a btree index on both databases, and two concurrent writers of the same
document meet at the constraint instead of creating twins.

Every write runs the same way: lock the current row (``SELECT ... FOR UPDATE`` on PostgreSQL;
SQLite writers already hold the database's write lock from ``BEGIN IMMEDIATE``), check the
request's preconditions against it, then update it, or insert with ``ON CONFLICT DO NOTHING``
and start over if another transaction inserted the same document meanwhile.

Documents are Learning Record Provider scratch data (SCORM suspend data, bookmarks, profile
preferences), written every few seconds by running content. They are not training records (the
statements are), so they are not written into the audit trail; the statements they lead to are.

The concurrency rules differ by version and resource and are decided by :func:`policy_for`:

* ``If-Match`` / ``If-None-Match`` are honoured on PUT, POST and DELETE of every resource in both
  versions; a failed precondition is ``412`` and changes nothing.
* A PUT without either header on an existing document is ``409 Conflict`` -- except State
  documents in xAPI 1.0.x, which the 1.0.3 specification (Communication 3.1) lets clients PUT
  without concurrency headers; real 1.0.x SCORM/xAPI wrappers do so, often twice in a row.
* xAPI 1.0.3 (Communication 3.1.s3.b1) requires clients to send one of the headers with every
  Activity/Agent Profile PUT; such a PUT without headers is refused with ``400`` even for a new
  document (the ADL conformance suite checks it). xAPI 2.0 keeps no such client rule.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
import uuid
from dataclasses import dataclass
from typing import Any

import rfc3987
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import (
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    delete,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from bridge.core.db import Base, UTCDateTime
from bridge.core.errors import Conflict, DomainError, ValidationFailed
from bridge.core.uow import UnitOfWork

logger = logging.getLogger(__name__)

STATE = "state"
ACTIVITY_PROFILE = "activity_profile"
AGENT_PROFILE = "agent_profile"
KINDS = (STATE, ACTIVITY_PROFILE, AGENT_PROFILE)
V1 = "1.0.3"
V2 = "2.0.0"
JSON_TYPE = "application/json"
DEFAULT_CONTENT_TYPE = "application/octet-stream"
_SHA1_RE = re.compile(r"^[0-9a-fA-F]{40}$")
_UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# A date, a 'T' (or space) and at least hours and minutes: ISO 8601 / RFC 3339 date-times.
_TIMESTAMP_RE = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")
_AGENT_KEYS = frozenset({"objectType", "name", "mbox", "mbox_sha1sum", "openid", "account"})
_IFI_KEYS = ("mbox", "mbox_sha1sum", "openid", "account")
_WRITE_ATTEMPTS = 4


class PreconditionFailed(DomainError):
    """An ``If-Match`` / ``If-None-Match`` precondition does not hold (HTTP 412)."""

    status = 412
    code = "precondition_failed"


class XapiDocument(Base):
    """One State, Activity Profile or Agent Profile document, stored as sent."""

    __tablename__ = "xapi_document"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # SHA-256 of the canonical (kind, activity, agent, registration, document id): the identity.
    doc_key: Mapped[str] = mapped_column(String(64), nullable=False)
    # SHA-256 of the canonical (kind, activity, agent): the set listed and multi-deleted.
    scope_key: Mapped[str] = mapped_column(String(64), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    activity_id: Mapped[str | None] = mapped_column(Text)
    # Canonical inverse functional identifier of the agent, e.g. ``mbox:mailto:a@example.com``.
    agent_key: Mapped[str | None] = mapped_column(Text)
    registration: Mapped[str | None] = mapped_column(String(36))
    document_id: Mapped[str] = mapped_column(Text, nullable=False)
    content: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    content_type: Mapped[str] = mapped_column(String(255), nullable=False)
    # Hexadecimal SHA-1 of the content, as xAPI 1.0.3 (Communication 3.1.s4.b2) asks.
    etag: Mapped[str] = mapped_column(String(40), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    created_by: Mapped[str] = mapped_column(String(200), nullable=False)
    updated_by: Mapped[str] = mapped_column(String(200), nullable=False)

    __table_args__ = (
        UniqueConstraint("doc_key"),
        Index("ix_xapi_document_scope_updated", "scope_key", "updated_at"),
    )


# -- parameters ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DocumentScope:
    """Where documents live: the resource, and its activity, agent and registration.

    Attributes:
        kind: ``state``, ``activity_profile`` or ``agent_profile``.
        activity_id: The Activity IRI (State and Activity Profile).
        agent_key: Canonical IFI of the agent (State and Agent Profile).
        registration: Lower-case registration UUID (State, optional).
    """

    kind: str
    activity_id: str | None = None
    agent_key: str | None = None
    registration: str | None = None

    @property
    def scope_key(self) -> str:
        """SHA-256 of the canonical (kind, activity, agent)."""
        return _digest([self.kind, self.activity_id or "", self.agent_key or ""])

    def doc_key(self, document_id: str) -> str:
        """SHA-256 of the canonical identity of ``document_id`` in this scope."""
        return _digest([self.kind, self.activity_id or "", self.agent_key or "", self.registration or "",
                        document_id])


def _digest(parts: list[str]) -> str:
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False, separators=(",", ":")).encode()).hexdigest()


def parse_activity_id(value: str, *, field: str = "activityId") -> str:
    """Validate an Activity id parameter: an absolute IRI.

    Raises:
        ValidationFailed: Empty or not an absolute IRI (a scheme is required).
    """
    if not value or rfc3987.match(value, rule="absolute_IRI") is None:
        raise ValidationFailed(f"{field} must be an absolute IRI (with a scheme), got {value!r}",
                               field=field, code="invalid_iri")
    return value


def parse_registration(value: str) -> str:
    """Validate a registration parameter (a UUID) and return its canonical lower-case form.

    Raises:
        ValidationFailed: Not a UUID in the 8-4-4-4-12 hexadecimal form.
    """
    if not _UUID_RE.match(value or ""):
        raise ValidationFailed(f"registration must be a UUID (8-4-4-4-12 hexadecimal), got {value!r}",
                               field="registration", code="invalid_uuid")
    return str(uuid.UUID(value))


def parse_since(value: str) -> dt.datetime:
    """Parse the ``since`` Timestamp parameter (ISO 8601; no offset means UTC).

    Raises:
        ValidationFailed: Not an ISO 8601 date-time.
    """
    parsed: dt.datetime | None = None
    if _TIMESTAMP_RE.match(value or ""):
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            parsed = None
    if parsed is None:
        raise ValidationFailed(f"since must be an ISO 8601 timestamp such as 2026-01-31T12:00:00Z, "
                               f"got {value!r}", field="since", code="invalid_timestamp")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def parse_agent(raw: str, *, field: str = "agent") -> str:
    """Parse an ``agent`` parameter (Agent Object as JSON) into its canonical IFI key.

    The Agent must be a JSON object with ``objectType`` absent or ``"Agent"``, no property beyond
    those of an Agent, no null, and exactly one inverse functional identifier (mbox,
    mbox_sha1sum, openid or account). The same agent written in any shape (with or without name
    or objectType, properties in any order) yields the same key.

    Returns:
        ``mbox:<mailto IRI>``, ``mbox_sha1sum:<lower-case hex>``, ``openid:<IRI>`` or
        ``account:<JSON [homePage, name]>``.

    Raises:
        ValidationFailed: Malformed JSON or an invalid Agent, naming the problem.
    """
    try:
        agent = json.loads(raw)
    except (ValueError, TypeError) as exc:
        raise ValidationFailed(f"{field} is not valid JSON ({exc}); send an Agent Object such as "
                               '{"mbox":"mailto:learner@example.com"}', field=field,
                               code="malformed_json") from exc
    if not isinstance(agent, dict):
        raise ValidationFailed(f"{field} must be a JSON Agent Object, got {type(agent).__name__}",
                               field=field, code="invalid_agent")
    unknown = sorted(set(agent) - _AGENT_KEYS)
    if unknown:
        raise ValidationFailed(f"{field} has properties an Agent does not allow: {', '.join(unknown)}",
                               field=field, code="invalid_agent")
    for key, value in agent.items():
        if value is None:
            raise ValidationFailed(f"{field}.{key} must not be null", field=f"{field}.{key}",
                                   code="invalid_agent")
    object_type = agent.get("objectType", "Agent")
    if object_type != "Agent":
        raise ValidationFailed(f"{field}.objectType must be 'Agent' (a Group is not accepted here; use "
                               f"the group's identifier in an Agent Object), got {object_type!r}",
                               field=f"{field}.objectType", code="invalid_agent")
    if "name" in agent and not isinstance(agent["name"], str):
        raise ValidationFailed(f"{field}.name must be a string", field=f"{field}.name", code="invalid_agent")
    ifis = [key for key in _IFI_KEYS if key in agent]
    if len(ifis) != 1:
        found = ", ".join(ifis) if ifis else "none"
        raise ValidationFailed(f"{field} must have exactly one inverse functional identifier "
                               f"(mbox, mbox_sha1sum, openid or account); found {found}",
                               field=field, code="invalid_agent")
    ifi = ifis[0]
    value = agent[ifi]
    where = f"{field}.{ifi}"
    if ifi == "mbox":
        if not isinstance(value, str) or not value.lower().startswith("mailto:"):
            raise ValidationFailed(f"{where} must be a mailto IRI such as mailto:learner@example.com",
                                   field=where, code="invalid_agent")
        address = value[len("mailto:"):]
        try:
            validate_email(address, check_deliverability=False)
        except EmailNotValidError as exc:
            raise ValidationFailed(f"{where} is not a valid e-mail address: {exc}", field=where,
                                   code="invalid_agent") from exc
        # Domain names are case-insensitive; the local part is kept as sent (RFC 5321).
        local, _, domain = address.rpartition("@")
        return f"mbox:mailto:{local}@{domain.lower()}"
    if ifi == "mbox_sha1sum":
        if not isinstance(value, str) or not _SHA1_RE.match(value):
            raise ValidationFailed(f"{where} must be 40 hexadecimal characters (SHA-1 of a mailto IRI)",
                                   field=where, code="invalid_agent")
        return f"mbox_sha1sum:{value.lower()}"
    if ifi == "openid":
        if not isinstance(value, str) or rfc3987.match(value, rule="absolute_IRI") is None:
            raise ValidationFailed(f"{where} must be an absolute URI", field=where, code="invalid_agent")
        return f"openid:{value}"
    if not isinstance(value, dict) or set(value) != {"homePage", "name"}:
        raise ValidationFailed(f"{where} must be an object with exactly homePage and name", field=where,
                               code="invalid_agent")
    home_page, name = value["homePage"], value["name"]
    if not isinstance(home_page, str) or rfc3987.match(home_page, rule="absolute_IRI") is None:
        raise ValidationFailed(f"{where}.homePage must be an absolute IRL", field=f"{where}.homePage",
                               code="invalid_agent")
    if not isinstance(name, str):
        raise ValidationFailed(f"{where}.name must be a string", field=f"{where}.name", code="invalid_agent")
    return "account:" + json.dumps([home_page, name], ensure_ascii=False, separators=(",", ":"))


def validate_document_id(value: str, field: str) -> str:
    """A stateId / profileId: any non-empty string.

    Raises:
        ValidationFailed: Empty.
    """
    if not value:
        raise ValidationFailed(f"{field} must not be empty", field=field)
    return value


# -- content ----------------------------------------------------------------------------------


def media_type(content_type: str | None) -> str:
    """The lower-case media type of a Content-Type header, without parameters."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def is_json(content_type: str | None) -> bool:
    """Whether a Content-Type names ``application/json``."""
    return media_type(content_type) == JSON_TYPE


def etag_of(content: bytes) -> str:
    """Hexadecimal SHA-1 of ``content`` (unquoted)."""
    return hashlib.sha1(content, usedforsecurity=False).hexdigest()


def _json_object(content: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(content.decode("utf-8-sig"))  # RFC 8259 lets a parser skip a BOM
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValidationFailed(f"{what} cannot be parsed as JSON: {exc}", field="content",
                               code="malformed_json") from exc
    if not isinstance(value, dict):
        raise ValidationFailed(f"{what} must be a JSON Object to be merged, got {type(value).__name__}",
                               field="content", code="not_a_json_object")
    return value


def check_json(content: bytes, content_type: str) -> None:
    """Refuse a body labelled ``application/json`` that is not JSON (it could never be merged).

    Raises:
        ValidationFailed: Malformed JSON.
    """
    if not is_json(content_type):
        return
    try:
        json.loads(content.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValidationFailed(f"the document is sent as application/json but is not valid JSON: {exc}",
                               field="content", code="malformed_json") from exc


# -- concurrency ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Preconditions:
    """The request's ``If-Match`` / ``If-None-Match`` headers, as unquoted ETags.

    Attributes:
        if_match: Strong ETags of If-Match (``None`` when absent); ``("*",)`` for any.
        if_none_match: ETags of If-None-Match, weak ones included as RFC 7232 compares them
            weakly (``None`` when absent); ``("*",)`` for any.
    """

    if_match: tuple[str, ...] | None = None
    if_none_match: tuple[str, ...] | None = None

    @property
    def given(self) -> bool:
        """Whether either header was sent."""
        return self.if_match is not None or self.if_none_match is not None

    def check(self, current_etag: str | None) -> None:
        """Evaluate the headers against the document's current ETag (``None``: no document).

        Raises:
            PreconditionFailed: A header does not hold (RFC 7232 section 3).
        """
        if self.if_match is not None:
            if current_etag is None:
                raise PreconditionFailed("If-Match was sent but the document does not exist",
                                         field="If-Match")
            if "*" not in self.if_match and current_etag not in self.if_match:
                raise PreconditionFailed(
                    f'If-Match does not match the document\'s current ETag "{current_etag}": it changed '
                    "since you fetched it; GET it again and retry with its ETag", field="If-Match")
        if self.if_none_match is not None and current_etag is not None and (
                "*" in self.if_none_match or current_etag in self.if_none_match):
            raise PreconditionFailed(
                "If-None-Match does not hold: the document exists"
                + ("" if "*" in self.if_none_match else " with a listed ETag"),
                field="If-None-Match")


@dataclass(frozen=True)
class ConcurrencyPolicy:
    """What a PUT without ``If-Match`` / ``If-None-Match`` gets, for one resource and version.

    Attributes:
        conflict_on_existing: 409 when the document exists.
        refuse_on_new: 400 when the document does not exist yet.
    """

    conflict_on_existing: bool
    refuse_on_new: bool


def policy_for(kind: str, version: str) -> ConcurrencyPolicy:
    """The PUT concurrency rules of ``kind`` in xAPI ``version`` (see the module docstring)."""
    if version == V2:
        return ConcurrencyPolicy(conflict_on_existing=True, refuse_on_new=False)
    if kind == STATE:
        return ConcurrencyPolicy(conflict_on_existing=False, refuse_on_new=False)
    return ConcurrencyPolicy(conflict_on_existing=True, refuse_on_new=True)


# -- services ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredDocument:
    """A document as read back: its bytes and HTTP metadata."""

    document_id: str
    content: bytes
    content_type: str
    etag: str
    updated_at: dt.datetime


@dataclass(frozen=True)
class WriteResult:
    """The outcome of a write: the ETag and time now stored, and whether it was created."""

    etag: str
    updated_at: dt.datetime
    created: bool


_TABLE = XapiDocument.__table__
_COLUMNS = (_TABLE.c.id, _TABLE.c.document_id, _TABLE.c.content, _TABLE.c.content_type, _TABLE.c.etag,
            _TABLE.c.updated_at)


def _insert(session: Session) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(_TABLE)
    return sqlite.insert(_TABLE)


def _locked_row(session: Session, key: str) -> Any:
    # FOR UPDATE is rendered on PostgreSQL only; SQLite writers hold the write lock already.
    return session.execute(select(*_COLUMNS).where(_TABLE.c.doc_key == key).with_for_update()).first()


def get_document(session: Session, scope: DocumentScope, document_id: str) -> StoredDocument | None:
    """Return one document, or ``None`` when there is none."""
    row = session.execute(select(*_COLUMNS).where(_TABLE.c.doc_key == scope.doc_key(document_id))).first()
    if row is None:
        return None
    return StoredDocument(row.document_id, bytes(row.content), row.content_type, row.etag, row.updated_at)


def list_document_ids(session: Session, scope: DocumentScope,
                      since: dt.datetime | None = None) -> tuple[list[str], dt.datetime | None]:
    """Ids of the documents in ``scope`` (every registration unless one is given).

    Args:
        session: Database session.
        scope: Kind, activity, agent and optional registration.
        since: Only documents stored or updated after this time (exclusive).

    Returns:
        The distinct ids in storage order, and the latest update time among them.
    """
    query = select(_TABLE.c.document_id, _TABLE.c.updated_at).where(_TABLE.c.scope_key == scope.scope_key)
    if scope.registration is not None:
        query = query.where(_TABLE.c.registration == scope.registration)
    if since is not None:
        query = query.where(_TABLE.c.updated_at > since)
    ids: dict[str, None] = {}
    latest: dt.datetime | None = None
    for document_id, updated_at in session.execute(query.order_by(_TABLE.c.updated_at, _TABLE.c.id)):
        ids[document_id] = None
        latest = updated_at if latest is None or updated_at > latest else latest
    return list(ids), latest


def put_document(
    uow: UnitOfWork,
    scope: DocumentScope,
    document_id: str,
    content: bytes,
    content_type: str | None,
    *,
    preconditions: Preconditions,
    policy: ConcurrencyPolicy,
) -> WriteResult:
    """Store (create or replace) a document as sent.

    Raises:
        ValidationFailed: Malformed JSON, or (1.0.3 profiles) a PUT without concurrency headers.
        PreconditionFailed: If-Match / If-None-Match does not hold.
        Conflict: A PUT without concurrency headers on an existing document, where that is refused.
    """
    content_type = content_type or DEFAULT_CONTENT_TYPE
    check_json(content, content_type)

    def decide(current: Any) -> bytes:
        preconditions.check(current.etag if current is not None else None)
        if not preconditions.given:
            if current is not None and policy.conflict_on_existing:
                raise Conflict(
                    "the document already exists and the PUT carried neither If-Match nor If-None-Match: "
                    "GET the document to check its current state, then PUT again with "
                    f'If-Match: "{current.etag}" (its current ETag)', field="If-Match",
                    code="precondition_missing")
            if current is None and policy.refuse_on_new:
                raise ValidationFailed(
                    "a PUT to a profile document must carry If-Match (the ETag of the version you "
                    "replace) or If-None-Match: * (to create it) (xAPI 1.0.3 Communication 3.1)",
                    field="If-None-Match", code="precondition_missing")
        return content

    return _write(uow, scope, document_id, content_type, decide)


def post_document(
    uow: UnitOfWork,
    scope: DocumentScope,
    document_id: str,
    content: bytes,
    content_type: str | None,
    *,
    preconditions: Preconditions,
) -> WriteResult:
    """Create a document, or merge a posted JSON Object into an existing JSON Object document.

    Merging sets each top-level property of the posted Object on the stored Object (one level
    deep: a nested Object is replaced whole).

    Raises:
        ValidationFailed: The posted body labelled JSON is not a JSON Object, or a document is
            found and either it or the posted one is not an ``application/json`` JSON Object.
        PreconditionFailed: If-Match / If-None-Match does not hold.
    """
    content_type = content_type or DEFAULT_CONTENT_TYPE
    posted: dict[str, Any] | None = None
    if is_json(content_type):
        posted = _json_object(content, "the posted document")

    def decide(current: Any) -> bytes:
        preconditions.check(current.etag if current is not None else None)
        if current is None:
            return content
        if posted is None:
            raise ValidationFailed(
                f"a document exists, so POST merges JSON: the posted document must have Content-Type "
                f"application/json, not {media_type(content_type) or 'none'}; use PUT to replace it",
                field="Content-Type", code="merge_needs_json")
        if not is_json(current.content_type):
            raise ValidationFailed(
                f"the stored document is {media_type(current.content_type)}, not application/json, so it "
                f"cannot be merged with a posted JSON Object; use PUT to replace it",
                field="Content-Type", code="merge_needs_json")
        merged = _json_object(bytes(current.content), "the stored document")
        merged.update(posted)
        return json.dumps(merged, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    return _write(uow, scope, document_id, content_type, decide, keep_json_type=True)


def _write(uow: UnitOfWork, scope: DocumentScope, document_id: str, content_type: str,
           decide: Any, *, keep_json_type: bool = False) -> WriteResult:
    """Lock, decide the new content from the current row, then update or insert."""
    session = uow.session
    key = scope.doc_key(document_id)
    for _attempt in range(_WRITE_ATTEMPTS):
        current = _locked_row(session, key)
        new_content: bytes = decide(current)
        now = uow.clock.now()
        etag = etag_of(new_content)
        if current is not None:
            stored_type = current.content_type if keep_json_type and is_json(current.content_type) \
                else content_type
            session.execute(update(_TABLE).where(_TABLE.c.id == current.id).values(
                content=new_content, content_type=stored_type, etag=etag, updated_at=now,
                updated_by=uow.actor.username))
            logger.debug("xapi %s document %r updated", scope.kind, document_id)
            return WriteResult(etag, now, created=False)
        inserted = session.execute(_insert(session).values(
            doc_key=key, scope_key=scope.scope_key, kind=scope.kind, activity_id=scope.activity_id,
            agent_key=scope.agent_key, registration=scope.registration, document_id=document_id,
            content=new_content, content_type=content_type, etag=etag, created_at=now, updated_at=now,
            created_by=uow.actor.username, updated_by=uow.actor.username,
        ).on_conflict_do_nothing(index_elements=["doc_key"]).returning(_TABLE.c.id))
        if inserted.first() is not None:
            logger.debug("xapi %s document %r created", scope.kind, document_id)
            return WriteResult(etag, now, created=True)
        # Another transaction created it between our read and insert: decide again against it.
    raise Conflict(f"document {document_id!r} is being changed by other requests right now; retry",
                   code="write_contention")


def delete_document(uow: UnitOfWork, scope: DocumentScope, document_id: str, *,
                    preconditions: Preconditions) -> bool:
    """Delete one document (deleting a missing one is not an error, unless If-Match was sent).

    Returns:
        Whether a document was deleted.

    Raises:
        PreconditionFailed: If-Match / If-None-Match does not hold.
    """
    current = _locked_row(uow.session, scope.doc_key(document_id))
    preconditions.check(current.etag if current is not None else None)
    if current is None:
        return False
    uow.session.execute(delete(_TABLE).where(_TABLE.c.id == current.id))
    logger.debug("xapi %s document %r deleted", scope.kind, document_id)
    return True


def delete_documents(uow: UnitOfWork, scope: DocumentScope) -> int:
    """Delete every document of ``scope`` (every registration unless one is given).

    Returns:
        How many documents were deleted.
    """
    statement = delete(_TABLE).where(_TABLE.c.scope_key == scope.scope_key)
    if scope.registration is not None:
        statement = statement.where(_TABLE.c.registration == scope.registration)
    count = uow.session.execute(statement).rowcount
    logger.debug("xapi %s documents deleted: %d", scope.kind, count)
    return count

