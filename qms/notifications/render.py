"""Text and HTML parts of each notice from its templates (Jinja; HTML autoescaped)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy import select
from sqlalchemy.orm import Session

from qms.documents.models import TrainingItem, TrainingItemVersion
from qms.training.models import Assignment

logger = logging.getLogger(__name__)

TEMPLATES = Path(__file__).resolve().parent / "templates"

_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


def _assignments(ids: list[int], shown: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    return [shown[i] for i in ids if i in shown]


def expand(session: Session, context: dict[str, Any], *, base: str, zone: ZoneInfo) -> dict[str, Any]:
    """A notice's recorded context as its templates read it: the assignments it names (by id)
    as they are now, with their links and due dates in the site's time zone; people with the
    link to their record.
    """
    ids = list(context.get("assignments", ())) + [
        i for person in context.get("people", ()) for i in person["assignments"]]
    shown: dict[int, dict[str, Any]] = {}
    for start in range(0, len(ids), 5000):
        for row in session.execute(
                select(Assignment.id, Assignment.due_at, TrainingItem.code, TrainingItem.title,
                       TrainingItemVersion.lms_url)
                .join(TrainingItem, TrainingItem.id == Assignment.training_item_id)
                .join(TrainingItemVersion, TrainingItemVersion.id == Assignment.item_version_id)
                .where(Assignment.id.in_(ids[start:start + 5000]))):
            local = row.due_at.astimezone(zone) if row.due_at else None
            shown[row.id] = {"id": row.id, "code": row.code, "title": row.title, "launch_url": row.lms_url,
                             "due": f"{local:%Y-%m-%d %H:%M} ({zone.key})" if local else None,
                             "url": f"{base}/console/assignments/{row.id}"}
    result = dict(context)
    if "assignments" in result:
        result["assignments"] = _assignments(result["assignments"], shown)
    if "people" in result:
        result["people"] = [{**p, "url": f"{base}/console/people/{p['id']}",
                             "assignments": _assignments(p["assignments"], shown)}
                            for p in result["people"]]
    return result


def render(kind: str, context: dict[str, Any]) -> tuple[str, str]:
    """The plain-text and HTML bodies of a notice of ``kind``."""
    text = _env.get_template(f"{kind}.txt").render(**context)
    html = _env.get_template(f"{kind}.html").render(**context)
    return text, html
