"""The matrix as a file: CSV and XLSX export, and an import that applies all rows or none."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.core import audit
from bridge.core.errors import ValidationFailed
from bridge.core.uow import UnitOfWork
from qms.documents.models import TrainingItem
from qms.org import services as org
from qms.policy import QmsPolicy
from qms.roles import AUTHORS
from qms.training import compliance, matrix
from qms.training import scope as in_scope
from qms.training.models import SCOPE_KINDS, Requirement

COLUMNS = ("scope", "scope_code", "item_code", "retrain_interval_days", "grace_days")


XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def export_rows(session: Session, now: dt.datetime) -> list[dict[str, Any]]:
    """The matrix in force, one dict per requirement, ready for CSV or XLSX."""
    units = {kind: {u.id: u.code for u in org.list_units(session, kind)} for kind in SCOPE_KINDS}
    items = dict(session.execute(select(TrainingItem.id, TrainingItem.code)).all())
    rows = []
    for requirement in matrix.active_requirements(session, now):
        scope_id = getattr(requirement, f"{requirement.scope}_id")
        rows.append(
            {
                "scope": requirement.scope,
                "scope_code": units[requirement.scope][scope_id],
                "item_code": items[requirement.training_item_id],
                "retrain_interval_days": requirement.retrain_interval_days,
                "grace_days": requirement.grace_days,
            }
        )
    rows.sort(key=lambda r: (r["scope"], r["scope_code"], r["item_code"]))
    return rows


def export_csv(session: Session, now: dt.datetime) -> str:
    """The matrix as CSV text."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in export_rows(session, now):
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return out.getvalue()


