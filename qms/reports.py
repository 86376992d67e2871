"""Inspection reports (Part 11 §11.10(b): accurate and complete copies, human-readable and
electronic): person transcript, document training status, matrix compliance, overdue
training, CAPA training linkage, deviation training adequacy and the audit trail.

Each report is built once as a :class:`Report` from the quality system's own read models
(``qms.services``, ``qms.capa``, ``qms.deviations``) and rendered as JSON, CSV or PDF. The
PDF carries the title, the UTC generation time, who generated it, the filters, the
e-signature manifestations of signed records, the tables and page numbers.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.core import audit
from bridge.core.audit import AuditEvent
from bridge.core.errors import ValidationFailed
from bridge.core.people import Person
from bridge.core.signatures import ElectronicSignature, signatures_of
from qms import capa as capas
from qms import compliance, deviations, services
from qms.models import (
    OPEN_ASSIGNMENT_STATUSES,
    Assignment,
    Department,
    DocumentVersion,
    TrainingItem,
    TrainingItemVersion,
)

logger = logging.getLogger(__name__)

FORMATS = {"json": "application/json", "csv": "text/csv", "pdf": "application/pdf"}
AUDIT_TRAIL_MAX_ROWS = 10_000


@dataclass
class Section:
    """One table of a report: its title, its columns (key, heading) and its rows."""

    title: str
    columns: list[tuple[str, str]]
    rows: list[dict[str, Any]]


@dataclass
class Report:
    """A report ready to render: metadata, signed-record manifestations, tables and the raw data."""

    key: str
    title: str
    generated_by: str
    filters: dict[str, Any]
    sections: list[Section]
    data: Any
    generated_at: dt.datetime
    summary: list[tuple[str, Any]] = field(default_factory=list)
    signatures: list[str] = field(default_factory=list)


# -- building ------------------------------------------------------------------------------------


def _line(signature: ElectronicSignature) -> str:
    """The §11.50 manifestation, with the signer's comment when there is one."""
    line = signature.manifestation()
    return f"{line} ({signature.comment})" if signature.comment else line


def _manifestations(session: Session, record_type: str, record_id: int) -> list[str]:
    return [_line(s) for s in signatures_of(session, record_type, record_id)]


def person_transcript(session: Session, person_id: int, *, generated_by: str, now: dt.datetime) -> Report:
    """A person's signed completions, assignments and requirement status (``services.transcript``)."""
    data = services.transcript(session, person_id, now=now)
    person = data["person"]
    return Report(
        generated_at=now,
        key=f"transcript-{person_id}",
        title=f"Training transcript — {person['display_name']}",
        generated_by=generated_by,
        filters={"person_id": person_id},
        summary=[
            (
                "Person",
                f"{person['display_name']} (id {person['id']}, employee no. {person['employee_no'] or '—'})",
            ),
            ("Active", "yes" if person["active"] else "no"),
            ("Completions", len(data["completions"])),
            ("Assignments", len(data["assignments"])),
        ],
        sections=[
            Section(
                "Completions (each names the exact version and its signatures)",
                [
                    ("item_code", "Item"),
                    ("version_label", "Version"),
                    ("method", "Method"),
                    ("completed_at", "Completed (UTC)"),
                    ("score_scaled", "Score"),
                    ("signature", "Signature"),
                    ("trainer_signature", "Trainer signature"),
                ],
                data["completions"],
            ),
            Section(
                "Assignments",
                [
                    ("item", "Item"),
                    ("version", "Version"),
                    ("reason", "Reason"),
                    ("source", "Source"),
                    ("status", "Status"),
                    ("assigned_at", "Assigned (UTC)"),
                    ("due_at", "Due (UTC)"),
                    ("completed_at", "Completed (UTC)"),
                ],
                [
                    {
                        **a,
                        "item": a["training_item"]["code"],
                        "version": a["version"]["label"],
                        "source": f"{a['source_type']} {a['source_id']}" if a["source_type"] else "",
                    }
                    for a in data["assignments"]
                ],
            ),
            Section(
                "Requirements (current state)",
                [
                    ("item_code", "Item"),
                    ("status", "Status"),
                    ("last_completed_at", "Last completed (UTC)"),
                    ("due_at", "Due (UTC)"),
                    ("expires_at", "Expires (UTC)"),
                ],
                data["requirements"],
            ),
        ],
        data=data,
    )


