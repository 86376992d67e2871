"""Long exports run by the worker, never in the request: a small job table (``console_job``),
a handler registry packages fill (``register_export``), the worker's sweep, and the pages that
queue a job and poll its progress (htmx, every second) until its file can be downloaded.

A handler ``(uow, params, progress) -> (content, media_type, file_name)`` runs in a read-only unit
of work as the user who asked; ``progress(percent, message)`` commits at once in a unit of work of
its own, so the page sees it while the job runs.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask, Response, current_app, redirect, render_template, request, url_for
from sqlalchemy import Index, Integer, LargeBinary, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column

from bridge.core import accounts
from bridge.core.actor import SYSTEM
from bridge.core.clock import column_now
from bridge.core.console import console_page
from bridge.core.db import Base, Database, JSONType, UTCDateTime
from bridge.core.errors import Forbidden, NotFound, ValidationFailed
from bridge.core.jobs import register_sweep
from bridge.core.uow import UnitOfWork

logger = logging.getLogger(__name__)

Progress = Callable[[int, str], None]
Handler = Callable[[UnitOfWork, dict[str, Any], Progress], tuple[bytes, str, str]]
HANDLERS_KEY = "gxpbridge.console.exports"


class ConsoleJob(Base):
    """One queued export: who asked, for what, how far it got, and the file it made."""

    __tablename__ = "console_job"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64), nullable=False)
    params: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    requested_by: Mapped[str] = mapped_column(String(64), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="queued")
    progress: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    message: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=column_now)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    result: Mapped[bytes | None] = mapped_column(LargeBinary)
    media_type: Mapped[str | None] = mapped_column(String(100))
    file_name: Mapped[str | None] = mapped_column(String(255))
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_console_job_status", "status", "id"),)


def register_export(app: Flask, kind: str, handler: Handler) -> None:
    """Let the worker run exports of ``kind`` with ``handler`` (see the module's docstring)."""
    handlers: dict[str, Handler] = app.extensions.setdefault(HANDLERS_KEY, {})
    if kind in handlers:
        raise ValueError(f"export kind {kind!r} registered twice")
    handlers[kind] = handler


def _update(db: Database, job_id: int, **values: Any) -> None:
    with UnitOfWork(db, SYSTEM) as uow:
        job = uow.session.get(ConsoleJob, job_id)
        if job is not None:
            for name, value in values.items():
                setattr(job, name, value)
            uow.commit()


def run_queued(db: Database, handlers: dict[str, Handler], *, limit: int = 3) -> int:
    """Run up to ``limit`` queued jobs, oldest first; returns how many ran."""
    with UnitOfWork(db, SYSTEM, readonly=True) as uow:
        queued = list(uow.session.scalars(select(ConsoleJob.id).where(ConsoleJob.status == "queued")
                                          .order_by(ConsoleJob.id).limit(limit)))
    for job_id in queued:
        _update(db, job_id, status="running", progress=5, message="started")
        with UnitOfWork(db, SYSTEM, readonly=True) as uow:
            job = uow.session.get(ConsoleJob, job_id)
            assert job is not None
            kind, params, username = job.kind, dict(job.params), job.requested_by
        try:
            handler = handlers[kind]
            with UnitOfWork(db, SYSTEM, readonly=True) as lookup:
                actor = accounts.get_user(lookup.session, username).actor()
            with UnitOfWork(db, actor, readonly=True) as uow:
                content, media_type, file_name = handler(
                    uow, params, lambda pct, msg, job_id=job_id: _update(db, job_id, progress=pct,
                                                           message=msg[:200]))
        except Exception as exc:  # a failed export is shown on its page, the worker goes on
            logger.exception("console export %s (%s) failed", job_id, kind)
            _update(db, job_id, status="failed", error=str(exc)[:2000], message="failed",
                    finished_at=db.clock.now())
            continue
        _update(db, job_id, status="done", progress=100, message="ready", result=content,
                media_type=media_type, file_name=file_name, finished_at=db.clock.now())
        logger.info("console export %s (%s) done: %d bytes", job_id, kind, len(content))
    return len(queued)


pages = Blueprint("exports_console", __name__, url_prefix="/console/exports",
                  template_folder="templates")


def _own_job(uow: UnitOfWork, job_id: int) -> ConsoleJob:
    job = uow.session.get(ConsoleJob, job_id)
    if job is None:
        raise NotFound(f"no export {job_id}", field="job_id")
    if job.requested_by != uow.actor.username and not uow.actor.has_role("administrator"):
        raise Forbidden("this export belongs to someone else", field="job_id")
    return job


# Queuing an export writes no regulated record, only the user's own job: auditors may.
@pages.post("/")
@console_page(session_only=True)
def queue(uow: UnitOfWork) -> Any:
    """Queue an export of ``kind`` with the posted parameters; show its progress page."""
    kind = request.form.get("kind", "")
    if kind not in current_app.extensions.get(HANDLERS_KEY, {}):
        raise ValidationFailed(f"no export of kind {kind!r}", field="kind")
    params = {k: v for k, v in request.form.items() if k not in ("csrf_token", "kind")}
    job = ConsoleJob(kind=kind, params=params, requested_by=uow.actor.username)
    uow.session.add(job)
    uow.session.flush()
    logger.info("%s queued console export %s (%s)", uow.actor.username, job.id, kind)
    return redirect(url_for(".status", job_id=job.id), code=303)


@pages.get("/<int:job_id>")
@console_page()
def status(job_id: int, uow: UnitOfWork) -> Any:
    """The job's progress (the fragment polls itself every second until it is done)."""
    job = _own_job(uow, job_id)
    template = "core_console/export_progress.html" if request.headers.get("HX-Request") \
        else "core_console/export.html"
    return render_template(template, job=job, page_title="Export")


@pages.get("/<int:job_id>/download")
@console_page()
def download(job_id: int, uow: UnitOfWork) -> Any:
    """The finished file, as an attachment."""
    job = _own_job(uow, job_id)
    if job.status != "done" or job.result is None:
        raise ValidationFailed("this export is not ready", field="job_id", code="not_ready")
    return Response(job.result, content_type=job.media_type, headers={
        "Content-Disposition": f'attachment; filename="{job.file_name}"',
        "Cache-Control": "no-store"})


def init_app(app: Flask) -> None:
    """Serve the export pages and have the worker run queued exports every 5 seconds."""
    app.register_blueprint(pages)
    handlers: dict[str, Handler] = app.extensions.setdefault(HANDLERS_KEY, {})
    register_sweep(app, "console.exports", lambda uow: run_queued(uow.db, handlers), 5)
