"""Reports in the console: every report of the REST API as a page, with an "as of" date, and
downloadable as CSV and PDF (the same renderers as the API).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from flask import Blueprint, Flask, Response, render_template, request

from bridge.core.console import console_page, register_menu
from bridge.core.uow import UnitOfWork
from qms import console_forms as forms
from qms.reports import catalog
from qms.reports import render as rendering
from qms.reports.models import Report
from qms.roles import READERS
from qms.training import matrix_grid

logger = logging.getLogger(__name__)

pages = Blueprint("reports_console", __name__, url_prefix="/console/reports", template_folder="templates")
ROWS_SHOWN = 500


def _values(uow: UnitOfWork, kind: catalog.ReportKind) -> dict[str, Any]:
    session, values = uow.session, {}
    for param in kind.params:
        raw = request.args.get(param.name, "")
        if param.kind == "person":
            found = forms.people(session, raw, param.name)
        elif param.kind == "document":
            found = forms.documents(session, raw, param.name)
        else:
            found = None
        if found is not None:
            values[param.name] = found[0] if found else None
        elif param.kind in ("int", "department"):
            values[param.name] = forms.int_arg(raw)
        elif param.kind == "date":
            values[param.name] = forms.parse_datetime(raw, param.name, required=False)
        else:
            values[param.name] = raw.strip() or None
    return values


def _as_of(uow: UnitOfWork) -> dt.datetime | None:
    """The past moment asked about: the end of the date asked (UTC); None for now (no date, or a
    date whose end is not yet past).
    """
    now = uow.clock.now()
    day = forms.parse_datetime(request.args.get("as_of"), "as_of", required=False)
    if day is None:
        return None
    end = day + dt.timedelta(days=1) - dt.timedelta(microseconds=1)
    return end if end < now else None


def _generated_by(uow: UnitOfWork) -> str:
    actor = uow.actor
    return f"{actor.display_name or actor.username} ({actor.username})"


@pages.get("/")
@console_page(*READERS)
def index(uow: UnitOfWork) -> Any:
    """The list of reports."""
    return render_template("reports/console/index.html", kinds=catalog.KINDS.values(), page_title="Reports")


@pages.get("/<key>")
@console_page(*READERS)
def show(key: str, uow: UnitOfWork) -> Any:
    """One report as a page (``?format=csv|pdf`` downloads it)."""
    kind = catalog.get_kind(key)
    fmt = request.args.get("format", "html")
    ready = bool(request.args) and all(request.args.get(p.name) for p in kind.params if p.required)
    report: Report | None = None
    if ready:
        report = kind.build(uow.session, _values(uow, kind), _generated_by(uow), uow.clock.now(), _as_of(uow))
    if report is not None and fmt in ("csv", "pdf"):
        content, media_type = rendering.render(report, fmt)
        stamp = report.generated_at.strftime("%Y%m%dT%H%M%SZ")
        logger.info("console report %s as %s for %s", key, fmt, report.generated_by)
        return Response(
            content,
            content_type=media_type,
            headers={
                "Content-Disposition": f'attachment; filename="{report.key}-{stamp}.{fmt}"',
                "Cache-Control": "no-store",
            },
        )
    departments = (
        matrix_grid.departments(uow.session) if any(p.kind == "department" for p in kind.params) else []
    )
    return render_template(
        "reports/console/report.html",
        kind=kind,
        report=report,
        rows_shown=ROWS_SHOWN,
        departments=departments,
        page_title=kind.title,
    )


def init_app(app: Flask) -> None:
    """Serve the report pages and list them under "Reports"."""
    app.register_blueprint(pages)
    register_menu(app, "Reports", "All reports", "reports_console.index", roles=READERS, order=10)