def document_status(session: Session, document_id: int, *, generated_by: str, now: dt.datetime) -> Report:
    """Per version of a document: assigned and trained; each person's current state."""
    data = services.document_training_status(session, document_id)
    document = data["document"]
    approvals = session.execute(
        select(DocumentVersion.label, ElectronicSignature)
        .join(ElectronicSignature, ElectronicSignature.id == DocumentVersion.approval_signature_id)
        .where(DocumentVersion.document_id == document_id)
        .order_by(DocumentVersion.seq)
    ).all()
    return Report(
        generated_at=now,
        key=f"document-training-{document['code']}",
        title=f"Document training status — {document['code']} {document['title']}",
        generated_by=generated_by,
        filters={"document_id": document_id},
        summary=[(f"People {status}", count) for status, count in sorted(data["state_counts"].items())],
        signatures=[f"{document['code']} {label}: {_line(signature)}" for label, signature in approvals],
        sections=[
            Section(
                "Versions",
                [
                    ("label", "Version"),
                    ("status", "Status"),
                    ("revision", "Revision"),
                    ("retrain", "Retrain"),
                    ("effective_at", "Effective (UTC)"),
                    ("affected", "Assigned"),
                    ("trained", "Trained"),
                    ("trained_pct", "Trained %"),
                ],
                data["versions"],
            ),
            Section(
                "People who need it",
                [
                    ("display_name", "Person"),
                    ("status", "Status"),
                    ("trained_version", "Trained on"),
                    ("due_at", "Due (UTC)"),
                ],
                [
                    {**p, "trained_version": _version_label(session, p["trained_version_id"])}
                    for p in data["people"]
                ],
            ),
        ],
        data=data,
    )


def _version_label(session: Session, item_version_id: int | None) -> str | None:
    if item_version_id is None:
        return None
    version = session.get(TrainingItemVersion, item_version_id)
    return version.label if version else None


def matrix_compliance(
    session: Session, *, department_id: int | None, generated_by: str, now: dt.datetime
) -> Report:
    """Matrix compliance by department and job function (``services.matrix_report``), department totals."""
    data = services.matrix_report(session, now=now, department_id=department_id)
    by_department: dict[str, dict[str, Any]] = {}
    for row in data["rows"]:
        total = by_department.setdefault(
            row["department"] or "(none)",
            {
                "department": row["department"] or "(none)",
                "pairs": 0,
                "compliant": 0,
                "due": 0,
                "overdue": 0,
                "exempt": 0,
            },
        )
        for key in ("pairs", "compliant", "due", "overdue", "exempt"):
            total[key] += row[key]
    for total in by_department.values():
        counted = total["pairs"] - total["exempt"]
        total["compliance_pct"] = round(100.0 * total["compliant"] / counted, 2) if counted else 100.0
    columns = [
        ("pairs", "Person × requirement"),
        ("compliant", "Compliant"),
        ("due", "Due"),
        ("overdue", "Overdue"),
        ("exempt", "Exempt"),
        ("compliance_pct", "Compliance %"),
    ]
    totals = data["totals"]
    return Report(
        generated_at=now,
        key="matrix-compliance",
        title="Training matrix compliance",
        generated_by=generated_by,
        filters={"department_id": department_id, "as_of": data["as_of"]},
        summary=[
            ("Person × requirement pairs", totals["pairs"]),
            ("Compliant", totals["compliant"]),
            ("Overdue", totals["overdue"]),
            ("Exempt", totals["exempt"]),
            ("Compliance %", totals["compliance_pct"]),
        ],
        sections=[
            Section("By department", [("department", "Department"), *columns], list(by_department.values())),
            Section(
                "By department and job function",
                [("department", "Department"), ("job_function", "Job function"), *columns],
                data["rows"],
            ),
        ],
        data={**data, "departments": list(by_department.values())},
    )


