"""Console pages of the audit trail (``/console/audit``): filter by record, person, action and
time; one record's full history with old and new values; verify the hash chain against its signed
checkpoints; export CSV and PDF. Inspection mode caps every list at the inspection moment.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from flask import Blueprint, render_template, request
from sqlalchemy import Select, func, select

from bridge.core import audit
from bridge.core.audit import AuditCheckpoint, AuditEvent
from bridge.core.console import as_of_or_now, console_as_of, console_page
from bridge.core.console.tables import Column, paginate, table_request
from bridge.core.errors import ValidationFailed
from bridge.core.pages import exports
from bridge.core.uow import UnitOfWork

logger = logging.getLogger(__name__)

# Who reads the audit trail: quality staff and auditors (administrators see everything).
AUDIT_READERS = ("qa_author", "qa_approver", "auditor")
EXPORT_LIMIT = 20_000

pages = Blueprint("audit_console", __name__, url_prefix="/console/audit",
                  template_folder="templates")

COLUMNS = [
    Column("seq", "Seq", sort=AuditEvent.seq, numeric=True),
    Column("occurred_at", "When (UTC)", sort=AuditEvent.occurred_at),
    Column("actor", "Who", sort=AuditEvent.actor_username),
    Column("action", "Action", sort=AuditEvent.action),
    Column("record", "Record", sort=AuditEvent.entity_type),
    Column("changes", "Changes"),
    Column("reason", "Reason"),
]
EXPORT_COLUMNS = [("seq", "Seq"), ("occurred_at", "When (UTC)"), ("actor", "Who"),
                  ("action", "Action"), ("entity_type", "Record type"), ("entity_id", "Record id"),
                  ("old_values", "Old values"), ("new_values", "New values"), ("reason", "Reason")]


def _moment(raw: str | None, field: str) -> dt.datetime | None:
    if not raw:
        return None
    try:
        value = dt.datetime.fromisoformat(raw.strip())
    except ValueError as exc:
        raise ValidationFailed(f"{field}: give a date YYYY-MM-DD or a date and time", field=field) from exc
    return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)


def _filtered(uow: UnitOfWork) -> tuple[Select[Any], dict[str, Any]]:
    """The audit rows the query string asks for, capped at the inspection moment."""
    args = request.args
    filters = {k: (args.get(k) or "").strip() for k in
               ("entity_type", "entity_id", "person", "action", "since", "until")}
    since, until = _moment(filters["since"], "since"), _moment(filters["until"], "until")
    if filters["until"] and len(filters["until"]) == 10 and until is not None:
        until += dt.timedelta(days=1)  # a date in "until" includes that day
    moment = console_as_of()
    if moment is not None:
        until = min(until, moment + dt.timedelta(microseconds=1)) if until else \
            moment + dt.timedelta(microseconds=1)
    stmt = select(AuditEvent)
    if filters["entity_type"]:
        stmt = stmt.where(AuditEvent.entity_type == filters["entity_type"])
    if filters["entity_id"]:
        stmt = stmt.where(AuditEvent.entity_id == filters["entity_id"])
    if filters["person"]:
        like = f"%{filters['person'].lower()}%"
        stmt = stmt.where(func.lower(AuditEvent.actor_username).like(like)
                          | func.lower(AuditEvent.actor_name).like(like))
    if filters["action"]:
        stmt = stmt.where(AuditEvent.action == filters["action"])
    if since is not None:
        stmt = stmt.where(AuditEvent.occurred_at >= since)
    if until is not None:
        stmt = stmt.where(AuditEvent.occurred_at < until)
    return stmt, filters


def changes(event: AuditEvent) -> list[dict[str, Any]]:
    """The fields an audit row touched: name, old value, new value (readable text)."""
    old = event.old_values if isinstance(event.old_values, dict) else {}
    new = event.new_values if isinstance(event.new_values, dict) else {}
    rows = []
    for key in sorted(set(old) | set(new)):
        before, after = old.get(key), new.get(key)
        if event.action == "update" and before == after:
            continue
        rows.append({"field": key, "old": exports.cell_text(before) if key in old else "—",
                     "new": exports.cell_text(after) if key in new else "—"})
    return rows


def _options(uow: UnitOfWork) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    types = uow.session.scalars(select(AuditEvent.entity_type).distinct()
                                .order_by(AuditEvent.entity_type))
    actions = uow.session.scalars(select(AuditEvent.action).distinct().order_by(AuditEvent.action))
    return [(t, t) for t in types], [(a, a) for a in actions]


@pages.get("/")
@console_page(*AUDIT_READERS)
def trail(uow: UnitOfWork) -> Any:
    """The audit trail, newest first, filtered and paged."""
    table = table_request(COLUMNS, default_sort="seq", default_descending=True)
    stmt, filters = _filtered(uow)
    page = paginate(uow.session, stmt, table, tiebreak=[AuditEvent.seq])
    types, actions = _options(uow)
    return render_template("core_console/audit_trail.html", page=page, columns=COLUMNS,
                           table=table, filters=filters, types=types, actions=actions,
                           changes=changes, moment=as_of_or_now(uow), page_title="Audit trail")


@pages.get("/record/<entity_type>/<entity_id>")
@console_page(*AUDIT_READERS)
def record(entity_type: str, entity_id: str, uow: UnitOfWork) -> Any:
    """One record's full history, oldest first, each change with its old and new values."""
    moment = as_of_or_now(uow)
    events = [e for e in audit.history(uow.session, entity_type, entity_id)
              if e.occurred_at <= moment]
    return render_template("core_console/audit_record.html", events=events, changes=changes,
                           entity_type=entity_type, entity_id=entity_id, moment=moment,
                           page_title=f"History of {entity_type} {entity_id}")


@pages.get("/verify")
@console_page(*AUDIT_READERS)
def verify(uow: UnitOfWork) -> Any:
    """Recompute the whole hash chain and its signed checkpoints; show the result."""
    report = audit.verify_chain(uow.session)
    checkpoint = uow.session.scalar(select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc())
                                    .limit(1))
    logger.info("audit chain verified from the console by %s: ok=%s rows=%s",
                uow.actor.username, report.ok, report.count)
    return render_template("core_console/audit_verify.html", report=report, checkpoint=checkpoint,
                           verified_at=uow.clock.now(), page_title="Verify the audit chain")


@pages.get("/export.<fmt>")
@console_page(*AUDIT_READERS)
def export(fmt: str, uow: UnitOfWork) -> Any:
    """The filtered trail as CSV or PDF (oldest first, at most 20,000 rows), naming its moment."""
    stmt, filters = _filtered(uow)
    events = list(uow.session.scalars(stmt.order_by(AuditEvent.seq).limit(EXPORT_LIMIT + 1)))
    rows = [{"seq": e.seq, "occurred_at": e.occurred_at,
             "actor": f"{e.actor_name} ({e.actor_username})", "action": e.action,
             "entity_type": e.entity_type, "entity_id": e.entity_id,
             "old_values": e.old_values, "new_values": e.new_values, "reason": e.reason}
            for e in events[:EXPORT_LIMIT]]
    summary = [("Filters", {k: v for k, v in filters.items() if v} or "none"),
               ("Rows", len(rows)),
               ("Truncated", "yes, at 20,000 rows" if len(events) > EXPORT_LIMIT else "no")]
    return exports.export_response(fmt, EXPORT_COLUMNS, rows, key="audit-trail",
                                   title="Audit trail", moment=as_of_or_now(uow),
                                   generated_by=exports.generated_by(uow.actor), summary=summary)
