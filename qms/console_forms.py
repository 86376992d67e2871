"""Reading console form fields: dates, and people, documents, items and job functions named by
their codes (a plant has thousands of them: a form takes codes, not a select of every record).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from bridge.core.accounts import UserAccount
from bridge.core.errors import ValidationFailed
from bridge.core.people import Person
from qms.documents.models import Document, TrainingItem
from qms.org.models import JobFunction

_SPLIT = re.compile(r"[\s,;]+")


def parse_datetime(value: str | None, field: str, *, required: bool = True) -> dt.datetime | None:
    """A date or date-time from a form, as UTC (a bare date means its start, 00:00 UTC)."""
    text = (value or "").strip()
    if not text:
        if required:
            raise ValidationFailed(f"{field.replace('_', ' ')} is required", field=field)
        return None
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValidationFailed(f"{field.replace('_', ' ')} is not a date (YYYY-MM-DD)", field=field) from None
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)


def tokens(value: str | None) -> list[str]:
    """The words of a list typed in a form (commas, semicolons, spaces or new lines between them)."""
    return [t for t in _SPLIT.split(value or "") if t]


def _resolve(
    session: Session, model: Any, column: Any, value: str | None, field: str, what: str
) -> list[int]:
    names = tokens(value)
    if not names:
        return []
    ids = [int(n[1:]) for n in names if n.startswith("#") and n[1:].isdigit()]
    codes = [n for n in names if not (n.startswith("#") and n[1:].isdigit())]
    found = dict(
        session.execute(
            select(column, model.id).where(or_(column.in_(codes or [""]), model.id.in_(ids or [0])))
        ).all()
    )
    by_id = set(found.values())
    result: list[int] = []
    missing = []
    for name in names:
        key = int(name[1:]) if name.startswith("#") and name[1:].isdigit() else None
        if key is not None and key in by_id:
            result.append(key)
        elif name in found:
            result.append(found[name])
        else:
            missing.append(name)
    if missing:
        raise ValidationFailed(f"unknown {what}: {', '.join(missing[:20])}", field=field)
    return list(dict.fromkeys(result))


def people(session: Session, value: str | None, field: str = "people") -> list[int]:
    """People named by employee number, user name (or ``#id``)."""
    names = tokens(value)
    users = dict(
        session.execute(
            select(UserAccount.username, UserAccount.person_id).where(
                UserAccount.username.in_([n.lower() for n in names] or [""])
            )
        ).all()
    )
    others = " ".join(n for n in names if n.lower() not in users)
    found = _resolve(session, Person, Person.employee_no, others, field, "employee number(s) or user name(s)")
    by_user = iter(found)
    result = [users[n.lower()] if n.lower() in users else next(by_user, None) for n in names]
    return list(dict.fromkeys(r for r in result if r is not None))


def documents(session: Session, value: str | None, field: str = "documents") -> list[int]:
    """Documents named by code (or ``#id``)."""
    return _resolve(session, Document, Document.code, value, field, "document code(s)")


def items(session: Session, value: str | None, field: str = "items") -> list[int]:
    """Training items named by code (or ``#id``)."""
    return _resolve(session, TrainingItem, TrainingItem.code, value, field, "training item code(s)")


def job_functions(session: Session, value: str | None, field: str = "job_functions") -> list[int]:
    """Job functions named by code (or ``#id``)."""
    return _resolve(session, JobFunction, JobFunction.code, value, field, "job function code(s)")


def int_arg(value: str | None) -> int | None:
    """An integer query parameter, or None when absent or not a number."""
    text = (value or "").strip()
    return int(text) if text.isdigit() else None


def safe_back(value: str | None, default: str) -> str:
    """A same-site path to return to (a form's ``back`` field), else ``default``."""
    text = (value or "").strip()
    if text.startswith("/console/") and not text.startswith("//") and "\\" not in text:
        return text
    return default


def checked_upload(
    files: Any, form: Any, *, max_bytes: int, too_large: str, field: str = "file"
) -> tuple[bytes, str]:
    """The file chosen in ``files[field]``, or the checked file a confirmation form carries back
    (``content`` in base64 and ``filename``): its bytes and name, refused when missing, unreadable
    or over ``max_bytes`` (with the message ``too_large``).
    """
    upload = files.get(field)
    if upload is not None and upload.filename:
        content, name = upload.read(max_bytes + 1), upload.filename
    else:
        try:
            content = base64.b64decode(form.get("content", ""), validate=True)
        except (binascii.Error, ValueError):
            raise ValidationFailed("the file could not be read; choose it again", field=field) from None
        name = form.get("filename", "")
    if not content:
        raise ValidationFailed("choose a CSV or XLSX file", field=field)
    if len(content) > max_bytes:
        raise ValidationFailed(too_large, field=field)
    return content, name
