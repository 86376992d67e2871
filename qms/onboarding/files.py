"""What the import files share: reading CSV/XLSX (through the matrix import's safe parsers),
moments in cells, the batch record, and refusing a file with every bad row named.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from bridge.core import signatures
from bridge.core.errors import ValidationFailed
from bridge.core.uow import UnitOfWork
from qms.onboarding.models import ImportBatch
from qms.training import matrix_files

FORMATS = ("csv", "xlsx")


def read_rows(content: bytes, file_format: str, columns: tuple[str, ...]) -> list[dict[str, Any]]:
    """The data rows of an uploaded CSV or XLSX file whose header names ``columns``."""
    if not content:
        raise ValidationFailed("the file is empty", field="file")
    if file_format == "xlsx":
        return matrix_files.parse_xlsx(content, columns)
    return matrix_files.parse_csv(content, columns)


def text(row: dict[str, Any], column: str) -> str:
    """A cell as trimmed text ('' when empty)."""
    value = row.get(column)
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def moment(value: Any) -> dt.datetime:
    """A cell holding a date or a date and time (UTC when no zone is given).

    Raises:
        ValueError: Not a date.
    """
    if isinstance(value, dt.datetime):
        found = value
    elif isinstance(value, dt.date):
        found = dt.datetime(value.year, value.month, value.day)
    else:
        cell = str(value or "").strip()
        if not cell:
            raise ValueError("empty")
        if cell.endswith(("Z", "z")):
            cell = cell[:-1] + "+00:00"
        found = dt.datetime.fromisoformat(cell)
    if found.tzinfo is None:
        found = found.replace(tzinfo=dt.UTC)
    return found.astimezone(dt.UTC)


def refuse(errors: list[dict[str, Any]], what: str) -> None:
    """Refuse the whole file naming every bad row (``row``, ``field``, ``message``); nothing is written."""
    if not errors:
        return
    first = errors[0]
    raise ValidationFailed(
        f"row {first['row']}: {first['message']} ({len(errors)} bad row(s); no {what} was imported)",
        field=f"rows[{first['row']}].{first['field']}",
        code="bad_import_rows",
        details={"errors": errors},
    )


def sha256(content: bytes) -> str:
    """The file's SHA-256 (hex)."""
    return hashlib.sha256(content).hexdigest()


def new_batch(
    uow: UnitOfWork,
    *,
    kind: str,
    content: bytes,
    file_name: str | None,
    file_format: str,
    rows: int,
    source_system: str | None = None,
) -> ImportBatch:
    """Record the batch of an imported file (audited)."""
    batch = ImportBatch(
        kind=kind,
        file_name=(file_name or "")[:255] or None,
        file_format=file_format,
        sha256=sha256(content),
        rows=rows,
        counts={},
        source_system=source_system,
        imported_by=uow.actor.username[:64],
        imported_at=uow.clock.now(),
    )
    uow.session.add(batch)
    uow.session.flush()
    return batch


def batch_content(batch: ImportBatch) -> dict[str, Any]:
    """What the importer's signature binds: the batch, its file's SHA-256 and what it created."""
    return {
        "batch": batch.id,
        "kind": batch.kind,
        "file_name": batch.file_name,
        "sha256": batch.sha256,
        "rows": batch.rows,
        "counts": batch.counts,
        "source_system": batch.source_system,
    }


def sign_batch(
    uow: UnitOfWork, batch: ImportBatch, *, username: str, password: str, meaning: str = "authored"
) -> None:
    """The importer's e-signature on the batch (re-entered password, bound to the file's SHA-256)."""
    signature = signatures.sign(
        uow,
        username=username,
        password=password,
        meaning=meaning,
        record_type="qms_import_batch",
        record_id=batch.id,
        content=batch_content(batch),
        lockout_threshold=uow.settings.lockout_threshold,
        comment=f"{batch.kind} imported from {batch.file_name or 'a file'} (sha256 {batch.sha256})",
    )
    batch.signature_id = signature.id
    uow.session.flush()
