"""Rendering a report as JSON, CSV or PDF."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path
from typing import Any

from bridge.core import audit
from qms.reports.models import Report, Section


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
