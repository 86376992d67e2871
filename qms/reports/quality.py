"""Reports on quality records: CAPA training linkage, deviation training adequacy, and the
audit trail.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.core import audit
from bridge.core.audit import AuditEvent
from bridge.core.errors import ValidationFailed
from bridge.core.signatures import ElectronicSignature
from qms.capa import services as capas
from qms.deviations import assessments as deviation_assessments
from qms.deviations import services as deviations
from qms.reports import labels
from qms.reports import services as reports
from qms.reports.models import Report, Section


def capa_training(
    session: Session,
    *,
    capa_id: int | None,
    status: str | None,
    generated_by: str,
    now: dt.datetime,
    at: dt.datetime | None = None,
) -> Report:
    """Every training assignment of CAPA training actions, and whether it blocks closure.

    Now, or as it stood at ``at`` (statuses at that moment, supersessions made by then).
    """
    chosen = (
        [capas.get_capa(session, capa_id)]
        if capa_id is not None
        else capas.list_capas(session, status=status)
    )
    rows = []
    per_capa = []
    signed: list[str] = []
    for capa in chosen:
        linkage = capas.training_linkage(session, capa, at)
        per_capa.append(
            {
                "capa_id": capa.id,
                "number": capa.number,
                "title": capa.title,
                "status": capa.status,
                "assignments": len(linkage),
                "open": sum(1 for r in linkage if r["open"]),
            }
        )
        rows.extend({**r, "capa": capa.number, "capa_status": capa.status} for r in linkage)
        signed.extend(f"{capa.number}: {m}" for m in reports.manifestations(session, "qms_capa", capa.id))
    title = "CAPA training linkage" + (f" — {chosen[0].number}" if capa_id is not None else "")
    return Report(
        generated_at=now,
        key=f"capa-training-{chosen[0].number}" if capa_id is not None else "capa-training",
        title=title,
        generated_by=generated_by,
        filters={"capa_id": capa_id, "status": status, "as_of": at or now},
        summary=[
            ("CAPAs", len(per_capa)),
            ("Training assignments", len(rows)),
            ("Open (blocking closure)", sum(1 for r in rows if r["open"])),
        ],
        signatures=signed,
        sections=[
            Section(
                "CAPAs",
                [
                    ("number", "CAPA"),
                    ("title", "Title"),
                    ("status", "Status"),
                    ("assignments", "Assignments"),
                    ("open", "Open"),
                ],
                per_capa,
            ),
            Section(
                "Training assignments",
                [
                    ("capa", "CAPA"),
                    ("action_seq", "Action"),
                    ("person", "Person"),
                    ("item", "Item"),
                    ("version", "Version"),
                    ("status", "Status"),
                    ("due_at", "Due (UTC)"),
                    ("closed_at", "Closed (UTC)"),
                    ("completion_id", "Completion"),
                ],
                rows,
            ),
        ],
        data={"capas": per_capa, "rows": rows},
    )


def deviation_adequacy(session: Session, deviation_id: int, *, generated_by: str, now: dt.datetime) -> Report:
    """The training adequacy of a deviation computed now, and every recorded (signed) assessment."""
    deviation = deviations.get_deviation(session, deviation_id)
    result = deviation_assessments.training_adequacy(session, deviation)
    recorded = deviations.assessments_of(session, deviation.id)
    signature_lines = {
        s.id: s.manifestation()
        for s in session.scalars(
            select(ElectronicSignature).where(
                ElectronicSignature.id.in_([a.signature_id for a in recorded] or [0])
            )
        )
    }
    recorded_rows = [
        {
            "id": a.id,
            "assessed_at": a.assessed_at,
            "pairs": a.pairs,
            "trained_pairs": a.trained,
            "conclusion": a.conclusion,
            "rationale": a.rationale,
            "signature": signature_lines.get(a.signature_id),
            "signature_valid": deviation_assessments.verify_assessment(session, deviation, a),
        }
        for a in recorded
    ]
    rows = [
        {
            **r,
            "version": r["version_in_force"]["label"] if r["version_in_force"] else None,
            "completion_id": r["completion"]["id"] if r["completion"] else None,
            "completed_version": r["completion"]["version"] if r["completion"] else None,
            "completed_at": r["completion"]["completed_at"] if r["completion"] else None,
        }
        for r in result["rows"]
    ]
    return Report(
        generated_at=now,
        key=f"training-adequacy-{deviation.number}",
        title=f"Training adequacy — {deviation.number} {deviation.title}",
        generated_by=generated_by,
        filters={"deviation_id": deviation_id},
        summary=[
            ("Deviation", f"{deviation.number} ({deviation.classification}, {deviation.status})"),
            ("Occurred at", deviation.occurred_at),
            ("Person × document pairs", result["pairs"]),
            ("Trained at that moment", result["trained"]),
            ("Not trained", result["untrained"]),
        ],
        signatures=reports.manifestations(session, "qms_deviation", deviation.id),
        sections=[
            Section(
                "Was each person trained on the version effective at that moment?",
                [
                    ("person", "Person"),
                    ("document", "Document"),
                    ("version", "Version in force"),
                    ("trained", "Trained"),
                    ("completion_id", "Completion"),
                    ("completed_version", "Completed version"),
                    ("completed_at", "Completed (UTC)"),
                    ("explanation", "Why"),
                ],
                rows,
            ),
            Section(
                "Recorded assessments",
                [
                    ("assessed_at", "Recorded (UTC)"),
                    ("trained_pairs", "Trained"),
                    ("pairs", "Pairs"),
                    ("conclusion", "Conclusion"),
                    ("rationale", "Rationale"),
                    ("signature", "Signature"),
                    ("signature_valid", "Signature verifies"),
                ],
                recorded_rows,
            ),
        ],
        data={**result, "recorded": recorded_rows},
    )


SUMMARY_FIELDS = 8
SUMMARY_VALUE_CHARS = 60


def _short(value: Any) -> str:
    if value is None or value == "":
        return "∅"
    plain = audit.jsonable(value)
    if isinstance(plain, dict):
        text = ", ".join(f"{k} {_short(v)}" for k, v in sorted(plain.items()))
    elif isinstance(plain, list):
        text = ", ".join(_short(v) for v in plain) or "none"
    else:
        text = str(plain)
    return text if len(text) <= SUMMARY_VALUE_CHARS else text[: SUMMARY_VALUE_CHARS - 1] + "…"


def change_summary(action: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> str:
    """An audit row's change in a few words: changed fields (old → new) for an update, the set
    fields for a creation; long values cut, at most a few fields (the JSON keeps everything).
    """
    old, new = old or {}, new or {}
    if old and new:
        parts = [
            f"{k}: {_short(old.get(k))} → {_short(new.get(k))}"
            for k in sorted(set(old) | set(new))
            if old.get(k) != new.get(k)
        ]
    elif new:
        parts = [f"{k} = {_short(v)}" for k, v in sorted(new.items()) if v not in (None, "", [], {})]
    elif old:
        parts = [f"was {k} = {_short(v)}" for k, v in sorted(old.items()) if v not in (None, "", [], {})]
    else:
        parts = []
    shown = "; ".join(parts[:SUMMARY_FIELDS])
    if len(parts) > SUMMARY_FIELDS:
        shown += f"; … (+{len(parts) - SUMMARY_FIELDS} more fields)"
    return shown or labels.words(action)


def audit_trail(
    session: Session,
    *,
    entity_type: str | None,
    entity_id: str | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
    limit: int,
    generated_by: str,
    now: dt.datetime,
    verify: bool = False,
) -> Report:
    """Audit rows filtered by record and time, oldest first (at most ``limit``); with
    ``verify``, the whole hash chain is recomputed and its integrity stated.
    """
    if entity_id is not None and entity_type is None:
        raise ValidationFailed("filtering by entity_id needs entity_type", field="entity_type")
    if since is not None and until is not None and until < since:
        raise ValidationFailed("until is before since", field="until", code="empty_period")
    query = select(AuditEvent).order_by(AuditEvent.seq)
    if entity_type is not None:
        query = query.where(AuditEvent.entity_type == entity_type)
    if entity_id is not None:
        query = query.where(AuditEvent.entity_id == entity_id)
    if since is not None:
        query = query.where(AuditEvent.occurred_at >= since)
    if until is not None:
        query = query.where(AuditEvent.occurred_at < until)
    events = list(session.scalars(query.limit(limit + 1)))
    truncated = len(events) > limit
    rows = [
        {
            "seq": e.seq,
            "occurred_at": e.occurred_at,
            "actor": f"{e.actor_name} ({e.actor_username})",
            "action": e.action,
            "entity_type": e.entity_type,
            "entity_id": e.entity_id,
            "record": f"{labels.words(e.entity_type.removeprefix('qms_'))} {e.entity_id}",
            "changes": change_summary(e.action, e.old_values, e.new_values),
            "old_values": e.old_values,
            "new_values": e.new_values,
            "reason": e.reason,
            "row_hash": e.row_hash,
        }
        for e in events[:limit]
    ]
    summary: list[tuple[str, Any]] = [
        ("Rows", len(rows)),
        ("Truncated at the limit", "yes" if truncated else "no"),
    ]
    chain: dict[str, Any] | None = None
    if verify:
        check = audit.verify_chain(session)
        chain = {
            "ok": check.ok,
            "rows": check.count,
            "first_bad_seq": check.first_bad_seq,
            "problem": check.problem,
        }
        summary.append(
            (
                "Hash chain (whole trail)",
                f"verified, {check.count} rows" if check.ok else f"BROKEN: {check.problem}",
            )
        )
    return Report(
        generated_at=now,
        key="audit-trail",
        title="Audit trail",
        generated_by=generated_by,
        filters={
            "entity_type": entity_type,
            "entity_id": entity_id,
            "since": since,
            "until": until,
            "limit": limit,
            "verify": verify,
        },
        summary=summary,
        sections=[
            Section(
                "Audit events (append-only, hash-chained)",
                [
                    ("seq", "Seq"),
                    ("occurred_at", "When (UTC)"),
                    ("actor", "Who"),
                    ("action", "Action"),
                    ("record", "Record"),
                    ("changes", "What changed"),
                    ("reason", "Reason"),
                ],
                rows,
            )
        ],
        data={"rows": rows, "truncated": truncated, "chain": chain},
    )