def overdue(session: Session, *, department_id: int | None, generated_by: str, now: dt.datetime) -> Report:
    """Open assignments past their due date, oldest due first, with each person's department now."""
    found = session.execute(
        select(Assignment, Person.display_name, TrainingItem.code, TrainingItemVersion.label)
        .join(Person, Person.id == Assignment.person_id)
        .join(TrainingItem, TrainingItem.id == Assignment.training_item_id)
        .join(TrainingItemVersion, TrainingItemVersion.id == Assignment.item_version_id)
        .where(Assignment.status.in_(OPEN_ASSIGNMENT_STATUSES), Assignment.due_at < now)
        .order_by(Assignment.due_at, Assignment.id)
    ).all()
    departments_of = compliance.current_departments(session, sorted({a.person_id for a, *_ in found}), now)
    codes = dict(session.execute(select(Department.id, Department.code)).all())
    rows = []
    for assignment, name, item_code, label in found:
        dept = departments_of.get(assignment.person_id)
        if department_id is not None and dept != department_id:
            continue
        rows.append(
            {
                "assignment_id": assignment.id,
                "person_id": assignment.person_id,
                "person": name,
                "department": codes.get(dept) if dept else None,
                "item": item_code,
                "version": label,
                "reason": assignment.reason,
                "source": f"{assignment.source_type} {assignment.source_id}"
                if assignment.source_type
                else "",
                "status": "overdue",
                "due_at": assignment.due_at,
                "days_overdue": (now - assignment.due_at).days,
            }
        )
    return Report(
        generated_at=now,
        key="overdue-training",
        title="Overdue training",
        generated_by=generated_by,
        filters={"department_id": department_id, "as_of": now},
        summary=[("Overdue assignments", len(rows)), ("People", len({r["person_id"] for r in rows}))],
        sections=[
            Section(
                "Overdue assignments",
                [
                    ("person", "Person"),
                    ("department", "Department"),
                    ("item", "Item"),
                    ("version", "Version"),
                    ("reason", "Reason"),
                    ("source", "Source"),
                    ("due_at", "Due (UTC)"),
                    ("days_overdue", "Days late"),
                ],
                rows,
            )
        ],
        data={"as_of": now, "rows": rows},
    )


def capa_training(
    session: Session, *, capa_id: int | None, status: str | None, generated_by: str, now: dt.datetime
) -> Report:
    """Every training assignment of CAPA training actions, and whether it blocks closure."""
    chosen = (
        [capas.get_capa(session, capa_id)]
        if capa_id is not None
        else capas.list_capas(session, status=status)
    )
    rows = []
    per_capa = []
    signed: list[str] = []
    for capa in chosen:
        linkage = capas.training_linkage(session, capa)
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
        signed.extend(f"{capa.number}: {m}" for m in _manifestations(session, "qms_capa", capa.id))
    title = "CAPA training linkage" + (f" — {chosen[0].number}" if capa_id is not None else "")
    return Report(
        generated_at=now,
        key=f"capa-training-{chosen[0].number}" if capa_id is not None else "capa-training",
        title=title,
        generated_by=generated_by,
        filters={"capa_id": capa_id, "status": status},
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
    result = deviations.training_adequacy(session, deviation)
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
            "signature_valid": deviations.verify_assessment(session, deviation, a),
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
        signatures=_manifestations(session, "qms_deviation", deviation.id),
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
                    ("entity_type", "Record"),
                    ("entity_id", "Id"),
                    ("old_values", "Old values"),
                    ("new_values", "New values"),
                    ("reason", "Reason"),
                ],
                rows,
            )
        ],
        data={"rows": rows, "truncated": truncated, "chain": chain},
    )


# -- rendering -----------------------------------------------------------------------------------


