"""Import of legacy training records (CSV/XLSX): completions from a spreadsheet or an old LMS.

Columns: ``person`` (employee number, e-mail or user name), ``item_code`` (document or course
code), ``version_label``, ``completed_at`` (in the past); optional ``source_system``, ``trainer``,
``evidence_ref``. A row is refused for an unknown person, an unknown item or version, a date
before the version existed (approved), a date in the future, or a duplicate (in the file or
already recorded). ``preview`` runs the whole import in a savepoint and rolls it back: what would
be created, the refused rows and the compliance picture before and after.

Imported completions are ordinary immutable completions with ``method = 'migrated'``: no learner
signature (never shown as e-signed), ``recorded_at = completed_at`` (the legacy system recorded
them then, so every as-of question counts them by the trained-rule), and ``evidence`` naming the
batch, the row, the source system, the trainer and the evidence reference. They are written
set-based (``qms.onboarding.legacy_write``: COPY on PostgreSQL); the batch carries the importer's
e-signature bound to the file's SHA-256 and is audited once (the per-row record is the completion
itself, which names its batch). Open assignments the history satisfies are closed (audited) and
the maintained state refreshed.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import case, func, select

from bridge.core import audit
from bridge.core.accounts import UserAccount
from bridge.core.errors import ValidationFailed
from bridge.core.people import Person
from bridge.core.uow import UnitOfWork
from qms.documents.models import TrainingItem, TrainingItemVersion
from qms.onboarding import files, legacy_write
from qms.roles import AUTHORS
from qms.training import state as compliance_state
from qms.training.models import Completion, ComplianceState

logger = logging.getLogger(__name__)

COLUMNS = ("person", "item_code", "version_label", "completed_at")
OPTIONAL = ("source_system", "trainer", "evidence_ref")
REFUSED_KEPT = 1000


@dataclass
class Checked:
    """The rows that would be imported and the refused ones."""

    rows: int
    good: list[dict[str, Any]] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)


class _Steps:
    """Report each finished step of an import (log and the caller's progress) with its duration."""

    def __init__(self, progress: legacy_write.Progress | None) -> None:
        self.progress = progress
        self.started = time.perf_counter()

    def done(self, count: int, what: str, *, tell: bool = True) -> None:
        now = time.perf_counter()
        logger.info("legacy import: %s %s in %.1f s", f"{count:,}", what, now - self.started)
        if tell and self.progress is not None:
            self.progress(count, count, what)
        self.started = now


class _RollBack(Exception):
    """Undo a preview's savepoint."""


def _people(session: Any) -> dict[str, dict[str, int]]:
    maps: dict[str, dict[str, int]] = {"employee_no": {}, "email": {}, "username": {}}
    for pid, number, email in session.execute(select(Person.id, Person.employee_no, Person.email)):
        if number:
            maps["employee_no"][number.strip().lower()] = pid
        if email:
            maps["email"][email.strip().lower()] = pid
    for username, pid in session.execute(select(UserAccount.username, UserAccount.person_id)):
        maps["username"][username.lower()] = pid
    return maps


def _cell(row: dict[str, Any], column: str) -> str:
    # A CSV cell is text already: strip it here, the general conversion only for XLSX values.
    value = row.get(column)
    return value.strip() if value.__class__ is str else files.text(row, column)


def _resolve(maps: dict[str, dict[str, int]], value: str) -> tuple[int | None, str | None]:
    key = value.strip().lower()
    found = {maps[kind][key] for kind in ("employee_no", "email", "username") if key in maps[kind]}
    if len(found) > 1:
        return None, f"{value!r} names more than one person (employee number, e-mail and user name differ)"
    if not found:
        return None, f"unknown person {value!r} (no employee number, e-mail or user name matches)"
    return found.pop(), None


def check_rows(uow: UnitOfWork, rows: list[dict[str, Any]], *, source_system: str | None = None) -> Checked:
    """Check every row; the good ones become completion values, the others refusals with reasons."""
    session = uow.session
    now = uow.clock.now()
    people = _people(session)
    items = dict(session.execute(select(TrainingItem.code, TrainingItem.id)).all())
    versions: dict[tuple[int, str], tuple[int, dt.datetime | None]] = {
        (iid, label): (vid, existed)
        for vid, iid, label, existed in session.execute(
            select(
                TrainingItemVersion.id,
                TrainingItemVersion.training_item_id,
                TrainingItemVersion.label,
                func.coalesce(TrainingItemVersion.approved_at, TrainingItemVersion.effective_since),
            )
        )
    }
    recorded = {
        (pid, vid, at.astimezone(dt.UTC) if at.tzinfo else at.replace(tzinfo=dt.UTC))
        for pid, vid, at in session.execute(
            select(Completion.person_id, Completion.item_version_id, Completion.completed_at)
        )
    }
    checked = Checked(rows=len(rows))
    seen: dict[tuple[int, int, dt.datetime], int] = {}
    resolved: dict[str, tuple[int | None, str | None]] = {}
    # (code, label) → (item id, version id, existed) or (column, reason) of the refusal: a file
    # names a few thousand versions in half a million rows.
    targets: dict[tuple[str, str], tuple[int, int, dt.datetime | None] | tuple[str, str]] = {}

    def target(code: str, label: str) -> tuple[int, int, dt.datetime | None] | tuple[str, str]:
        item_id = items.get(code)
        if item_id is None:
            return "item_code", f"unknown document or course {code!r}"
        version = versions.get((item_id, label))
        if version is None:
            return "version_label", f"{code} has no version {label!r}"
        version_id, existed = version
        if existed is not None and existed.tzinfo is None:
            existed = existed.replace(tzinfo=dt.UTC)
        return item_id, version_id, existed

    def refuse(number: int, row: dict[str, Any], column: str, reason: str) -> None:
        checked.refused.append(
            {
                "row": number,
                "field": column,
                "message": reason,
                "person": _cell(row, "person"),
                "item_code": _cell(row, "item_code"),
                "version_label": _cell(row, "version_label"),
            }
        )

    for number, row in enumerate(rows, start=2):
        who = _cell(row, "person")
        if who not in resolved:
            resolved[who] = _resolve(people, who)
        person_id, problem = resolved[who]
        if person_id is None:
            refuse(number, row, "person", problem or "unknown person")
            continue
        code, label = _cell(row, "item_code"), _cell(row, "version_label")
        found = targets.get((code, label))
        if found is None:
            found = targets[(code, label)] = target(code, label)
        if len(found) == 2:
            refuse(number, row, *found)
            continue
        item_id, version_id, existed = found
        try:
            completed = files.moment(row.get("completed_at"))
        except ValueError:
            refuse(number, row, "completed_at", f"{_cell(row, 'completed_at')!r} is not a date or a moment")
            continue
        if completed > now:
            refuse(number, row, "completed_at", "the completion date is in the future")
            continue
        if existed is None:
            never = f"{code} {label} was never approved: nobody can have trained on it"
            refuse(number, row, "version_label", never)
            continue
        if completed < existed:
            refuse(
                number,
                row,
                "completed_at",
                f"{completed:%Y-%m-%d} is before {code} {label} existed ({existed:%Y-%m-%d})",
            )
            continue
        key = (person_id, version_id, completed)
        if key in recorded:
            refuse(number, row, "completed_at", "a duplicate: this completion is already recorded")
            continue
        if key in seen:
            refuse(number, row, "completed_at", f"a duplicate of row {seen[key]}")
            continue
        seen[key] = number
        checked.good.append(
            {
                "person_id": person_id,
                "training_item_id": item_id,
                "item_version_id": version_id,
                "completed_at": completed,
                "row": number,
                "source_system": _cell(row, "source_system") or source_system or None,
                "trainer": _cell(row, "trainer") or None,
                "evidence_ref": _cell(row, "evidence_ref") or None,
            }
        )
    return checked


def compliance_picture(session: Any) -> dict[str, int]:
    """People with requirements and how many of them are qualified (every requirement compliant)."""
    met = func.sum(case((ComplianceState.status == "compliant", 1), else_=0))
    rows = session.execute(
        select(ComplianceState.person_id, func.count(), met).group_by(ComplianceState.person_id)
    ).all()
    return {
        "people": len(rows),
        "qualified": sum(1 for _pid, total, met in rows if int(met or 0) == total),
        "requirements": sum(total for _pid, total, _met in rows),
        "requirements_met": sum(int(met or 0) for _pid, _total, met in rows),
    }


def _apply(
    uow: UnitOfWork,
    checked: Checked,
    *,
    content: bytes,
    file_format: str,
    file_name: str | None,
    source_system: str | None,
    progress: legacy_write.Progress | None,
) -> Any:
    batch = files.new_batch(
        uow,
        kind="legacy_training",
        content=content,
        file_name=file_name,
        file_format=file_format,
        rows=checked.rows,
        source_system=source_system,
    )
    step = _Steps(progress)
    with uow.because(f"legacy training records imported (batch {batch.id}, sha256 {batch.sha256[:12]})"):
        first_id = legacy_write.write_completions(uow.session, batch.id, checked.good, progress)
        step.done(len(checked.good), "completions written", tell=False)  # told as they went
        closed = legacy_write.close_satisfied(uow, checked.good, first_id, batch.id)
        step.done(closed, "assignments closed")
    people = sorted({r["person_id"] for r in checked.good})
    compliance_state.refresh_states(uow.session, person_ids=people, now=uow.clock.now())
    step.done(len(people), "people's compliance state refreshed")
    batch.counts = {
        "completions": len(checked.good),
        "refused": len(checked.refused),
        "people": len(people),
        "assignments_closed": closed,
    }
    uow.session.flush()
    return batch


def import_history(
    uow: UnitOfWork,
    content: bytes,
    *,
    file_format: str,
    file_name: str | None = None,
    source_system: str | None = None,
    preview: bool = False,
    skip_refused: bool = False,
    username: str | None = None,
    password: str | None = None,
    progress: legacy_write.Progress | None = None,
) -> dict[str, Any]:
    """Preview or import a file of legacy completions.

    Without ``preview`` every row must be good (all or none) unless ``skip_refused``; the batch is
    signed by the importer (``username``/``password``, §11.200) and audited once.
    """
    uow.actor.require(*AUTHORS, action="importing legacy training records")
    if not preview:
        legacy_write.one_import_at_a_time(uow.session)
    step = _Steps(progress)
    rows = files.read_rows(content, file_format, COLUMNS)
    step.done(len(rows), "rows read")
    checked = check_rows(uow, rows, source_system=source_system)
    step.done(len(rows), f"rows checked ({len(checked.refused):,} refused)")
    before = compliance_picture(uow.session)
    refused = checked.refused
    result: dict[str, Any] = {
        "rows": checked.rows,
        "would_create": len(checked.good),
        "refused": refused[:REFUSED_KEPT],
        "refused_count": len(refused),
        "sha256": files.sha256(content),
    }
    if preview:
        try:
            with uow.savepoint():
                batch = _apply(
                    uow,
                    checked,
                    content=content,
                    file_format=file_format,
                    file_name=file_name,
                    source_system=source_system,
                    progress=progress,
                )
                result["assignments_closed"] = batch.counts["assignments_closed"]
                result["compliance"] = {"before": before, "after": compliance_picture(uow.session)}
                raise _RollBack
        except _RollBack:
            pass
        return {"preview": True, **result}
    if checked.refused and not skip_refused:
        files.refuse(
            [{k: r[k] for k in ("row", "field", "message")} for r in checked.refused], "training record"
        )
    if not username or not password:
        raise ValidationFailed(
            "importing legacy records needs the importer's e-signature: username and password",
            field="username",
            code="signature_required",
        )
    if not checked.good:
        files.refuse([{"row": 1, "field": "file", "message": "no row to import"}], "training record")
    batch = _apply(
        uow,
        checked,
        content=content,
        file_format=file_format,
        file_name=file_name,
        source_system=source_system,
        progress=progress,
    )
    step = _Steps(progress)
    files.sign_batch(uow, batch, username=username or "", password=password or "")
    audit.record(
        uow,
        "training.legacy_imported",
        "qms_import_batch",
        batch.id,
        new={
            "sha256": batch.sha256,
            "format": file_format,
            "source_system": source_system,
            **batch.counts,
            "first_refusals": refused[:20],
        },
    )
    step.done(1, "batch signed and audited")
    logger.info("legacy training batch %s: %s", batch.id, batch.counts)
    return {
        "preview": False,
        "batch_id": batch.id,
        "signature_id": batch.signature_id,
        **result,
        **batch.counts,
        "compliance": {"before": before, "after": compliance_picture(uow.session)},
    }