def export_xlsx(session: Session, now: dt.datetime) -> bytes:
    """The matrix as an XLSX workbook."""
    # openpyxl costs about 6 MB a process: loaded by the one request that needs it, not by serve.
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "matrix"
    sheet.append(list(COLUMNS))
    for row in export_rows(session, now):
        sheet.append([row[c] for c in COLUMNS])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def parse_csv(content: bytes, columns: tuple[str, ...] = COLUMNS) -> list[dict[str, Any]]:
    """Rows of a CSV file whose header names (at least) ``columns`` (the matrix's by default)."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationFailed("the CSV file is not UTF-8 text", field="file") from exc
    reader = csv.DictReader(io.StringIO(text))
    _check_header(reader.fieldnames or [], columns)
    return [dict(row) for row in reader]


def parse_xlsx(content: bytes, columns: tuple[str, ...] = COLUMNS) -> list[dict[str, Any]]:
    """Rows of the first sheet of an XLSX workbook whose first row names (at least) ``columns``."""
    from openpyxl import load_workbook  # lazily, as in export_xlsx: about 6 MB a process

    try:
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a file that is not a workbook
        raise ValidationFailed("the file is not a readable XLSX workbook", field="file") from exc
    sheet = workbook.worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    workbook.close()
    if not rows:
        raise ValidationFailed("the workbook is empty", field="file")
    header = [str(h).strip() if h is not None else "" for h in rows[0]]
    _check_header(header, columns)
    return [
        {h: ("" if v is None else v) for h, v in zip(header, row, strict=False) if h}
        for row in rows[1:]
        if any(v not in (None, "") for v in row)
    ]


def _check_header(header: list[str], columns: tuple[str, ...] = COLUMNS) -> None:
    missing = [c for c in columns if c not in header]
    if missing:
        raise ValidationFailed(
            f"the header lacks the column(s) {', '.join(missing)}; expected {', '.join(columns)}",
            field="file",
            code="bad_header",
        )


def _int_or_none(value: Any) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value).strip()
    if not text.lstrip("-").isdigit():
        raise ValueError(text)
    return int(text)


@dataclass
class ImportOutcome:
    """What an import did."""

    rows: int
    created: int
    updated: int
    unchanged: int
    retired: int
    assignments_created: int
    sha256: str


def import_matrix(
    uow: UnitOfWork,
    rows: list[dict[str, Any]],
    *,
    content: bytes,
    file_format: str,
    replace: bool = False,
    policy: QmsPolicy | None = None,
) -> ImportOutcome:
    """Import matrix rows: every row is checked first; any bad row refuses the whole file.

    Data rows are numbered from 2 (the header is row 1), as a spreadsheet shows them.
    With ``replace`` the requirements in force that the file does not list are retired.
    """
    uow.actor.require(*AUTHORS, action="importing the training matrix")
    session = uow.session
    units = {kind: {u.code: u for u in org.list_units(session, kind)} for kind in SCOPE_KINDS}
    items = {i.code: i for i in session.scalars(select(TrainingItem))}
    errors: list[dict[str, Any]] = []
    parsed: list[tuple[str, int, int, int | None, int]] = []
    seen: dict[tuple[str, int, int], int] = {}
    if not rows:
        raise ValidationFailed("the file has no data rows", field="file", code="empty_matrix")
    for number, row in enumerate(rows, start=2):

        def fail(field: str, message: str, number: int = number) -> None:
            errors.append({"row": number, "field": field, "message": message})

        scope = str(row.get("scope") or "").strip()
        code = str(row.get("scope_code") or "").strip()
        item_code = str(row.get("item_code") or "").strip()
        if scope not in SCOPE_KINDS:
            fail("scope", f"scope {scope!r} is not one of {', '.join(SCOPE_KINDS)}")
            continue
        unit = units[scope].get(code)
        if unit is None:
            fail("scope_code", f"no {scope.replace('_', ' ')} has the code {code!r}")
        item = items.get(item_code)
        if item is None:
            fail("item_code", f"no training item has the code {item_code!r}")
        try:
            interval = _int_or_none(row.get("retrain_interval_days"))
        except ValueError:
            fail("retrain_interval_days", "the retraining interval is a whole number of days")
            continue
        try:
            grace = _int_or_none(row.get("grace_days")) or 0
        except ValueError:
            fail("grace_days", "the grace period is a whole number of days")
            continue
        try:
            matrix.check_interval(interval, grace)
        except ValidationFailed as exc:
            fail(exc.field or "retrain_interval_days", exc.message)
            continue
        if unit is None or item is None:
            continue
        key = (scope, unit.id, item.id)
        if key in seen:
            fail("item_code", f"the same requirement is already on row {seen[key]}")
            continue
        seen[key] = number
        parsed.append((scope, unit.id, item.id, interval, grace))
    if errors:
        first = errors[0]
        raise ValidationFailed(
            f"row {first['row']}: {first['message']} ({len(errors)} bad row(s); nothing was imported)",
            field=f"rows[{first['row']}].{first['field']}",
            code="bad_matrix_rows",
            details={"errors": errors},
        )
    now = uow.clock.now()
    created = updated = unchanged = retired = 0
    touched: list[Requirement] = []
    wanted_ids: set[int] = set()
    digest = hashlib.sha256(content).hexdigest()
    with uow.because(f"training matrix imported ({file_format}, sha256 {digest[:12]})"):
        for scope, scope_id, item_id, interval, grace in parsed:
            existing = matrix.duplicate_of(session, scope, scope_id, item_id)
            if existing is None:
                requirement = Requirement(
                    scope=scope,
                    training_item_id=item_id,
                    valid_from=now,
                    retrain_interval_days=interval,
                    grace_days=grace,
                    **{f"{scope}_id": scope_id},
                )
                session.add(requirement)
                session.flush()
                touched.append(requirement)
                wanted_ids.add(requirement.id)
                created += 1
            else:
                wanted_ids.add(existing.id)
                if existing.retrain_interval_days != interval or existing.grace_days != grace:
                    existing.retrain_interval_days = interval
                    existing.grace_days = grace
                    touched.append(existing)
                    updated += 1
                else:
                    unchanged += 1
        if replace:
            for requirement in matrix.active_requirements(session, now):
                if requirement.id not in wanted_ids:
                    requirement.valid_to = now
                    touched.append(requirement)
                    retired += 1
    people: set[int] = set()
    for requirement in touched:
        people.update(in_scope.people_in_scope(session, requirement, now))
    assignments = compliance.sync_people(
        uow,
        sorted(people),
        reason="matrix",
        source_type="matrix_import",
        source_id=None,
        now=now,
        policy=policy,
        requirement_ids=[r.id for r in touched],
    )
    audit.record(
        uow,
        "matrix.imported",
        "qms_matrix",
        "matrix",
        new={
            "format": file_format,
            "sha256": digest,
            "rows": len(parsed),
            "created": created,
            "updated": updated,
            "unchanged": unchanged,
            "retired": retired,
            "assignments_created": len(assignments),
            "replace": replace,
        },
    )
    return ImportOutcome(len(parsed), created, updated, unchanged, retired, len(assignments), digest)