def _text(value: Any, *, readable: bool = False) -> str:
    """A cell as text: UTC times, yes/no, empty for nothing; structures as JSON, or as
    ``key: value`` pairs when ``readable`` (the PDF).
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    if readable and isinstance(value, dict):
        return "; ".join(f"{k}: {_text(v, readable=True) or '∅'}" for k, v in sorted(value.items()))
    if isinstance(value, dict | list | tuple):
        return audit.canonical_json(audit.jsonable(value))
    return str(value)


def _column_widths(section: Section, usable: float, regular: str, bold: str, size: float) -> list[float]:
    """Column widths (points) that keep headings and short codes on one line and give the
    rest of the page to the columns with long text.
    """
    from reportlab.pdfbase.pdfmetrics import stringWidth

    pad = 13.0  # the table's left and right cell padding, and a hair
    minimum, natural = [], []
    for key, heading in section.columns:
        texts = [_text(row.get(key), readable=True) for row in section.rows[:200]]
        words = [stringWidth(w, bold, size) for w in heading.split()]
        words += [stringWidth(w, regular, size) for text in texts for w in text.split() if len(w) <= 24]
        minimum.append(max(words, default=20.0) + pad)
        longest = max((stringWidth(t, regular, size) for t in texts), default=0.0)
        natural.append(max(minimum[-1], min(longest, 240.0) + pad))
    if sum(natural) <= usable:
        return [usable * n / sum(natural) for n in natural]
    if sum(minimum) >= usable:
        return [usable * m / sum(minimum) for m in minimum]
    spare = usable - sum(minimum)
    extra = [n - m for n, m in zip(natural, minimum, strict=True)]
    return [m + spare * e / sum(extra) for m, e in zip(minimum, extra, strict=True)]


def _csv_cell(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    text = _text(value)
    # A cell that a spreadsheet would run as a formula is prefixed (CSV injection).
    if text and text[0] in "=+-@\t\r" and not isinstance(value, int | float):
        return "'" + text
    return text


def to_json(report: Report) -> dict[str, Any]:
    """The report as a JSON document: metadata, summary, signatures, tables and raw data."""
    return {
        "report": report.key,
        "title": report.title,
        "generated_at": report.generated_at,
        "generated_by": report.generated_by,
        "filters": report.filters,
        "summary": [{"label": label, "value": value} for label, value in report.summary],
        "signatures": report.signatures,
        "sections": [
            {
                "title": s.title,
                "columns": [{"key": k, "heading": h} for k, h in s.columns],
                "rows": [{k: row.get(k) for k, _h in s.columns} for row in s.rows],
            }
            for s in report.sections
        ],
        "data": report.data,
    }


def to_csv(report: Report) -> str:
    """The report's tables as one CSV: a ``section`` column, then the union of the sections' columns."""
    keys: list[str] = []
    headings: dict[str, str] = {}
    for section in report.sections:
        for key, heading in section.columns:
            if key not in headings:
                keys.append(key)
                headings[key] = heading
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["section", *keys])
    for section in report.sections:
        for row in section.rows:
            writer.writerow(
                [section.title, *(_csv_cell(row.get(k)) if k in dict(section.columns) else "" for k in keys)]
            )
    return out.getvalue()


_FONT_CANDIDATES = (
    (
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    ),
)


def _fonts() -> tuple[str, str]:
    """A Unicode TrueType font pair (DejaVu when installed, else the Vera fonts reportlab ships)."""
    from reportlab import rl_config  # noqa: F401 - ensures the package data path is known
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    if "GxpSans" in pdfmetrics.getRegisteredFontNames():
        return "GxpSans", "GxpSans-Bold"
    import reportlab

    bundled = Path(reportlab.__file__).parent / "fonts"
    pairs = [*_FONT_CANDIDATES, (str(bundled / "Vera.ttf"), str(bundled / "VeraBd.ttf"))]
    for regular, bold in pairs:
        if Path(regular).is_file() and Path(bold).is_file():
            pdfmetrics.registerFont(TTFont("GxpSans", regular))
            pdfmetrics.registerFont(TTFont("GxpSans-Bold", bold))
            return "GxpSans", "GxpSans-Bold"
    return "Helvetica", "Helvetica-Bold"


def to_pdf(report: Report) -> bytes:
    """The report as an inspection-ready PDF (landscape A4, repeated table headers, "Page n of m")."""
    from xml.sax.saxutils import escape

    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.pdfbase.pdfmetrics import stringWidth
    from reportlab.pdfgen import canvas as pdfcanvas
    from reportlab.platypus import LongTable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    regular, bold = _fonts()
    styles = getSampleStyleSheet()
    title_style = ParagraphStyle("GxpTitle", parent=styles["Title"], fontName=bold, fontSize=16, leading=20)
    heading = ParagraphStyle("GxpHeading", parent=styles["Heading2"], fontName=bold, fontSize=11, leading=14)
    body = ParagraphStyle("GxpBody", parent=styles["BodyText"], fontName=regular, fontSize=9, leading=11)
    cell = ParagraphStyle("GxpCell", parent=body, fontSize=7, leading=8.5)
    head_cell = ParagraphStyle("GxpHeadCell", parent=cell, fontName=bold)
    generated = _text(report.generated_at)

    def _cell(text: str, width: float) -> Any:
        # A paragraph wraps but costs far more to lay out: plain text when it fits the column.
        if "\n" not in text and stringWidth(text, regular, 7) <= width - 13:
            return text
        return Paragraph(escape(text), cell)

    footer_left = f"{report.title} — generated {generated} by {report.generated_by}"

    class NumberedCanvas(pdfcanvas.Canvas):
        """Defers page output until the page count is known, to print "Page n of m"."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._pages: list[dict[str, Any]] = []

        def showPage(self) -> None:  # noqa: N802 - reportlab's API
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._pages)
            for state in self._pages:
                self.__dict__.update(state)
                width, _height = self._pagesize
                self.setFont(regular, 7)
                self.setFillColor(colors.grey)
                self.drawString(12 * mm, 8 * mm, footer_left[:180])
                self.drawRightString(width - 12 * mm, 8 * mm, f"Page {self._pageNumber} of {total}")
                super().showPage()
            super().save()

    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=landscape(A4),
        leftMargin=12 * mm,
        rightMargin=12 * mm,
        topMargin=12 * mm,
        bottomMargin=15 * mm,
        title=report.title,
        author=report.generated_by,
        creator="GxP Bridge",
        subject=f"{report.key} generated {generated}",
    )
    story: list[Any] = [Paragraph(escape(report.title), title_style)]
    meta = [("Generated at", generated), ("Generated by", report.generated_by)]
    filters = ", ".join(f"{k} = {_text(v)}" for k, v in report.filters.items() if v is not None) or "none"
    meta.append(("Filters", filters))
    meta.extend((label, _text(value)) for label, value in report.summary)
    meta_table = Table(
        [[Paragraph(escape(k), head_cell), Paragraph(escape(str(v)), body)] for k, v in meta],
        colWidths=[55 * mm, None],
        hAlign="LEFT",
    )
    meta_table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
                ("TOPPADDING", (0, 0), (-1, -1), 1),
            ]
        )
    )
    story.append(meta_table)
    if report.signatures:
        story.append(Spacer(1, 4 * mm))
        story.append(Paragraph("Electronic signatures (21 CFR Part 11 §11.50)", heading))
        story.extend(Paragraph(escape(line), body) for line in report.signatures)
    usable = landscape(A4)[0] - 24 * mm
    for section in report.sections:
        story.append(Spacer(1, 4 * mm))
        story.append(Paragraph(escape(f"{section.title} ({len(section.rows)})"), heading))
        if not section.rows:
            story.append(Paragraph("No rows.", body))
            continue
        widths = _column_widths(section, usable, regular, bold, 7)
        data = [[Paragraph(escape(h), head_cell) for _k, h in section.columns]]
        data.extend(
            [
                _cell(_text(row.get(k), readable=True)[:3000], width)
                for (k, _h), width in zip(section.columns, widths, strict=True)
            ]
            for row in section.rows
        )
        table = LongTable(data, colWidths=widths, repeatRows=1)
        table.setStyle(
            TableStyle(
                [
                    ("FONTNAME", (0, 1), (-1, -1), regular),
                    ("FONTSIZE", (0, 1), (-1, -1), 7),
                    ("LEADING", (0, 1), (-1, -1), 8.5),
                    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#dde3ea")),
                    ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#8a94a0")),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#f5f7f9")]),
                ]
            )
        )
        story.append(table)
    doc.build(story, canvasmaker=NumberedCanvas)
    return buffer.getvalue()


def render(report: Report, fmt: str) -> tuple[bytes, str]:
    """Render ``report`` as ``json``, ``csv`` or ``pdf``: the bytes (JSON excepted) and the media type."""
    if fmt == "csv":
        return to_csv(report).encode("utf-8-sig"), "text/csv; charset=utf-8"
    if fmt == "pdf":
        return to_pdf(report), "application/pdf"
    raise ValueError(f"render JSON with to_json, not {fmt!r}")
